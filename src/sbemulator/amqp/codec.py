"""The AMQP 1.0 value codec of the data plane, in pure Python.

Messages are kept as the bytes the sender sent. On the way in, the sections are located
(`skip`) and the few properties the broker needs are decoded (`decode`); on the way out,
only the header and the message annotations are written fresh and every other section is
copied byte for byte, so the writers here cover just the values a delivery rewrites.

proton's `Message` would decode every section and encode it again: slower per message
than this, and not byte for byte. So user messages stay here, while the small
request/response messages of `$cbs` and `$management` use proton (`control_messages`).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

(
    HEADER,
    DELIVERY_ANNOTATIONS,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    APPLICATION_PROPERTIES,
    DATA,
    AMQP_SEQUENCE,
    AMQP_VALUE,
    FOOTER,
) = range(0x70, 0x79)
BODY_SECTIONS = (DATA, AMQP_SEQUENCE, AMQP_VALUE)

# Annotations the broker owns: taken out of what senders send, written on delivery.
SERVER_ANNOTATIONS = frozenset(
    {
        "x-opt-sequence-number",
        "x-opt-enqueued-time",
        "x-opt-locked-until",
        "x-opt-lock-token",
        "x-opt-message-state",
        "x-opt-deadletter-source",
        "x-opt-enqueue-sequence-number",
    }
)
DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


class CodecError(ValueError):
    """Bytes that are not a well-formed AMQP message."""


class Symbol(str):
    """An AMQP symbol (a str for every other purpose)."""


class Timestamp(int):
    """An AMQP timestamp: milliseconds since the Unix epoch."""


@dataclass(frozen=True, slots=True)
class Described:
    descriptor: Any
    value: Any


# -- decoding -------------------------------------------------------------------------
# A format code's high nibble says how wide its value is (AMQP 1.0, part 1, 1.6).
_WIDTH = {0x4: 0, 0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}
_U32 = struct.Struct(">I")


def skip(buf: bytes, pos: int) -> int:
    """Position just after the encoded value starting at `pos`, without decoding it.

    Raises:
        CodecError: an unknown format code, or a value running past the end of `buf`.
    """
    try:
        code = buf[pos]
        pos += 1
        if code == 0x00:
            return skip(buf, skip(buf, pos))
        hi = code >> 4
        if hi in _WIDTH:
            pos += _WIDTH[hi]
        elif hi in (0xA, 0xC, 0xE):
            pos += 1 + buf[pos]
        elif hi in (0xB, 0xD, 0xF):
            pos += 4 + _U32.unpack_from(buf, pos)[0]
        else:
            raise CodecError(f"unknown format code 0x{code:02x}")
    except (IndexError, struct.error):
        raise CodecError("truncated value") from None
    if pos > len(buf):
        raise CodecError("truncated value")
    return pos


def decode(buf: bytes, pos: int = 0) -> tuple[Any, int]:
    """The value encoded at `pos`, and the position after it.

    Symbols come back as `Symbol`, timestamps as `Timestamp`, described values as
    `Described`, lists as lists, maps as dicts, arrays as lists, decimals as their raw
    bytes (nothing the broker reads is a decimal).

    Raises:
        CodecError: an unknown format code, or a malformed or truncated value.
    """
    try:
        code = buf[pos]
        if code == 0x00:
            descriptor, pos = decode(buf, pos + 1)
            value, pos = decode(buf, pos)
            return Described(descriptor, value), pos
        return _read(code, buf, pos + 1)
    except CodecError:
        raise
    except (IndexError, struct.error, ValueError, OverflowError):  # bad UTF-8, char range
        raise CodecError("malformed or truncated value") from None


_Reader = Callable[[bytes, int], tuple[Any, int]]


def _read(code: int, buf: bytes, pos: int) -> tuple[Any, int]:
    """The value of format `code` whose bytes start at `pos` (after the code)."""
    reader = _READERS.get(code)
    if reader is None:
        raise CodecError(f"unknown format code 0x{code:02x}")
    return reader(buf, pos)


def _constant(value: Any) -> _Reader:
    return lambda buf, pos: (value, pos)


def _fixed(fmt: str, wrap: Callable[[Any], Any] | None = None) -> _Reader:
    packed = struct.Struct(fmt)
    size = packed.size

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        value = packed.unpack_from(buf, pos)[0]
        return (value if wrap is None else wrap(value)), pos + size

    return read


def _uuid(buf: bytes, pos: int) -> tuple[uuid.UUID, int]:
    raw = bytes(buf[pos : pos + 16])
    if len(raw) != 16:
        raise CodecError("truncated uuid")
    return uuid.UUID(bytes=raw), pos + 16


def _opaque(buf: bytes, pos: int) -> tuple[bytes, int]:
    """Decimals: kept as their encoded bytes."""
    end = skip(buf, pos - 1)
    return bytes(buf[pos:end]), end


def _variable(size_width: int, convert: Callable[[bytes], Any]) -> _Reader:
    """Binary, string or symbol with a one- or four-byte size."""

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        if size_width == 1:
            size, pos = buf[pos], pos + 1
        else:
            size, pos = _U32.unpack_from(buf, pos)[0], pos + 4
        raw = bytes(buf[pos : pos + size])
        if len(raw) != size:
            raise CodecError("truncated string or binary")
        return convert(raw), pos + size

    return read


def _sized(buf: bytes, pos: int, *, small: bool) -> tuple[int, int, int]:
    """The size and count that open a list, map or array (one byte each in the small
    encodings, four otherwise): (count, position of the first item, end position)."""
    if small:
        size, count, pos = buf[pos], buf[pos + 1], pos + 2
        return count, pos, pos + size - 1
    size, count = struct.unpack_from(">II", buf, pos)
    return count, pos + 8, pos + 4 + size


def _key(value: Any) -> Any:
    return value.value if isinstance(value, Described) else value


def _compound(*, small: bool, is_map: bool) -> _Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        count, pos, end = _sized(buf, pos, small=small)
        items = []
        for _ in range(count):
            item, pos = decode(buf, pos)
            items.append(item)
        if pos != end:
            raise CodecError("compound size does not match its contents")
        if not is_map:
            return items, end
        return {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}, end

    return read


def _array(*, small: bool) -> _Reader:
    def read(buf: bytes, pos: int) -> tuple[list[Any], int]:
        count, pos, end = _sized(buf, pos, small=small)
        descriptor = None
        element, pos = buf[pos], pos + 1
        if element == 0x00:
            descriptor, pos = decode(buf, pos)
            element, pos = buf[pos], pos + 1
        items = []
        for _ in range(count):
            item, pos = _read(element, buf, pos)
            items.append(Described(descriptor, item) if descriptor is not None else item)
        if pos != end:
            raise CodecError("array size does not match its contents")
        return items, end

    return read


def _text(raw: bytes) -> str:
    return raw.decode("utf-8")


def _symbol(raw: bytes) -> Symbol:
    return Symbol(raw.decode("utf-8"))


_READERS: dict[int, _Reader] = {
    0x40: _constant(None),
    0x41: _constant(True),
    0x42: _constant(False),
    0x43: _constant(0),  # uint0
    0x44: _constant(0),  # ulong0
    0x45: _constant([]),  # list0
    0x50: _fixed(">B"),
    0x51: _fixed(">b"),
    0x52: _fixed(">B"),
    0x53: _fixed(">B"),
    0x54: _fixed(">b"),
    0x55: _fixed(">b"),
    0x56: _fixed(">B", bool),
    0x60: _fixed(">H"),
    0x61: _fixed(">h"),
    0x70: _fixed(">I"),
    0x71: _fixed(">i"),
    0x72: _fixed(">f"),
    0x73: _fixed(">I", chr),
    0x74: _opaque,
    0x80: _fixed(">Q"),
    0x81: _fixed(">q"),
    0x82: _fixed(">d"),
    0x83: _fixed(">q", Timestamp),
    0x84: _opaque,
    0x94: _opaque,
    0x98: _uuid,
    0xA0: _variable(1, bytes),
    0xA1: _variable(1, _text),
    0xA3: _variable(1, _symbol),
    0xB0: _variable(4, bytes),
    0xB1: _variable(4, _text),
    0xB3: _variable(4, _symbol),
    0xC0: _compound(small=True, is_map=False),
    0xC1: _compound(small=True, is_map=True),
    0xD0: _compound(small=False, is_map=False),
    0xD1: _compound(small=False, is_map=True),
    0xE0: _array(small=True),
    0xF0: _array(small=False),
}


# -- encoding: the values a delivery writes -------------------------------------------
NULL = b"\x40"
FALSE = b"\x42"


def encode_bool(value: bool) -> bytes:
    return b"\x41" if value else FALSE


def encode_uint(value: int) -> bytes:
    if value == 0:
        return b"\x43"
    if value < 256:
        return b"\x52" + bytes((value,))
    return b"\x70" + _U32.pack(value)


def _sized_bytes(small_code: int, raw: bytes) -> bytes:
    if len(raw) < 256:
        return bytes((small_code, len(raw))) + raw
    return bytes((small_code + 0x10,)) + _U32.pack(len(raw)) + raw


def encode_string(text: str) -> bytes:
    return _sized_bytes(0xA1, text.encode("utf-8"))


def encode_symbol(name: str) -> bytes:
    return _sized_bytes(0xA3, name.encode("utf-8"))


def compound(small_code: int, body: bytes, count: int) -> bytes:
    """A list (0xC0) or map (0xC1) from its encoded items; `count` counts map keys and
    values separately, as the format does."""
    if len(body) + 1 < 256 and count < 256:
        return bytes((small_code, len(body) + 1, count)) + body
    return bytes((small_code + 0x10,)) + struct.pack(">II", len(body) + 4, count) + body


def section(code: int, encoded_value: bytes) -> bytes:
    """A message section: the value described by the section's small-ulong code."""
    return b"\x00\x53" + bytes((code,)) + encoded_value
