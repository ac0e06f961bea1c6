"""Tickets: the messages that hand a recorded job to the dispatcher (functions/dispatch.py).

A ticket names the job (``{"jobId": ...}``); the job's input stays in its status record.
It goes to ``jobs-high`` or ``jobs-normal`` (`shared.priority`), hidden until the job's
`run_at`, and never expires: `shared.delayed` hides it 7 days at a time for a later
`run_at` (Azure's cap), and the dispatcher's `due` re-enqueues it until it is due.
"""

from __future__ import annotations

from datetime import datetime, timezone

import azure.functions as func

from shared.delayed import DelayedQueue
from shared.jobapi import JobRequest
from shared.priority import Priority, PriorityQueues
from shared.status import JobStatus

from .services import json_body, services

QUEUES = PriorityQueues("jobs")  # jobs-high and jobs-normal (functions/dispatch.py)


def queue(priority: Priority) -> DelayedQueue:
    return DelayedQueue(services().account, QUEUES.name(priority))


async def send(job_id: str, priority: Priority, run_at: datetime | None = None) -> None:
    """A ticket for the job on the queue of `priority`, visible at `run_at` (now if None)."""
    await queue(priority).send({"jobId": job_id}, at=run_at or datetime.now(timezone.utc))


async def due(msg: func.QueueMessage, priority: Priority) -> str | None:
    """The job id of a ticket that is due; None when it went back to wait (the function
    then returns). ValueError names what is wrong with a ticket that is not one."""
    body = await queue(priority).arrived(msg)
    if body is None:
        return None
    job_id = json_body(body).get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"a ticket needs a jobId string, got {body!r}")
    return job_id


async def enqueue(job: JobStatus, request: JobRequest) -> None:
    """The default `start` of a kind: a ticket on the queue of the request's priority."""
    await send(job.job_id, Priority(request.priority), request.run_at)
