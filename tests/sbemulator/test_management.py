"""The `$management` node answering encoded requests, without a network: status codes,
error conditions and bodies as the SDK reads them."""

from __future__ import annotations

import uuid
from typing import Any

from proton import Message, timestamp, ulong

from sbemulator.amqp.control_messages import decode_request
from sbemulator.amqp.management import ManagementNode
from sbemulator.broker.message import Envelope, MessageProperties
from sbemulator.broker.message_queue import Outcome
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


def _sessions(node: ManagementNode, body: dict[str, Any], now: float = 9.0) -> list[str]:
    reply = _call(node, "s", "com.microsoft:get-message-sessions", body, now=now)
    if reply.properties["statusCode"] == 204:
        return []
    assert reply.properties["statusCode"] == 200
    return list(reply.body["sessions-ids"])


def test_message_sessions_listing_modes() -> None:
    broker = Broker(CONFIG)
    node = ManagementNode(broker)
    s = broker.receiver_queue("s")
    broker.send(
        "s",
        [
            Envelope(MessageProperties(message_id=m, session_id=sid))
            for m, sid in (("1", "active"), ("2", "deferred"), ("3", "stated"))
        ],
        0.0,
    )
    owner = object()
    session = s.accept_session("deferred", owner, 1.0)
    msg = s.lock_next(owner, 1.0, session)
    assert msg is not None and msg.lock_token is not None
    s.settle(msg.lock_token, Outcome.DEFER, 1.0, owner=owner)
    s.release_session(session, owner, 1.0)
    s.accept_session("stated", owner, 2.0)
    s.set_session_state("stated", b"x", owner, 2.0)
    s.accept_session("later", owner, 5.0)
    s.set_session_state("later", b"y", owner, 5.0)

    # DateTime.MaxValue (what the SDK sends without a time): active messages or state.
    everything = {"last-updated-time": timestamp(253402300800000), "skip": 0, "top": 100}
    assert _sessions(node, everything) == ["active", "stated", "later"]
    assert _sessions(node, {"skip": 0, "top": 100}) == ["active", "stated", "later"]
    # An earlier time: sessions whose state was set after it.
    assert _sessions(node, {"last-updated-time": timestamp(3000), "skip": 0}) == ["later"]
    assert _sessions(node, {"last-updated-time": timestamp(0)}) == ["stated", "later"]
    # Paging: skip and top; an empty page is 204.
    assert _sessions(node, {"skip": 1, "top": 1}) == ["stated"]
    assert _sessions(node, {"skip": 3, "top": 1}) == []
