"""What the client sends, read frame by frame before proton sees it, to forgive the one
framing slip the SDK is known to make.

The aio SDK numbers a transfer when it starts writing it and only counts the number up
once the write has finished (pyamqp `Session._outgoing_transfer`). Two coroutines
sending on one session at once (`AutoLockRenewer` renewing several locks, concurrent
sends on one sender) therefore put two transfers with the same delivery-id on the wire.
Service Bus takes both; proton's transport closes the whole connection ("sequencing
error, expected delivery-id 2, got 1"). So before the bytes reach proton, a transfer
that starts a new delivery with an id other than the one expected next on its session
gets the expected id, and the frame's size is adjusted to the new encoding.

The SDK also detaches a link after it has ended the link's session, when a receiver
closes; proton answers a frame on an ended session by closing the connection with an
error. Such frames are dropped here: the session is gone, there is nothing to answer.

Only frame headers and performatives are looked at; payloads pass through unread, and
bytes come out unchanged (the same object) unless a frame was renumbered or dropped.
"""

from __future__ import annotations

import logging
import struct

from .codec import CodecError, compound, decode, encode_uint, skip

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">IBBH")  # size, data offset (4-byte words), type, channel
_U32 = struct.Struct(">I")
_AMQP_FRAME = 0x00
_BEGIN, _TRANSFER, _DETACH, _END = 0x11, 0x14, 0x16, 0x17
_NEEDED = frozenset((_BEGIN, _TRANSFER, _DETACH, _END))
_SEQUENCE_MASK = 0xFFFFFFFF


class FramingError(ValueError):
    """Bytes that are not AMQP frames; proton is left to refuse them."""


class DeliveryIdRepair:
    """Reads one connection's incoming bytes; `feed` returns what proton should get."""

    def __init__(self) -> None:
        self._pending = b""  # an incomplete frame header or performative
        self._skip = 0  # bytes of the current frame still to pass through unread
        self._discard = 0  # bytes of the current frame still to drop
        self._ended: set[int] = set()  # channels whose session the client ended
        self._next_id: dict[int, int] = {}  # channel -> delivery-id expected next
        self._partial: set[tuple[int, int]] = set()  # (channel, handle) mid-delivery
        self._passthrough = False  # not AMQP after all: stop reading
        self.repaired = 0

    def feed(self, data: bytes) -> bytes:
        if self._passthrough:
            return data
        buf = self._pending + data if self._pending else data
        out: list[bytes] = []
        pos = emitted = 0
        end = len(buf)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                pos += step
                self._skip -= step
                continue
            if self._discard:
                step = min(self._discard, end - pos)
                out.append(buf[emitted:pos])
                pos += step
                emitted = pos
                self._discard -= step
                continue
            try:
                replaced = self._frame(buf, pos)
            except FramingError as exc:
                log.debug("incoming bytes are not AMQP frames (%s); not reading them", exc)
                self._passthrough = True
                self._pending = b""
                return b"".join([*out, buf[emitted:]])
            if replaced is None:  # incomplete: wait for more bytes
                break
            prefix, consumed = replaced
            if prefix is not None:
                out += [buf[emitted:pos], prefix]
                emitted = pos + consumed
            pos += consumed
        self._pending = buf[pos:]
        if not out and emitted == 0 and pos == end:
            return buf
        out.append(buf[emitted:pos])
        return b"".join(out)

    def _frame(self, buf: bytes, pos: int) -> tuple[bytes | None, int] | None:
        """At a frame boundary: None if more bytes are needed; else (replacement for the
        bytes consumed, or None to keep them, bytes consumed). A frame whose body is
        not needed is consumed whole through `_skip` (or `_discard`)."""
        if len(buf) - pos < 8:
            return None
        if buf[pos : pos + 4] == b"AMQP":  # a protocol header (AMQP, then after SASL)
            return None, 8
        size, doff, kind, channel = _HEADER.unpack_from(buf, pos)
        if size < 8 or doff < 2 or doff * 4 > size:
            raise FramingError(f"frame size {size}, data offset {doff}")
        body = pos + doff * 4
        if not self._wanted(buf, body, kind, size - doff * 4, channel):
            self._skip = size
            return None, 0
        located = _performative(buf, body, pos + size)
        if located is None:
            return None
        code, list_at, list_end = located
        if channel in self._ended and code != _BEGIN:
            self._discard = size
            return None, 0
        new_list = None
        if code == _TRANSFER:
            new_list = self._transfer(channel, buf, list_at, list_end)
        elif code in _NEEDED:
            self._session_event(code, channel, buf, list_at)
        if new_list is None:
            self._skip = size
            return None, 0
        head = buf[pos + 4 : list_at]  # data offset, type, channel, extended header, descriptor
        new_size = size - (list_end - list_at) + len(new_list)
        self._skip = pos + size - list_end
        return _U32.pack(new_size) + head + new_list, list_end - pos

    def _wanted(self, buf: bytes, body: int, kind: int, body_size: int, channel: int) -> bool:
        """Whether the frame's performative must be read: not for SASL or empty
        (heartbeat) frames, nor for most others (flow, disposition) by their descriptor,
        unless their session was ended."""
        if kind != _AMQP_FRAME or body_size == 0:
            return False
        if body + 3 <= len(buf) and buf[body : body + 2] == b"\x00\x53":
            return buf[body + 2] in _NEEDED or channel in self._ended
        return True

    def _session_event(self, code: int, channel: int, buf: bytes, list_at: int) -> None:
        if code in (_BEGIN, _END):  # a fresh session numbers its deliveries afresh
            self._next_id.pop(channel, None)
            self._partial = {k for k in self._partial if k[0] != channel}
            if code == _END:
                self._ended.add(channel)
            else:
                self._ended.discard(channel)
            return
        fields = _fields(buf, list_at, 1)
        if fields and isinstance(fields[0], int):  # detach: the link's delivery is over
            self._partial.discard((channel, fields[0]))

    def _transfer(self, channel: int, buf: bytes, list_at: int, list_end: int) -> bytes | None:
        """The transfer's field list renumbered, or None to keep it as it is."""
        fields = _fields(buf, list_at, 10) + [None] * 10
        handle, delivery_id, more, aborted = fields[0], fields[1], bool(fields[5]), bool(fields[9])
        key = (channel, handle if isinstance(handle, int) else -1)
        if key in self._partial:  # the next frame of a delivery already numbered
            if not more or aborted:
                self._partial.discard(key)
            return None
        expected = self._next_id.get(channel)
        use = delivery_id if isinstance(delivery_id, int) else expected
        renumber = expected is not None and isinstance(delivery_id, int) and delivery_id != expected
        if renumber:
            use = expected
        if use is not None:
            self._next_id[channel] = (use + 1) & _SEQUENCE_MASK
        if more and not aborted:
            self._partial.add(key)
        if not renumber:
            return None
        assert expected is not None
        self.repaired += 1
        if self.repaired == 1:
            log.info(
                "client sent delivery-id %s where %s was due (concurrent sends on one "
                "session); renumbered instead of closing the connection",
                delivery_id,
                expected,
            )
        return _renumbered(buf, list_at, list_end, expected)


def _performative(buf: bytes, body: int, frame_end: int) -> tuple[int, int, int] | None:
    """(code, start, end of its field list) of the performative at `body`; None while
    the frame has not all arrived.

    Raises:
        FramingError: the whole frame is here and holds no performative.
    """
    try:
        code, list_at = _descriptor(buf, body, frame_end)
        return code, list_at, skip(buf, list_at)
    except (CodecError, IndexError, struct.error):
        if len(buf) < frame_end:
            return None
        raise FramingError("malformed performative") from None


def _descriptor(buf: bytes, body: int, frame_end: int) -> tuple[int, int]:
    """(performative code, position of its field list) at `body`."""
    if body + 3 > frame_end or buf[body] != 0x00:
        raise CodecError("no descriptor")
    if buf[body + 1] == 0x53:
        return buf[body + 2], body + 3
    if buf[body + 1] == 0x80 and body + 10 <= len(buf):
        return struct.unpack_from(">Q", buf, body + 2)[0], body + 10
    raise CodecError("unexpected descriptor")


def _list_items(buf: bytes, list_at: int) -> tuple[int, int]:
    """(number of items, position of the first) of the list encoded at `list_at`."""
    code = buf[list_at]
    if code == 0x45:
        return 0, list_at + 1
    if code == 0xC0:
        return buf[list_at + 2], list_at + 3
    if code == 0xD0:
        return _U32.unpack_from(buf, list_at + 5)[0], list_at + 9
    raise CodecError(f"expected a list, found 0x{code:02x}")


def _fields(buf: bytes, list_at: int, wanted: int) -> list[object]:
    """The first `wanted` fields of a performative's list (fewer if the list is shorter)."""
    count, pos = _list_items(buf, list_at)
    values: list[object] = []
    for _ in range(min(count, wanted)):
        value, pos = decode(buf, pos)
        values.append(value)
    return values


def _renumbered(buf: bytes, list_at: int, list_end: int, delivery_id: int) -> bytes:
    """The transfer's list with its second field (delivery-id) replaced."""
    count, first = _list_items(buf, list_at)
    id_at = skip(buf, first)  # after the handle
    id_end = skip(buf, id_at)
    items = buf[first:id_at] + encode_uint(delivery_id) + buf[id_end:list_end]
    return compound(0xC0, items, count)
