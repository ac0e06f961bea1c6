"""A stored message as delivered: a fresh header (delivery count, time to live) and fresh
broker annotations (sequence number, enqueued time, lock, state), then the sender's
properties, application properties and body copied byte for byte from its `Layout`.
A dead-lettered copy gets its DeadLetterReason/-ErrorDescription application properties."""

from __future__ import annotations

import struct

from ..broker.message import MessageState, StoredMessage
from .codec import (
    APPLICATION_PROPERTIES,
    FALSE,
    HEADER,
    MESSAGE_ANNOTATIONS,
    NULL,
    compound,
    encode_bool,
    encode_string,
    encode_symbol,
    encode_uint,
    section,
)
from .message_parsing import Layout

_UINT_MAX = 2**32 - 1
_SEQ = encode_symbol("x-opt-sequence-number")
_ENQUEUED = encode_symbol("x-opt-enqueued-time")
_LOCKED_UNTIL = encode_symbol("x-opt-locked-until")
_STATE = encode_symbol("x-opt-message-state")
_DL_SOURCE = encode_symbol("x-opt-deadletter-source")
_DL_REASON = encode_string("DeadLetterReason")
_DL_DESCRIPTION = encode_string("DeadLetterErrorDescription")
_HEADER = section(HEADER, b"")
_MESSAGE_ANNOTATIONS = section(MESSAGE_ANNOTATIONS, b"")
_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")


def render(
    msg: StoredMessage, locked_until: float | None = None, state: MessageState | None = None
) -> bytes:
    """The message as delivered: fresh header and broker annotations, the rest as sent.

    `locked_until` (epoch seconds) is set for a peek-locked delivery; `state` overrides
    the message's own (a deferred message received by sequence number shows as deferred).
    """
    layout: Layout = msg.envelope.wire
    raw = memoryview(msg.envelope.raw)
    parts: list[bytes | memoryview] = [
        _HEADER,
        _header(msg, layout),
        _MESSAGE_ANNOTATIONS,
        _annotations(msg, layout, locked_until, state),
    ]
    if layout.properties[1]:
        parts.append(raw[layout.properties[0] : layout.properties[1]])
    if msg.dead_letter_reason is not None or msg.dead_letter_description is not None:
        body = (
            layout.application_pairs
            + _DL_REASON
            + encode_string(msg.dead_letter_reason or "")
            + _DL_DESCRIPTION
            + encode_string(msg.dead_letter_description or "")
        )
        count = layout.application_count + 4
        parts.append(section(APPLICATION_PROPERTIES, compound(0xC1, body, count)))
    elif layout.application[1]:
        parts.append(raw[layout.application[0] : layout.application[1]])
    parts.append(raw[layout.body_start :])
    return b"".join(parts)


def _header(msg: StoredMessage, layout: Layout) -> bytes:
    """durable, priority, ttl, first-acquirer (false), delivery-count."""
    ttl = None
    if msg.expires_at is not None:
        ttl = max(0, round((msg.expires_at - msg.enqueued_at) * 1000))
    fields = (
        encode_bool(layout.durable)
        + (NULL if layout.priority is None else b"\x50" + bytes((layout.priority & 0xFF,)))
        + (encode_uint(ttl) if ttl is not None and ttl <= _UINT_MAX else NULL)
        + FALSE
        + encode_uint(msg.delivery_count)
    )
    return compound(0xC0, fields, 5)


def _annotations(
    msg: StoredMessage, layout: Layout, locked_until: float | None, state: MessageState | None
) -> bytes:
    """The broker's annotations (longs and timestamps, as the SDK expects them), then the
    sender's own minus any it tried to set of the broker's."""
    entries = [
        _SEQ,
        b"\x81",
        _LONG.pack(msg.seq),
        _ENQUEUED,
        b"\x83",
        _LONG.pack(round(msg.enqueued_at * 1000)),
    ]
    pairs = 2
    if locked_until is not None:
        entries += [_LOCKED_UNTIL, b"\x83", _LONG.pack(round(locked_until * 1000))]
        pairs += 1
    effective_state = msg.state if state is None else state
    if effective_state != MessageState.ACTIVE:
        entries += [_STATE, b"\x71", _INT.pack(int(effective_state))]
        pairs += 1
    if msg.dead_letter_source is not None:
        entries += [_DL_SOURCE, encode_string(msg.dead_letter_source)]
        pairs += 1
    entries.append(layout.annotation_pairs)
    # A map's count holds keys and values separately.
    return compound(0xC1, b"".join(entries), 2 * pairs + layout.annotation_count)
