"""What a poison or dead-lettered message looks like when listed, and what a replay did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PREVIEW = 120  # characters of a body shown in a list


@dataclass(frozen=True)
class Letter:
    """One failed message, as stored.

    Attributes:
        message_id: its id in the poison / dead-letter queue (what show/replay/purge take).
        body: the stored body: a storage queue message's text (still encoded, as the host
            copied it) or a Service Bus message's bytes. A replay sends exactly this.
        text: the body for reading (base64 decoded for a storage queue that encodes).
        count: dequeue count (storage) or delivery count (Service Bus).
        reason, description: the broker's DeadLetterReason and DeadLetterErrorDescription.
        job_id: `jobId` (or `id`) of a JSON object body, else the `jobId` property: the
            jobs library's convention, so the dashboard can link a message to its job.
    """

    message_id: str
    body: bytes
    text: str
    count: int | None = None
    enqueued: datetime | None = None
    reason: str | None = None
    description: str | None = None
    sequence: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    job_id: str | None = None

    @property
    def preview(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "body": self.text,
            "dequeueCount": self.count,
            "enqueued": self.enqueued.isoformat() if self.enqueued else None,
            "reason": self.reason,
            "description": self.description,
            "sequenceNumber": self.sequence,
            "properties": dict(self.properties),
            "jobId": self.job_id,
        }


@dataclass(frozen=True)
class Replayed:
    message_id: str  # in the poison / dead-letter queue
    new_id: str  # of the copy sent
    target: str
    job_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "newMessageId": self.new_id,
            "target": self.target,
            "jobId": self.job_id,
        }


class LetterNotFound(LookupError):
    def __init__(self, where: str, message_id: str) -> None:
        super().__init__(f"no message '{message_id}' in {where}")


def job_id_of(text: str, properties: Mapping[str, Any]) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("jobId", "id"):
            if isinstance(parsed.get(key), str | int) and parsed[key] != "":
                return str(parsed[key])
    value = properties.get("jobId")
    return str(value) if value not in (None, "") else None
