"""The dispatcher: runs the jobs whose tickets arrive on ``jobs-high`` and ``jobs-normal``.

Priority (the guidance's "priority queue"): one queue per priority, and normal work steps
aside (`PriorityGate`) while high-priority tickets wait, for at most two minutes. A ticket
not due yet (a `run_at` past 7 days) goes back to wait. A job already final (cancelled while it
waited, or a duplicate ticket) is skipped.

A job whose run fails on its last delivery is marked Failed with the error before the host
moves the ticket to ``jobs-*-poison``, where it stays for an operator to inspect and replay
(`funchost poison replay queue:jobs-normal ID`, the dashboard, or `shared.deadletters`). A
replayed ticket is a new message (dequeue count 1) for a Failed job: it runs the job again,
as its next attempt under the same id. Should the Failed write itself fail (storage down),
the job stays Running and the supervisor (functions/supervise.py) finds it stuck.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.deadletters import last_attempt_fails_job
from shared.errors import JobNotFound
from shared.priority import Priority, PriorityGate
from shared.status import JobState

from . import tickets
from .catalog import KINDS
from .services import MAX_DEQUEUE_COUNT, services
from .tickets import QUEUES

log = logging.getLogger(__name__)
bp = func.Blueprint()

STORAGE = "AzureWebJobsStorage"


@bp.queue_trigger(arg_name="msg", queue_name="jobs-high", connection=STORAGE)
async def jobs_high(msg: func.QueueMessage) -> None:
    await _dispatch(msg, Priority.HIGH)


@bp.queue_trigger(arg_name="msg", queue_name="jobs-normal", connection=STORAGE)
async def jobs_normal(msg: func.QueueMessage) -> None:
    if await PriorityGate(services().account, QUEUES).step_aside(msg.get_body()):
        log.info("normal job steps aside: high-priority jobs are waiting")
        return
    await _dispatch(msg, Priority.NORMAL)


async def _dispatch(msg: func.QueueMessage, priority: Priority) -> None:
    job_id = await tickets.due(msg, priority)
    if job_id is None:
        return  # due later than a message can hide: it went back to wait
    store = services().status
    job = await store.find(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.state is JobState.FAILED and msg.dequeue_count == 1:
        # A fresh ticket for a Failed job is a replay; a redelivered one (dequeue count > 1)
        # would be the ticket that failed it, delivered again after a crash: skipped below.
        job = await store.retry(job.job_id, "replayed")
        log.info("job %s replayed: attempt %d", job.job_id, job.attempt + 1)
    if job.state.is_final:
        log.info("job %s is already %s: nothing to run", job.job_id, job.state.value)
        return
    kind = KINDS.get(job.kind)
    if kind is None or kind.run is None:
        raise ValueError(f"job {job.job_id}: the dispatcher does not run jobs of kind {job.kind!r}")
    async with last_attempt_fails_job(store, msg, max_attempts=MAX_DEQUEUE_COUNT):
        await kind.run(job)
