"""What the app knows of one kind of job: its input schema, how it starts, how it runs.

Each job family (functions/orders.py, batch.py, ...) declares its `Kind`;
functions/catalog.py lists them. The API validates a submission against the kind's JSON
Schema (the same schema the OpenAPI document shows), records the job and calls `start`;
by default that sends a ticket to the dispatcher's priority queues (functions/tickets.py),
whose function calls `run` with the job's record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from shared.errors import JobCancelled
from shared.jobapi import JobKind, JobRequest
from shared.status import JobState, JobStatus

from .services import services

log = logging.getLogger(__name__)

Runner = Callable[[JobStatus], Awaitable[None]]
Starter = Callable[[JobStatus, JobRequest], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """What a one-step job produced: a small JSON result and, optionally, where its
    larger output is (a blob URL or name)."""

    result: Any = None
    location: str | None = None


@dataclass(frozen=True)
class Kind:
    """One kind of job.

    Attributes
    ----------
    name:
        The `kind` of a submission.
    summary:
        One line for the OpenAPI document.
    schema:
        JSON Schema (2020-12) of its `input`.
    run:
        Runs a recorded job (the dispatcher calls it); None when `start` hands the job
        to functions of its own.
    start:
        Hands a recorded job to its workers; None: the dispatcher's queues (priority and
        `run_at` honoured).
    keep:
        What the status record keeps of the input (default: all of it).
    retry, give_up:
        What the supervisor (functions/supervise.py) does with a stuck job of this kind,
        given its id: by default a dispatcher kind's ticket is sent again, and a kind that
        gives up nothing of its own is marked Failed.
    """

    name: str
    summary: str
    schema: Mapping[str, Any]
    run: Runner | None = None
    start: Starter | None = None
    keep: Callable[[Any], Any] | None = None
    retry: Callable[[str], Awaitable[None]] | None = None
    give_up: Callable[[str], Awaitable[None]] | None = None
    _validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.schema)
        object.__setattr__(self, "_validator", Draft202012Validator(self.schema))

    def problems(self, value: Any) -> list[tuple[str, str]]:
        """(field path, message) for each way `value` breaks the schema: `items[0].qty`."""
        found = [
            (_path(error.absolute_path), error.message)
            for error in self._validator.iter_errors(value)
        ]
        return sorted(found)

    def for_api(self, default_start: Starter) -> JobKind:
        """The kind as `shared.jobapi` takes it."""
        return JobKind(self.name, self.problems, self.start or default_start, self.keep)


def one_step(work: Callable[[JobStatus], Awaitable[Outcome]]) -> Runner:
    """A runner for a job done in one go: Pending → Running → Succeeded with what `work`
    returns; a cancellation requested meanwhile ends it Cancelled. Running again a job that
    is Running (a redelivery after a crash) does the work again: `work` must be
    idempotent (it overwrites its output). Its progress is one unit: 0/1, then 1/1."""

    async def run(job: JobStatus) -> None:
        store = services().status
        if job.state is JobState.PENDING:
            job = await store.transition(job, JobState.RUNNING, progress=(0, 1), message="started")
        try:
            done = await work(job)
        except JobCancelled:
            await store.cancel(await store.get(job.job_id))
            return
        try:
            await store.succeed(
                await store.get(job.job_id),
                progress=(1, 1),
                result=done.result,
                result_location=done.location,
                unless_cancelled=True,
            )
        except JobCancelled:
            await store.cancel(await store.get(job.job_id))

    return run


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
