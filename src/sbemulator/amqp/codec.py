"""Just enough AMQP 1.0 encoding for the data plane, in pure Python.

Messages are kept as the bytes the sender sent. On the way in, the sections are located
and the few properties the broker needs are decoded; on the way out, only the header and
the message annotations are written fresh (delivery count, sequence number, lock) and the
other sections are copied byte for byte. That keeps messages exactly as sent and avoids
a full decode/encode per delivery.
"""

from __future__ import annotations

import struct
import uuid
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
_UINT_MAX = 2**32 - 1


class CodecError(ValueError):
    """Bytes that are not a well-formed AMQP message."""


class Symbol(str):
    """An AMQP symbol (a str for every other purpose)."""


class Timestamp(int):
    """An AMQP timestamp: milliseconds since the Unix epoch."""


class Int(int):
    """An AMQP int (32-bit signed); a plain Python int encodes as a long."""


class ULong(int):
    """An AMQP ulong (the integer type a message-id or correlation-id may have)."""


@dataclass(frozen=True, slots=True)
class Described:
    descriptor: Any
    value: Any


@dataclass(frozen=True, slots=True)
class Array:
    """An AMQP array of one primitive type: `code` is the element format code
    (0x81 long, 0x83 timestamp, 0x98 uuid)."""

    code: int
    items: tuple[Any, ...]


# -- decoding -------------------------------------------------------------------------
_WIDTH = {0x4: 0, 0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}
_U32 = struct.Struct(">I")


def skip(buf: bytes, pos: int) -> int:
    """Position just after the encoded value starting at `pos`."""
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
    """The value encoded at `pos`, and the position after it."""
    try:
        code = buf[pos]
        if code == 0x00:
            descriptor, pos = decode(buf, pos + 1)
            value, pos = decode(buf, pos)
            return Described(descriptor, value), pos
        return _decode_body(code, buf, pos + 1)
    except (IndexError, struct.error, UnicodeDecodeError):
        raise CodecError("malformed or truncated value") from None


_FIXED: dict[int, tuple[struct.Struct, int]] = {
    0x50: (struct.Struct(">B"), 1),
    0x51: (struct.Struct(">b"), 1),
    0x52: (struct.Struct(">B"), 1),
    0x53: (struct.Struct(">B"), 1),
    0x54: (struct.Struct(">b"), 1),
    0x55: (struct.Struct(">b"), 1),
    0x60: (struct.Struct(">H"), 2),
    0x61: (struct.Struct(">h"), 2),
    0x70: (struct.Struct(">I"), 4),
    0x71: (struct.Struct(">i"), 4),
    0x72: (struct.Struct(">f"), 4),
    0x80: (struct.Struct(">Q"), 8),
    0x81: (struct.Struct(">q"), 8),
    0x82: (struct.Struct(">d"), 8),
}
_CONSTANTS = {0x40: None, 0x41: True, 0x42: False, 0x43: 0, 0x44: 0}


def _decode_body(code: int, buf: bytes, pos: int) -> tuple[Any, int]:
    if code in _CONSTANTS:
        return _CONSTANTS[code], pos
    if code in _FIXED:
        fmt, width = _FIXED[code]
        return fmt.unpack_from(buf, pos)[0], pos + width
    if code == 0x45:
        return [], pos
    if code == 0x56:
        return buf[pos] != 0, pos + 1
    if code == 0x83:
        return Timestamp(struct.unpack_from(">q", buf, pos)[0]), pos + 8
    if code == 0x98:
        return uuid.UUID(bytes=bytes(buf[pos : pos + 16])), pos + 16
    if code == 0x73:
        return chr(_U32.unpack_from(buf, pos)[0]), pos + 4
    if code in (0x74, 0x84, 0x94):  # decimals: kept opaque
        end = skip(buf, pos - 1)
        return bytes(buf[pos:end]), end
    if code in (0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3):
        if code < 0xB0:
            size, pos = buf[pos], pos + 1
        else:
            size, pos = _U32.unpack_from(buf, pos)[0], pos + 4
        raw = bytes(buf[pos : pos + size])
        if len(raw) != size:
            raise CodecError("truncated string or binary")
        end = pos + size
        if code in (0xA0, 0xB0):
            return raw, end
        text = raw.decode("utf-8")
        return (Symbol(text) if code in (0xA3, 0xB3) else text), end
    if code in (0xC0, 0xC1, 0xD0, 0xD1):
        count, pos, end = _sized(buf, pos, small=code < 0xD0)
        items = []
        for _ in range(count):
            item, pos = decode(buf, pos)
            items.append(item)
        if pos != end:
            raise CodecError("compound size does not match its contents")
        if code in (0xC0, 0xD0):
            return items, end
        return {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}, end
    if code in (0xE0, 0xF0):
        return _decode_array(code, buf, pos)
    raise CodecError(f"unknown format code 0x{code:02x}")


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


def _decode_array(code: int, buf: bytes, pos: int) -> tuple[list[Any], int]:
    count, pos, end = _sized(buf, pos, small=code == 0xE0)
    descriptor = None
    element = buf[pos]
    pos += 1
    if element == 0x00:
        descriptor, pos = decode(buf, pos)
        element, pos = buf[pos], pos + 1
    items = []
    for _ in range(count):
        item, pos = _decode_body(element, buf, pos)
        items.append(Described(descriptor, item) if descriptor is not None else item)
    if pos != end:
        raise CodecError("array size does not match its contents")
    return items, end


# -- encoding -------------------------------------------------------------------------
def encode(value: Any) -> bytes:
    """Encode a Python value: None, bool, int (long), Timestamp, str, Symbol, bytes,
    UUID, float, list, dict, Described."""
    if value is None:
        return b"\x40"
    if value is True:
        return b"\x41"
    if value is False:
        return b"\x42"
    if isinstance(value, Timestamp):
        return b"\x83" + struct.pack(">q", value)
    if isinstance(value, Int):
        return b"\x71" + struct.pack(">i", value)
    if isinstance(value, ULong):
        return b"\x80" + struct.pack(">Q", value)
    if isinstance(value, int):
        return b"\x81" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\x82" + struct.pack(">d", value)
    if isinstance(value, Symbol):
        return _variable(0xA3, value.encode("utf-8"))
    if isinstance(value, str):
        return _variable(0xA1, value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _variable(0xA0, bytes(value))
    if isinstance(value, uuid.UUID):
        return b"\x98" + value.bytes
    if isinstance(value, Described):
        return b"\x00" + encode(value.descriptor) + encode(value.value)
    if isinstance(value, Array):
        return _array(value)
    if isinstance(value, list):
        return compound(0xC0, b"".join(encode(v) for v in value), len(value))
    if isinstance(value, dict):
        return compound(0xC1, pairs(value), 2 * len(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


_ARRAY_ELEMENTS = {0x81: struct.Struct(">q"), 0x83: struct.Struct(">q")}


def _array(value: Array) -> bytes:
    if value.code == 0x98:
        body = b"".join(u.bytes for u in value.items)
    elif value.code in _ARRAY_ELEMENTS:
        fmt = _ARRAY_ELEMENTS[value.code]
        body = b"".join(fmt.pack(v) for v in value.items)
    else:
        raise TypeError(f"arrays of 0x{value.code:02x} are not supported")
    body = bytes((value.code,)) + body
    return b"\xf0" + struct.pack(">II", len(body) + 4, len(value.items)) + body


def uint(value: int) -> bytes:
    if value == 0:
        return b"\x43"
    if value < 256:
        return b"\x52" + bytes((value,))
    return b"\x70" + _U32.pack(value)


def pairs(mapping: dict[Any, Any]) -> bytes:
    return b"".join(encode(k) + encode(v) for k, v in mapping.items())


def _variable(small_code: int, raw: bytes) -> bytes:
    if len(raw) < 256:
        return bytes((small_code, len(raw))) + raw
    return bytes((small_code + 0x10,)) + _U32.pack(len(raw)) + raw


def compound(small_code: int, body: bytes, count: int) -> bytes:
    """A list (0xC0) or map (0xC1) from its encoded items; `count` counts map keys and
    values separately, as the format does."""
    if len(body) + 1 < 256 and count < 256:
        return bytes((small_code, len(body) + 1, count)) + body
    return bytes((small_code + 0x10,)) + struct.pack(">II", len(body) + 4, count) + body


def section(code: int, encoded_value: bytes) -> bytes:
    return b"\x00\x53" + bytes((code,)) + encoded_value
