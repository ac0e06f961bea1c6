"""What the poison and dead-letter tools show and return, and how a message's job is found."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: ``(body, application properties) -> job id or None``. `body` is the message body as the
#: function sees it (a storage message after base64 decoding); properties have str keys.
JobIdFinder = Callable[[bytes, Mapping[str, Any]], "str | None"]


def job_id_from(
    keys: Sequence[str] = ("jobId", "id"), *, app_property: str | None = "jobId"
) -> JobIdFinder:
    """A `JobIdFinder` reading the first of `keys` found in a JSON object body, else the
    application property `app_property` (Service Bus).

    Values that are not non-empty strings or integers are ignored.
    """

    def find(body: bytes, properties: Mapping[str, Any]) -> str | None:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if isinstance(parsed, dict):
            for key in keys:
                found = _as_id(parsed.get(key))
                if found is not None:
                    return found
        return None if app_property is None else _as_id(properties.get(app_property))

    return find


#: The default: ``"jobId"`` or ``"id"`` in a JSON body, else application property ``jobId``.
find_job_id: JobIdFinder = job_id_from()


@dataclass(frozen=True)
class DeadLetter:
    """A message in a poison queue or a dead-letter queue.

    Attributes
    ----------
    message_id:
        Its id in the poison queue (Storage: a new id the host gave the copy; Service Bus:
        the original message id).
    body:
        The body byte for byte as stored. A Storage poison copy is stored still encoded
        (base64 unless host.json says ``messageEncoding: none``): this is that text.
    decoded:
        The body as the function sees it (base64-decoded for Storage when it decodes).
    source, target:
        The poison/dead-letter queue it is in, and the entity a replay sends it to.
    dequeue_count:
        Storage: how often the *poison copy* was received (the original's count is not
        kept by the host; a `list` beyond 32 messages or a `show` by scan adds one).
    delivery_count:
        Service Bus: the broker's delivery count, as the SDK reports it.
    reason, description:
        Service Bus: ``DeadLetterReason`` and ``DeadLetterErrorDescription``. Storage keeps
        no reason: with a status store, the reason is the job's recorded error.
    enqueued_at:
        When it entered the poison queue (Storage) or was first enqueued (Service Bus).
    sequence_number:
        Service Bus only.
    properties:
        Service Bus application properties (str keys), without the dead-letter ones.
    job_id:
        The job it belongs to, if the `JobIdFinder` found one.
    """

    message_id: str
    body: bytes
    source: str
    target: str
    decoded: bytes
    dequeue_count: int | None = None
    delivery_count: int | None = None
    reason: str | None = None
    description: str | None = None
    enqueued_at: datetime | None = None
    sequence_number: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    job_id: str | None = None


@dataclass(frozen=True)
class Replayed:
    """One message replayed: where it went, and what happened to its job's status.

    Attributes
    ----------
    message_id:
        The dead letter's id.
    new_message_id:
        The copy's id on the target (Storage gives every message a new id).
    job_id, job_state:
        The job found in the message and its state after the replay (``Pending`` when a
        Failed job was retried; unchanged otherwise), or None.
    """

    message_id: str
    new_message_id: str
    target: str
    job_id: str | None = None
    job_state: str | None = None


def decode_storage_text(text: str, encoding: str) -> bytes:
    """What a queue trigger would hand the function for stored `text`: base64-decoded when
    `encoding` is ``"base64"`` and it decodes, else the text's UTF-8 bytes."""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    return text.encode("utf-8")


def text_properties(properties: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Application properties with str keys, and bytes values that are UTF-8 as str.

    The SDK's AMQP decoder reads string and binary values alike as bytes, so a value that
    decodes is taken for the string it almost always was; others stay bytes.
    """
    out: dict[str, Any] = {}
    for key, value in (properties or {}).items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        out[name] = _text_if_utf8(value) if isinstance(value, bytes) else value
    return out


def _text_if_utf8(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None
