"""Job states, the transitions between them, and the status record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ..errors import InvalidTransition


class JobState(str, Enum):
    """Where a job is in its life. The last four are final: nothing leaves them (but an
    explicit retry of a Failed job, `StatusStore.retry`)."""

    PENDING = "Pending"  # accepted and queued; no worker has started it yet
    RUNNING = "Running"  # a worker is executing it (progress updates stay in this state)
    SUCCEEDED = "Succeeded"  # final: finished; `result` (or `result_location`) holds it
    FAILED = "Failed"  # final: gave up; `error` says why
    CANCELLED = "Cancelled"  # final: stopped on a cancellation request before any effect
    COMPENSATED = "Compensated"  # final: stopped, and the steps it had done were undone

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.COMPENSATED})

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
            JobState.COMPENSATED,
        }
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.COMPENSATED: frozenset(),
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
    done, total:
        Progress: units of work done out of `total` (0 while unknown); `progress` is the
        percentage.
    message:
        A short human-readable note on the latest change.
    result_location:
        Where the result is (e.g. a blob URL) once Succeeded.
    result:
        A small JSON result, once Succeeded (or what was undone, once Compensated).
    input:
        The job's input as accepted (small JSON), so a failed job can be run again.
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
    run_at:
        For a delayed job, when it is due (until then a Pending job is waiting, not stuck).
    etag:
        The record version; updates are conditional on it.
    """

    job_id: str
    kind: str
    state: JobState
    done: int = 0
    total: int = 0
    message: str = ""
    result_location: str | None = None
    result: Any = None
    input: Any = None
    error: str | None = None
    correlation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attempt: int = 0
    cancel_requested: bool = False
    reply_to: str | None = None
    callback_url: str | None = None
    run_at: datetime | None = None
    etag: str = field(default="", repr=False, compare=False)

    @property
    def progress(self) -> int:
        """Percent done (100 once Succeeded; 0 while the total is unknown)."""
        if self.state is JobState.SUCCEEDED:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        """The record as the status API serves it (callbacks and replies send the same)."""
        body: dict[str, Any] = {
            "id": self.job_id,
            "kind": self.kind,
            "status": self.state.value,
            "progress": {"done": self.done, "total": self.total},
            "message": self.message,
            "attempt": self.attempt,
            "created": _iso(self.created_at),
            "updated": _iso(self.updated_at),
        }
        if self.state in (JobState.SUCCEEDED, JobState.COMPENSATED):
            body["result"] = self.result
            if self.result_location:
                body["resultLocation"] = self.result_location
        if self.error:
            body["error"] = self.error
        if self.correlation_id:
            body["correlationId"] = self.correlation_id
        if self.cancel_requested and not self.state.is_final:
            body["cancelRequested"] = True
        if self.run_at is not None:
            body["runAt"] = _iso(self.run_at)
        return body


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
