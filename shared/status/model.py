"""Job states, the transitions between them, and the status record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ..errors import InvalidTransition


class JobState(str, Enum):
    """Where a job is in its life. The last three are final: nothing leaves them."""

    PENDING = "Pending"  # accepted and queued; no worker has started it yet
    RUNNING = "Running"  # a worker is executing it (progress updates stay in this state)
    SUCCEEDED = "Succeeded"  # final: finished; the result is at `result_location`
    FAILED = "Failed"  # final: gave up; `error` says why
    CANCELLED = "Cancelled"  # final: stopped on a cancellation request

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

#: The allowed moves. Running -> Running is a progress update; Running -> Pending hands the
#: job back to the queue (a worker that gives up its attempt); final states go nowhere.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset(
        {
            JobState.RUNNING,
            JobState.PENDING,
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        }
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def check_transition(job_id: str, from_state: JobState, to_state: JobState) -> None:
    """Raise `InvalidTransition` (naming both states) unless the move is allowed."""
    if to_state not in TRANSITIONS[from_state]:
        raise InvalidTransition(job_id, from_state, to_state)


@dataclass(frozen=True)
class JobStatus:
    """A job's status record, as stored and as served by the status API.

    Attributes
    ----------
    job_id, kind:
        The job's id and its family (e.g. ``"thumbnail"``).
    state:
        A `JobState`.
    progress:
        0-100.
    message:
        A short human-readable note on the latest change.
    result_location:
        Where the result is (e.g. a blob URL) once Succeeded.
    error:
        Why it failed, once Failed.
    correlation_id:
        The caller's id for the request, echoed on replies, callbacks and events.
    created_at, updated_at:
        Aware UTC times of creation and of the last change.
    attempt:
        How many times a worker started it (Pending -> Running increments it).
    cancel_requested:
        A cancellation was asked for; the running job should stop at its next check.
    reply_to, callback_url:
        Where to send the final status (a reply queue/entity, a webhook URL), if anywhere.
    etag:
        The record version; updates are conditional on it.
    """

    job_id: str
    kind: str
    state: JobState
    progress: int = 0
    message: str = ""
    result_location: str | None = None
    error: str | None = None
    correlation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attempt: int = 0
    cancel_requested: bool = False
    reply_to: str | None = None
    callback_url: str | None = None
    etag: str = field(default="", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready camelCase fields (the status API's body)."""
        return {
            "jobId": self.job_id,
            "kind": self.kind,
            "state": self.state.value,
            "progress": self.progress,
            "message": self.message,
            "resultLocation": self.result_location,
            "error": self.error,
            "correlationId": self.correlation_id,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "attempt": self.attempt,
            "cancelRequested": self.cancel_requested,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
