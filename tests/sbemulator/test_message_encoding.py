"""Messages on the wire (the data plane): parsing what senders send (encoded here by
proton, an independent encoder), batch envelopes, rendering for delivery byte for byte,
and the value codec underneath."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from proton import (
    UNDESCRIBED,
    Array,
    Data,
    Described,
    Message,
    char,
    float32,
    int32,
    short,
    symbol,
    timestamp,
    ubyte,
    uint,
    ulong,
)

from sbemulator.amqp import codec
from sbemulator.amqp.codec import CodecError, decode, skip
from sbemulator.amqp.message_parsing import parse_envelope, sections, split_batch
from sbemulator.amqp.message_rendering import render
from sbemulator.broker.message import MessageState, StoredMessage


def _message(**kwargs: object) -> bytes:
    return bytes(Message(**kwargs).encode())


def _encoded(value: Any) -> bytes:
    """`value` encoded by proton."""
    data = Data()
    data.put_object(value)
    return bytes(data.encode())


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


def test_render_copies_the_senders_sections_byte_for_byte() -> None:
    raw = _message(
        id="m-1",
        subject="s",
        body={"k": [1, 2.5, None]},
        properties={"k": "v", "n": 3},
        annotations={symbol("x-opt-partition-key"): "pk"},
    )
    env = parse_envelope(raw)
    out = render(StoredMessage(7, env, 1.0))
    properties_start = env.wire.properties[0]
    # Properties, application properties and body follow the rewritten header and
    # annotations unchanged.
    assert out.endswith(raw[properties_start:])
    assert raw[properties_start:] not in out[: len(out) - len(raw) + properties_start]


def test_batch_envelope_is_split_and_plain_messages_are_not() -> None:
    inner = [_message(id=f"m{i}", body=f"b{i}") for i in range(3)]
    envelope = b"\x00\x53\x73" + _encoded(["m0"])  # properties: the first message's id
    for part in inner:
        envelope += b"\x00\x53\x75" + _encoded(part)
    assert split_batch(envelope) == inner
    assert split_batch(_message(body=b"\x00\x53\x70 not a message")) is None
    assert split_batch(_message(body="text")) is None
    assert split_batch(inner[0]) is None


def test_malformed_input_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        sections(b"\x00\x53\x75\xa0\x10short")
    with pytest.raises(CodecError):
        sections(b"plain bytes")
    for bad in (b"\xa1\x05ab", b"\x98\x01\x02", b"\xa1\x01\xff", b"\x73\xff\xff\xff\xff", b"\x01"):
        with pytest.raises(CodecError):
            decode(bad)


UUID = uuid.UUID(int=7)
DECODED_AS = [
    # (value given to proton's encoder, what the codec decodes it to)
    (None, None),
    (True, True),
    (False, False),
    (7, 7),
    (-3, -3),
    (2**40, 2**40),
    (int32(-5), -5),
    (short(-2), -2),
    (ubyte(200), 200),
    (uint(0), 0),
    (uint(70_000), 70_000),
    (ulong(0), 0),
    (ulong(2**63), 2**63),
    (float32(2.5), 2.5),
    (2.5, 2.5),
    (char("é"), "é"),
    ("text", "text"),
    ("x" * 300, "x" * 300),  # 32-bit size
    (b"bin", b"bin"),
    (UUID, UUID),
    (symbol("sym"), codec.Symbol("sym")),
    (timestamp(123), codec.Timestamp(123)),
    ([], []),
    ([1, "a", [None]], [1, "a", [None]]),
    ({"k": [True, None]}, {"k": [True, None]}),
    (list(range(300)), list(range(300))),  # 32-bit size and count
    ({f"k{i}": "x" * 10 for i in range(50)}, {f"k{i}": "x" * 10 for i in range(50)}),
    (Array(UNDESCRIBED, Data.TIMESTAMP, timestamp(1), timestamp(2)), [1, 2]),
    (Array(UNDESCRIBED, Data.UUID, *[UUID] * 20), [UUID] * 20),  # 32-bit array
    (Described(symbol("d"), "v"), codec.Described("d", "v")),
]


@pytest.mark.parametrize("value,expected", DECODED_AS, ids=lambda v: type(v).__name__)
def test_codec_decodes_and_skips_what_proton_encodes(value: Any, expected: Any) -> None:
    encoded = _encoded(value)
    decoded, end = decode(encoded)
    assert decoded == expected
    assert type(decoded) is type(expected)
    assert end == skip(encoded, 0) == len(encoded)


def test_codec_writes_what_proton_reads() -> None:
    # The few values a delivery writes, read back by proton.
    for raw, expected in [
        (codec.encode_bool(True), True),
        (codec.encode_uint(0), 0),
        (codec.encode_uint(255), 255),
        (codec.encode_uint(2**32 - 1), 2**32 - 1),
        (codec.encode_string("é" * 200), "é" * 200),  # 400 bytes: 32-bit size
        (codec.encode_symbol("x-opt-a"), symbol("x-opt-a")),
        (codec.compound(0xC0, codec.encode_string("a") + codec.NULL, 2), ["a", None]),
        (codec.compound(0xC1, codec.encode_symbol("k") + codec.FALSE, 2), {"k": False}),
        (codec.compound(0xC0, codec.encode_uint(1) * 300, 300), [1] * 300),
    ]:
        data = Data()
        assert data.decode(raw) == len(raw)
        data.rewind()
        data.next()
        assert data.get_object() == expected
