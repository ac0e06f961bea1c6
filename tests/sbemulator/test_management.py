"""The `$management` node answering encoded requests, without a network: status codes,
error conditions and bodies as the SDK reads them."""

from __future__ import annotations

import uuid
from typing import Any

from proton import Message, ulong

from sbemulator.amqp.control_messages import decode_request
from sbemulator.amqp.management import ManagementNode
from sbemulator.broker.message import Envelope, MessageProperties
from sbemulator.broker.namespace import Broker
from sbemulator.config.config_json import parse_config

CONFIG = parse_config(
    {
        "UserConfig": {
            "Namespaces": [
                {
                    "Name": "ns",
                    "Queues": [
                        {"Name": "q", "Properties": {"LockDuration": "PT10S"}},
                        {"Name": "s", "Properties": {"RequiresSession": True}},
                    ],
                }
            ]
        }
    },
    "test",
)
OWNER = object()


def _call(
    node: ManagementNode,
    path: str,
    operation: str,
    body: dict[str, Any],
    owner: object | None = None,
    now: float = 1.0,
) -> Message:
    request = Message(
        id=ulong(7), reply_to=f"{path}/$management", body=body, properties={"operation": operation}
    )
    raw = node.handle(path, decode_request(bytes(request.encode())), owner, now)
    reply = Message()
    reply.decode(raw)
    assert reply.correlation_id == 7
    return reply


def test_renew_lock_and_lock_lost() -> None:
    broker = Broker(CONFIG)
    node = ManagementNode(broker)
    broker.send("q", [Envelope(MessageProperties(message_id="a"))], 0.0)
    msg = broker.receiver_queue("q").lock_next(OWNER, 0.0)
    reply = _call(node, "q", "com.microsoft:renew-lock", {"lock-tokens": [msg.lock_token]}, now=5.0)
    assert reply.properties["statusCode"] == 200
    assert list(reply.body["expirations"]) == [15_000]
    reply = _call(node, "q", "com.microsoft:renew-lock", {"lock-tokens": [uuid.uuid4()]})
    assert reply.properties["statusCode"] == 410
    assert reply.properties["errorCondition"] == "com.microsoft:message-lock-lost"


def test_message_sessions_and_errors() -> None:
    broker = Broker(CONFIG)
    node = ManagementNode(broker)
    broker.send(
        "s",
        [
            Envelope(MessageProperties(message_id=str(i), session_id=sid))
            for i, sid in enumerate(["A", "B", "A"])
        ],
        0.0,
    )
    reply = _call(node, "s", "com.microsoft:get-message-sessions", {"skip": 0, "top": 10})
    assert reply.properties["statusCode"] == 200
    assert list(reply.body["sessions-ids"]) == ["A", "B"]
    reply = _call(node, "s", "com.microsoft:get-session-state", {"session-id": "A"})
    assert (reply.properties["statusCode"], reply.properties["errorCondition"]) == (
        410,
        "com.microsoft:session-lock-lost",
    )  # not accepted by anyone
    reply = _call(node, "nope", "com.microsoft:peek-message", {"from-sequence-number": 1})
    assert (reply.properties["statusCode"], reply.properties["errorCondition"]) == (
        404,
        "amqp:not-found",
    )
    reply = _call(node, "q", "com.microsoft:add-rule", {})
    assert (reply.properties["statusCode"], reply.properties["errorCondition"]) == (
        501,
        "amqp:not-implemented",
    )
    reply = _call(
        node, "q", "com.microsoft:peek-message", {"from-sequence-number": 1, "message-count": 5}
    )
    assert reply.properties["statusCode"] == 204  # nothing to peek
