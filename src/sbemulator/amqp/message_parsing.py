"""Messages in and out: locate the sections of what a sender sent, decode the properties
the broker needs, split batches, and render a stored message for delivery."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..broker.message import Envelope, MessageProperties, MessageState, StoredMessage
from .codec import (
    APPLICATION_PROPERTIES,
    BODY_SECTIONS,
    DATA,
    DEAD_LETTER_PROPERTIES,
    FOOTER,
    HEADER,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    SERVER_ANNOTATIONS,
    CodecError,
    Described,
    Symbol,
    Timestamp,
    compound,
    decode,
    encode,
    section,
    skip,
    uint,
)

_UINT_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Section:
    code: int
    start: int
    value: int  # where the section's value starts
    end: int


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the parts of `Envelope.raw` are, for rendering without a decode."""

    durable: bool
    priority: int | None
    annotation_pairs: bytes  # the sender's message annotations minus the broker's own
    annotation_count: int  # keys and values, as counted in an AMQP map
    properties: tuple[int, int]  # (start, end) of the properties section; (0, 0) if none
    application: tuple[int, int]  # same for application-properties
    application_pairs: bytes  # its entries minus DeadLetterReason/-ErrorDescription
    application_count: int
    body_start: int  # body sections and footer run from here to the end


def sections(raw: bytes) -> list[Section]:
    """The top-level sections of an encoded message.

    Raises:
        CodecError: anything that is not a sequence of described AMQP message sections.
    """
    out = []
    pos = 0
    size = len(raw)
    while pos < size:
        if raw[pos] != 0x00 or pos + 2 >= size:
            raise CodecError(f"byte {pos}: not a message section")
        kind = raw[pos + 1]
        if kind == 0x53:
            code, value = raw[pos + 2], pos + 3
        elif kind == 0x80 and pos + 10 <= size:
            code, value = struct.unpack_from(">Q", raw, pos + 2)[0], pos + 10
        else:
            raise CodecError(f"byte {pos}: unsupported section descriptor")
        if not HEADER <= code <= FOOTER:
            raise CodecError(f"byte {pos}: 0x{code:x} is not a message section")
        end = skip(raw, value)
        out.append(Section(code, pos, value, end))
        pos = end
    return out


def split_batch(raw: bytes) -> list[bytes] | None:
    """The messages inside a batch envelope, or None if `raw` is a plain message.

    proton does not expose a transfer's message-format (0x80013700 for batches), so a batch
    is recognised by shape: every body section is a data section holding a complete
    message. A plain message whose binary body is itself an encoded message is misread;
    that is the documented limit of this approach.
    """
    try:
        secs = sections(raw)
    except CodecError:
        return None
    bodies = [s for s in secs if s.code in BODY_SECTIONS]
    if not bodies or any(s.code != DATA for s in bodies):
        return None
    parts = []
    for s in bodies:
        try:
            payload, _ = decode(raw, s.value)
            if not isinstance(payload, bytes) or not payload:
                return None
            inner = sections(payload)
        except CodecError:
            return None
        if not any(x.code in BODY_SECTIONS for x in inner):
            return None
        parts.append(payload)
    return parts


def _map_entries(raw: bytes, pos: int) -> Iterator[tuple[Any, Any, int, int]]:
    """(key, value, start, end) for each entry of the map encoded at `pos`."""
    code = raw[pos]
    if code == 0xC1:
        count, pos = raw[pos + 2], pos + 3
    elif code == 0xD1:
        count, pos = struct.unpack_from(">I", raw, pos + 5)[0], pos + 9
    elif code == 0x40:
        return
    else:
        raise CodecError("expected a map")
    for _ in range(count // 2):
        start = pos
        key, pos = decode(raw, pos)
        value, pos = decode(raw, pos)
        yield key, value, start, pos


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Described):
        value = value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _user_value(value: Any) -> Any:
    if isinstance(value, Described):
        value = value.value
    if isinstance(value, Symbol):
        return str(value)
    return value


def parse_envelope(raw: bytes) -> Envelope:
    """Decode what the broker needs from one encoded message.

    Raises:
        CodecError: `raw` is not a well-formed message.
    """
    durable, priority, ttl_ms = False, None, None
    ann_parts: list[bytes] = []
    scheduled: float | None = None
    partition_key: str | None = None
    props_span = app_span = (0, 0)
    app_parts: list[bytes] = []
    user: dict[str, Any] = {}
    fields: list[Any] = []
    body_start = len(raw)
    for s in sections(raw):
        if s.code == HEADER:
            header, _ = decode(raw, s.value)
            header = list(header) + [None] * 5
            durable, priority, ttl_ms = bool(header[0]), header[1], header[2]
        elif s.code == MESSAGE_ANNOTATIONS:
            ann_parts, scheduled, partition_key = _annotations(raw, s)
        elif s.code == PROPERTIES:
            value, _ = decode(raw, s.value)
            fields = list(value) if isinstance(value, list) else []
            props_span = (s.start, s.end)
        elif s.code == APPLICATION_PROPERTIES:
            app_span = (s.start, s.end)
            user, app_parts = _application_properties(raw, s)
        elif s.code in BODY_SECTIONS or s.code == FOOTER:
            body_start = min(body_start, s.start)
    fields += [None] * (13 - len(fields))
    properties = MessageProperties(
        message_id=_text(fields[0]),
        to=_text(fields[2]),
        subject=_text(fields[3]),
        reply_to=_text(fields[4]),
        correlation_id=_text(fields[5]),
        content_type=_text(fields[6]),
        session_id=_text(fields[10]),
        reply_to_session_id=_text(fields[12]),
        partition_key=partition_key,
        time_to_live=ttl_ms / 1000.0 if isinstance(ttl_ms, int) else None,
        scheduled_enqueue_time=scheduled,
        user=user,
    )
    layout = Layout(
        durable,
        priority if isinstance(priority, int) else None,
        b"".join(ann_parts),
        2 * len(ann_parts),
        props_span,
        app_span,
        b"".join(app_parts),
        2 * len(app_parts),
        body_start,
    )
    return Envelope(properties, raw, layout)


def _key_text(key: Any) -> Any:
    return key.value if isinstance(key, Described) else key


def _annotations(raw: bytes, s: Section) -> tuple[list[bytes], float | None, str | None]:
    """The sender's annotations to keep (encoded entries, minus the broker's own), and the
    two the broker reads: scheduled enqueue time and partition key."""
    kept: list[bytes] = []
    scheduled: float | None = None
    partition_key: str | None = None
    for key, value, start, end in _map_entries(raw, s.value):
        name = str(_key_text(key))
        if name == "x-opt-scheduled-enqueue-time" and isinstance(value, int):
            scheduled = value / 1000.0
        elif name == "x-opt-partition-key":
            partition_key = _text(value)
        if name not in SERVER_ANNOTATIONS:
            kept.append(raw[start:end])
    return kept, scheduled, partition_key


def _application_properties(raw: bytes, s: Section) -> tuple[dict[str, Any], list[bytes]]:
    """Decoded application properties (for filters), and their encoded entries minus the
    dead-letter ones (for rendering a dead-lettered copy)."""
    user: dict[str, Any] = {}
    kept: list[bytes] = []
    for key, value, start, end in _map_entries(raw, s.value):
        name = str(_key_text(key))
        user[name] = _user_value(value)
        if name not in DEAD_LETTER_PROPERTIES:
            kept.append(raw[start:end])
    return user, kept


def _annotation(name: str) -> bytes:
    return encode(Symbol(name))


_SEQ = _annotation("x-opt-sequence-number")
_ENQUEUED = _annotation("x-opt-enqueued-time")
_LOCKED_UNTIL = _annotation("x-opt-locked-until")
_STATE = _annotation("x-opt-message-state")
_DL_SOURCE = _annotation("x-opt-deadletter-source")
_LONG = struct.Struct(">q")


def render(
    msg: StoredMessage, locked_until: float | None = None, state: MessageState | None = None
) -> bytes:
    """The message as delivered: fresh header and broker annotations, the rest as sent."""
    env = msg.envelope
    layout: Layout = env.wire
    raw = memoryview(env.raw)
    ttl = None
    if msg.expires_at is not None:
        ttl = max(0, round((msg.expires_at - msg.enqueued_at) * 1000))
    header = (
        encode(layout.durable)
        + (b"\x40" if layout.priority is None else b"\x50" + bytes((layout.priority & 0xFF,)))
        + (uint(ttl) if ttl is not None and ttl <= _UINT_MAX else b"\x40")
        + b"\x42"
        + uint(msg.delivery_count)
    )
    ann = [
        _SEQ,
        b"\x81",
        _LONG.pack(msg.seq),
        _ENQUEUED,
        b"\x83",
        _LONG.pack(round(msg.enqueued_at * 1000)),
    ]
    count = 4
    if locked_until is not None:
        ann += [_LOCKED_UNTIL, b"\x83", _LONG.pack(round(locked_until * 1000))]
        count += 2
    effective_state = msg.state if state is None else state
    if effective_state != MessageState.ACTIVE:
        ann += [_STATE, b"\x71", struct.pack(">i", int(effective_state))]
        count += 2
    if msg.dead_letter_source is not None:
        ann += [_DL_SOURCE, encode(msg.dead_letter_source)]
        count += 2
    ann.append(layout.annotation_pairs)
    parts: list[bytes | memoryview] = [
        section(HEADER, compound(0xC0, header, 5)),
        section(
            MESSAGE_ANNOTATIONS, compound(0xC1, b"".join(ann), count + layout.annotation_count)
        ),
    ]
    if layout.properties[1]:
        parts.append(raw[layout.properties[0] : layout.properties[1]])
    if msg.dead_letter_reason is not None or msg.dead_letter_description is not None:
        extra = {
            "DeadLetterReason": msg.dead_letter_reason or "",
            "DeadLetterErrorDescription": msg.dead_letter_description or "",
        }
        body = layout.application_pairs + b"".join(encode(k) + encode(v) for k, v in extra.items())
        parts.append(
            section(APPLICATION_PROPERTIES, compound(0xC1, body, layout.application_count + 4))
        )
    elif layout.application[1]:
        parts.append(raw[layout.application[0] : layout.application[1]])
    parts.append(raw[layout.body_start :])
    return b"".join(parts)


def lock_token_tag(token: uuid.UUID) -> bytes:
    """The delivery tag for a lock token: the SDK reads it back as UUID(bytes_le=tag)."""
    return token.bytes_le


__all__ = [
    "Layout",
    "Section",
    "lock_token_tag",
    "parse_envelope",
    "render",
    "sections",
    "split_batch",
    "Timestamp",
]
