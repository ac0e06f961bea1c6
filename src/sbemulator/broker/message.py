"""The broker's view of a message, independent of AMQP.

An `Envelope` is what a sender sent: immutable, shared by every copy of the message
(a topic's subscriptions, the dead-letter queue). A `StoredMessage` is one copy in one
entity, with the state the broker changes: sequence number, lock, delivery count,
deferral, dead-letter reason.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SYSTEM = {
    "messageid": "message_id",
    "correlationid": "correlation_id",
    "to": "to",
    "replyto": "reply_to",
    "label": "subject",
    "subject": "subject",
    "contenttype": "content_type",
    "sessionid": "session_id",
    "replytosessionid": "reply_to_session_id",
    "partitionkey": "partition_key",
    "timetolive": "time_to_live",
    "scheduledenqueuetimeutc": "scheduled_enqueue_time",
}


@dataclass(frozen=True, slots=True)
class MessageProperties:
    """The properties filters, sessions and duplicate detection read."""

    message_id: str | None = None
    correlation_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    content_type: str | None = None
    session_id: str | None = None
    reply_to_session_id: str | None = None
    partition_key: str | None = None
    time_to_live: float | None = None  # seconds, as the sender set it
    scheduled_enqueue_time: float | None = None  # epoch seconds
    user: Mapping[str, Any] = field(default_factory=dict)

    def system_property(self, name: str) -> Any:
        """`sys.<name>` of the SQL filter language; `name` lower-case."""
        attr = _SYSTEM.get(name)
        return getattr(self, attr) if attr else None

    @property
    def user_properties(self) -> Mapping[str, Any]:
        return self.user


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message as sent: `raw` is its standalone AMQP encoding (what is persisted);
    `wire` is the codec's pre-parsed form of it, opaque to the broker."""

    properties: MessageProperties
    raw: bytes = b""
    wire: Any = None

    @property
    def size(self) -> int:
        return len(self.raw)


class MessageState(enum.IntEnum):
    # Values are the SDK's ServiceBusMessageState, sent as x-opt-message-state.
    ACTIVE = 0
    DEFERRED = 1
    SCHEDULED = 2


@dataclass(slots=True, eq=False)
class StoredMessage:
    """One copy of a message in one entity."""

    seq: int
    envelope: Envelope
    enqueued_at: float
    expires_at: float | None = None
    state: MessageState = MessageState.ACTIVE
    scheduled_at: float | None = None
    # Failed attempts so far: abandons, lock expiries. Sent as the header's delivery-count.
    delivery_count: int = 0
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    dead_letter_source: str | None = None
    # Peek-lock state; not persisted (a restart drops every lock).
    lock_token: uuid.UUID | None = None
    locked_until: float = 0.0
    lock_owner: object | None = None

    @property
    def session_id(self) -> str | None:
        return self.envelope.properties.session_id

    @property
    def message_id(self) -> str | None:
        return self.envelope.properties.message_id

    @property
    def locked(self) -> bool:
        return self.lock_token is not None

    def copy_for(self, seq: int, enqueued_at: float) -> StoredMessage:
        """A fresh copy for another entity (forwarding): new sequence number, no lock."""
        return StoredMessage(seq, self.envelope, enqueued_at, self.expires_at, delivery_count=0)
