"""Messages as senders send them: locate the sections, decode the properties the broker
needs, and split batch envelopes. What is kept is the sender's bytes plus a `Layout` of
them, from which `message_rendering` writes a delivery without decoding again."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..broker.message import Envelope, MessageProperties
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
    decode,
    skip,
)


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
            value, _ = decode(raw, s.value)
            header = (value if isinstance(value, list) else []) + [None] * 5
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
