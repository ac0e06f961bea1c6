"""Messages on the wire: parsing what senders send (encoded here by proton, an independent
encoder), batch envelopes, rendering for delivery, and management request/response."""

from __future__ import annotations

import uuid

import pytest
from proton import Message, symbol, timestamp, ulong

from sbemulator.amqp.codec import Array, CodecError, Timestamp, decode, encode
from sbemulator.amqp.control_messages import decode_request, encode_response, status_properties
from sbemulator.amqp.message_parsing import parse_envelope, render, sections, split_batch
from sbemulator.broker.message import MessageState, StoredMessage


def _message(**kwargs: object) -> bytes:
    return bytes(Message(**kwargs).encode())


def test_parse_reads_properties_header_and_annotations() -> None:
    raw = _message(
        id="m-1",
        correlation_id="c",
        subject="s",
        content_type="text/plain",
        reply_to="r",
        address="to-x",
        group_id="sess",
        reply_to_group_id="rs",
        ttl=2.5,
        durable=True,
        priority=7,
        body="hello",
        properties={"n": 5, "t": "x", "f": 1.5},
        annotations={
            symbol("x-opt-scheduled-enqueue-time"): timestamp(1_700_000_000_000),
            symbol("x-opt-partition-key"): "pk",
            symbol("x-opt-sequence-number"): 99,
        },
    )
    env = parse_envelope(raw)
    p = env.properties
    assert (
        p.message_id,
        p.correlation_id,
        p.subject,
        p.content_type,
        p.reply_to,
        p.to,
        p.session_id,
        p.reply_to_session_id,
        p.partition_key,
    ) == ("m-1", "c", "s", "text/plain", "r", "to-x", "sess", "rs", "pk")
    assert p.time_to_live == 2.5
    assert p.scheduled_enqueue_time == 1_700_000_000.0
    assert p.user == {"n": 5, "t": "x", "f": 1.5}
    assert env.wire.durable is True and env.wire.priority == 7


def test_render_adds_broker_state_and_keeps_the_rest() -> None:
    raw = _message(
        id=uuid.UUID(int=5),
        body=b"payload",
        properties={"k": "v"},
        annotations={symbol("x-opt-sequence-number"): 99, symbol("x-opt-partition-key"): "pk"},
    )
    msg = StoredMessage(
        42, parse_envelope(raw), enqueued_at=1000.0, expires_at=1060.0, delivery_count=3
    )
    out = Message()
    out.decode(render(msg, locked_until=1030.5))
    assert out.body == b"payload" and out.id == uuid.UUID(int=5)
    assert out.properties == {"k": "v"}
    assert out.delivery_count == 3 and out.ttl == 60.0
    ann = out.annotations
    assert ann["x-opt-sequence-number"] == 42  # the sender's value is replaced
    assert ann["x-opt-enqueued-time"] == 1_000_000
    assert ann["x-opt-locked-until"] == 1_030_500
    assert ann["x-opt-partition-key"] == "pk"
    assert "x-opt-message-state" not in ann


def test_render_dead_letter_properties_and_state() -> None:
    raw = _message(body="x", properties={"DeadLetterReason": "old", "keep": 1})
    msg = StoredMessage(
        1,
        parse_envelope(raw),
        0.0,
        state=MessageState.DEFERRED,
        dead_letter_reason="why",
        dead_letter_description="details",
        dead_letter_source="q",
    )
    out = Message()
    out.decode(render(msg))
    assert out.properties == {
        "keep": 1,
        "DeadLetterReason": "why",
        "DeadLetterErrorDescription": "details",
    }
    assert out.annotations["x-opt-message-state"] == 1
    assert out.annotations["x-opt-deadletter-source"] == "q"


def test_batch_envelope_is_split_and_plain_messages_are_not() -> None:
    inner = [_message(id=f"m{i}", body=f"b{i}") for i in range(3)]
    envelope = b"\x00\x53\x73" + encode(["m0"])  # properties: the first message's id
    for part in inner:
        envelope += b"\x00\x53\x75" + encode(part)
    assert split_batch(envelope) == inner
    assert split_batch(_message(body=b"\x00\x53\x70 not a message")) is None
    assert split_batch(_message(body="text")) is None
    assert split_batch(inner[0]) is None


def test_malformed_input_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        sections(b"\x00\x53\x75\xa0\x10short")
    with pytest.raises(CodecError):
        sections(b"plain bytes")
    with pytest.raises(CodecError):
        decode(b"\xa1\x05ab")


def test_codec_round_trips_values() -> None:
    values = [
        None,
        True,
        7,
        -3,
        2.5,
        "text",
        b"bin",
        uuid.uuid4(),
        Timestamp(123),
        [1, "a"],
        {"k": [True, None]},
        list(range(300)),
        {f"k{i}": "x" * 10 for i in range(50)},
    ]  # 32-bit sizes
    for value in values:
        assert decode(encode(value))[0] == value
    assert decode(encode(Array(0x83, (Timestamp(1), Timestamp(2)))))[0] == [1, 2]


def test_management_request_and_response() -> None:
    request = Message(
        id=ulong(9),
        reply_to="q/$management",
        properties={"operation": "com.microsoft:renew-lock"},
        body={"lock-tokens": [uuid.UUID(int=1)]},
    )
    decoded = decode_request(bytes(request.encode()))
    assert (decoded.message_id, decoded.reply_to) == (9, "q/$management")
    assert decoded.prop("operation") == "com.microsoft:renew-lock"
    assert decoded.body == {"lock-tokens": [uuid.UUID(int=1)]}

    reply = Message()
    reply.decode(
        encode_response(
            9,
            status_properties(410, "gone", condition="com.microsoft:message-lock-lost"),
            {"expirations": Array(0x83, (Timestamp(5),))},
        )
    )
    assert reply.correlation_id == 9
    assert reply.properties["statusCode"] == 410
    assert reply.properties["errorCondition"] == "com.microsoft:message-lock-lost"
    assert list(reply.body["expirations"]) == [5]
