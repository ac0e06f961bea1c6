"""The incoming-frame filter: transfers that reuse a delivery-id are renumbered, frames on
an ended session are dropped, and everything else passes through untouched, however the
bytes are split."""

from __future__ import annotations

import struct

import pytest

from sbemulator.amqp.codec import compound, decode, encode_bool, encode_uint
from sbemulator.amqp.frame_filter import DeliveryIdRepair

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
BEGIN, FLOW, TRANSFER, DETACH, END = 0x11, 0x13, 0x14, 0x16, 0x17


def frame(channel: int, code: int, fields: list[bytes], payload: bytes = b"") -> bytes:
    body = b"\x00\x53" + bytes((code,)) + compound(0xC0, b"".join(fields), len(fields))
    body += payload
    return struct.pack(">IBBH", 8 + len(body), 2, 0, channel) + body


def transfer(
    channel: int, delivery_id: int | None, *, handle: int = 1, more: bool = False, payload: bytes
) -> bytes:
    fields = [
        encode_uint(handle),
        b"\x40" if delivery_id is None else encode_uint(delivery_id),
        b"\xa0\x04" + b"tag!",
        encode_uint(0),
        encode_bool(False),
        encode_bool(more),
    ]
    return frame(channel, TRANSFER, fields, payload)


def frames(data: bytes) -> list[tuple[int, int, list[object], bytes]]:
    """(channel, performative, fields, payload) of each AMQP frame in `data`."""
    out = []
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] == b"AMQP":
            pos += 8
            continue
        size, doff, _, channel = struct.unpack_from(">IBBH", data, pos)
        body = pos + doff * 4
        value, after = decode(data, body)
        out.append((channel, value.descriptor, value.value, data[after : pos + size]))
        pos += size
    return out


def delivery_ids(data: bytes) -> list[object]:
    return [fields[1] for _, code, fields, _ in frames(data) if code == TRANSFER]


def fed(chunks: list[bytes]) -> bytes:
    repair = DeliveryIdRepair()
    return b"".join(repair.feed(c) for c in chunks)


STREAM = (
    AMQP_HEADER
    + frame(0, BEGIN, [b"\x40", encode_uint(0)])
    + transfer(0, 0, payload=b"first")
    + transfer(0, 1, payload=b"second")
    + transfer(0, 1, payload=b"third, same id")  # the aio SDK's concurrent sends
    + frame(0, FLOW, [encode_uint(3)])
    + transfer(0, 3, payload=b"fourth")
)


def test_reused_delivery_id_is_renumbered_and_the_payload_kept() -> None:
    out = fed([STREAM])
    assert delivery_ids(out) == [0, 1, 2, 3]
    payloads = [p for _, code, _, p in frames(out) if code == TRANSFER]
    assert payloads == [b"first", b"second", b"third, same id", b"fourth"]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13])
def test_any_split_of_the_bytes_gives_the_same_result(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert fed(chunks) == fed([STREAM])


def test_untouched_bytes_come_back_as_the_same_object() -> None:
    clean = AMQP_HEADER + frame(0, BEGIN, [b"\x40"]) + transfer(0, 5, payload=b"x")
    data = clean + frame(0, FLOW, [encode_uint(6)])
    assert DeliveryIdRepair().feed(data) is data


def test_sasl_frames_and_heartbeats_pass_through() -> None:
    sasl = struct.pack(">IBBH", 12, 2, 1, 0) + b"\x00\x53\x41\x45"  # a SASL frame
    heartbeat = struct.pack(">IBBH", 8, 2, 0, 0)
    data = SASL_HEADER + sasl + AMQP_HEADER + heartbeat + transfer(0, 7, payload=b"p")
    assert DeliveryIdRepair().feed(data) == data


def test_a_wider_id_grows_the_frame() -> None:
    data = transfer(0, 255, payload=b"a") + transfer(0, 255, payload=b"b")
    out = fed([data])
    assert delivery_ids(out) == [255, 256]
    assert len(out) == len(data) + 3  # smalluint 0x52 xx became uint 0x70 xxxxxxxx


def test_frames_of_a_multi_frame_delivery_keep_their_id() -> None:
    data = (
        transfer(0, 4, more=True, payload=b"part 1")
        + transfer(0, 4, more=True, payload=b"part 2")
        + transfer(0, 4, payload=b"part 3")
        + transfer(0, 4, handle=2, payload=b"next delivery, reused id")
    )
    assert delivery_ids(fed([data])) == [4, 4, 4, 5]


def test_each_session_numbers_on_its_own_and_afresh_after_begin() -> None:
    data = (
        transfer(0, 10, payload=b"a")
        + transfer(1, 50, payload=b"b")
        + transfer(1, 50, payload=b"c")
        + transfer(0, 11, payload=b"d")
        + frame(1, END, [])
        + frame(1, BEGIN, [b"\x40"])
        + transfer(1, 0, payload=b"e")
    )
    assert delivery_ids(fed([data])) == [10, 50, 51, 11, 0]


def test_frames_after_the_client_ended_the_session_are_dropped() -> None:
    detach = frame(1, DETACH, [encode_uint(4), encode_bool(False)])
    data = frame(1, END, []) + detach + frame(0, FLOW, [encode_uint(1)])
    out = fed([data[:5], data[5:]])
    assert [(ch, code) for ch, code, _, _ in frames(out)] == [(1, END), (0, FLOW)]


def test_bytes_that_are_not_frames_are_left_to_proton() -> None:
    garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    repair = DeliveryIdRepair()
    assert repair.feed(garbage) == garbage
    assert repair.feed(b"more") == b"more"
