"""Tickets: the messages that hand a recorded job to the dispatcher (functions/dispatch.py).

A ticket names the job and, for a delayed job, when it may run; the job's input stays in
its status record. It goes to ``jobs-high`` or ``jobs-normal`` (`shared.priority`) and is
invisible until `run_at`. A Storage queue message can be hidden for at most 7 days, so a
later `run_at` hides it 7 days at a time: the dispatcher sends it again until it is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.jobapi import JobRequest
from shared.priority import Priority, PriorityQueues
from shared.status import JobStatus
from shared.transport import MAX_STORAGE_DELAY

from .services import services

QUEUES = PriorityQueues("jobs")  # jobs-high and jobs-normal (functions/dispatch.py)


@dataclass(frozen=True)
class Ticket:
    """`{"jobId": ..., "priority": "normal", "runAt": "<ISO 8601>"}` (runAt optional)."""

    job_id: str
    priority: Priority = Priority.NORMAL
    run_at: datetime | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"jobId": self.job_id, "priority": self.priority.value}
        if self.run_at is not None:
            body["runAt"] = self.run_at.isoformat()
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Ticket:
        """The ticket in a message body (ValueError says what is wrong with it)."""
        job_id = body.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"a ticket needs a jobId string, got {body!r}")
        try:
            priority = Priority(body.get("priority", "normal"))
            run_at = datetime.fromisoformat(body["runAt"]) if body.get("runAt") else None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ticket of job {job_id}: {exc}") from None
        return cls(job_id, priority, run_at)

    def wait(self, now: datetime) -> timedelta | None:
        """How much longer the job must wait (None: it is due)."""
        if self.run_at is None or self.run_at <= now:
            return None
        return self.run_at - now

    async def send(self, now: datetime) -> None:
        """To its priority queue, hidden until it is due (7 days at most at a time)."""
        delay = self.wait(now)
        if delay is not None:
            delay = min(delay, MAX_STORAGE_DELAY)
        await services().queues.send(QUEUES.name(self.priority), self.to_body(), delay=delay)


async def enqueue(job: JobStatus, request: JobRequest) -> None:
    """The default `start` of a kind: a ticket on the queue of the request's priority."""
    ticket = Ticket(job.job_id, Priority(request.priority), request.run_at)
    await ticket.send(datetime.now(timezone.utc))
