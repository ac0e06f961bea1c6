"""The JSON documents every result path sends: the status, a reply, a completion event."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from ..status.model import JobStatus

EVENT_TYPE_PREFIX = "jobs.job."


def status_document(status: JobStatus) -> dict[str, Any]:
    """The final status as sent by callbacks (the same body as the status API)."""
    return status.to_dict()


def reply_document(status: JobStatus, correlation_id: str | None) -> dict[str, Any]:
    """A reply-queue message: the correlation id at the top, then the status."""
    return {
        "correlationId": correlation_id,
        "jobId": status.job_id,
        "status": status_document(status),
    }


def event_document(status: JobStatus, *, source: str = "/jobs") -> dict[str, Any]:
    """A CloudEvents 1.0 (structured JSON) completion event, e.g. type jobs.job.succeeded.

    CloudEvents so that Event Grid, or any consumer that knows the format, can route it.
    """
    return {
        "specversion": "1.0",
        "type": EVENT_TYPE_PREFIX + status.state.value.lower(),
        "source": f"{source.rstrip('/')}/{status.kind}",
        "id": uuid.uuid4().hex,
        "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "subject": status.job_id,
        "datacontenttype": "application/json",
        "data": status_document(status),
    }


def encode(document: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
