"""Requests to the `$cbs` and `$management` nodes and their replies, decoded and encoded
with proton: the values come out as plain Python data that outlive the decoder, and the
replies carry the AMQP types the SDK checks."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest
from proton import UNDESCRIBED, Array, Data, Message, int32, symbol, timestamp, ulong

from sbemulator.amqp.codec import CodecError
from sbemulator.amqp.control_messages import (
    amqp_array,
    decode_request,
    encode_response,
    status_properties,
)


def _decoded(raw: bytes) -> Message:
    message = Message()
    message.decode(raw)
    return message


def test_request_fields_as_the_sdk_sends_them() -> None:
    token = uuid.UUID(int=1)
    request = Message(
        id=ulong(9),
        reply_to="q/$management",
        properties={"operation": "com.microsoft:renew-lock", "associated-link-name": "r1"},
        body={"lock-tokens": Array(UNDESCRIBED, Data.UUID, token)},
    )
    decoded = decode_request(bytes(request.encode()))
    assert (decoded.message_id, decoded.reply_to) == (9, "q/$management")
    assert decoded.prop("operation") == "com.microsoft:renew-lock"
    assert decoded.prop("associated-link-name") == "r1"
    assert decoded.prop("missing") is None
    assert decoded.body == {"lock-tokens": [token]}  # the array as a list


@pytest.mark.parametrize("message_id", [ulong(3), uuid.UUID(int=2), "id-1", b"\x01\x02"])
def test_message_id_goes_back_as_correlation_id(message_id: Any) -> None:
    decoded = decode_request(bytes(Message(id=message_id, body="token").encode()))
    assert decoded.message_id == message_id
    reply = _decoded(encode_response(decoded.message_id, status_properties(200, "OK")))
    assert reply.correlation_id == message_id  # proton reads a ulong back as an int


def test_binary_values_outlive_the_decoder() -> None:
    # proton returns binaries as views into its buffer; what the node keeps (a scheduled
    # message, a session state) must be a copy.
    payload = bytes(range(256)) * 4
    raw = bytes(
        Message(id="m", body={"messages": [{"message": payload}], "session-state": b"st"}).encode()
    )
    body = decode_request(raw).body
    for _ in range(3):  # reuse the freed memory
        gc.collect()
        decode_request(bytes(Message(id="n", body={"x": b"\xff" * 1024}).encode()))
    assert body["messages"][0]["message"] == payload
    assert type(body["messages"][0]["message"]) is bytes
    assert body["session-state"] == b"st"


@pytest.mark.parametrize("raw", [b"\x00\x53\x77\xa1\x05ab", b"plain bytes", b"\xa1\x03abc"])
def test_a_request_that_is_not_a_message_is_a_codec_error(raw: bytes) -> None:
    # proton alone would decode each of these as an empty message.
    with pytest.raises(CodecError):
        decode_request(raw)


def test_reply_types_the_sdk_checks() -> None:
    raw = encode_response(
        ulong(9),
        status_properties(410, "gone", condition="com.microsoft:message-lock-lost"),
        {
            "expirations": amqp_array(Data.TIMESTAMP, [timestamp(5)]),
            "sequence-numbers": amqp_array(Data.LONG, [1, 2]),
        },
    )
    reply = _decoded(raw)
    assert reply.properties["statusCode"] == 410
    assert type(reply.properties["statusCode"]) is int32
    assert reply.properties["statusDescription"] == "gone"
    assert reply.properties["errorCondition"] == "com.microsoft:message-lock-lost"
    assert type(reply.properties["errorCondition"]) is symbol
    assert reply.body["expirations"].type == Data.TIMESTAMP
    assert list(reply.body["expirations"]) == [5]
    assert reply.body["sequence-numbers"].type == Data.LONG
    assert list(reply.body["sequence-numbers"]) == [1, 2]


def test_cbs_status_is_hyphenated_and_a_reply_may_have_no_body() -> None:
    reply = _decoded(encode_response("id", status_properties(200, "OK", hyphenated=True)))
    assert reply.properties == {"status-code": 200, "status-description": "OK"}
    assert reply.body is None
