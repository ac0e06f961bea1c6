"""The dispatcher: runs the jobs whose tickets arrive on ``jobs-high`` and ``jobs-normal``.

Priority (the guidance's "priority queue"): one queue per priority, and normal work steps
aside (`PriorityGate`) while high-priority tickets wait, for at most two minutes. A ticket
not due yet (a `run_at` past 7 days) goes back to wait. A job already final (cancelled while it
waited, or a duplicate ticket) is skipped. A job whose run fails on its last delivery is
marked Failed with the error before the host moves the ticket to ``jobs-*-poison``; the
poison functions here make sure its record says so even when that write failed.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.deadletters import fail_job_of_dead_letter, last_attempt_fails_job
from shared.errors import JobNotFound
from shared.priority import Priority, PriorityGate

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


@bp.queue_trigger(arg_name="msg", queue_name="jobs-high-poison", connection=STORAGE)
async def jobs_high_poison(msg: func.QueueMessage) -> None:
    await _given_up(msg)


@bp.queue_trigger(arg_name="msg", queue_name="jobs-normal-poison", connection=STORAGE)
async def jobs_normal_poison(msg: func.QueueMessage) -> None:
    await _given_up(msg)


async def _dispatch(msg: func.QueueMessage, priority: Priority) -> None:
    job_id = await tickets.due(msg, priority)
    if job_id is None:
        return  # due later than a message can hide: it went back to wait
    store = services().status
    job = await store.find(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.state.is_final:
        log.info("job %s is already %s: nothing to run", job.job_id, job.state.value)
        return
    kind = KINDS.get(job.kind)
    if kind is None or kind.run is None:
        raise ValueError(f"job {job.job_id}: the dispatcher does not run jobs of kind {job.kind!r}")
    async with last_attempt_fails_job(store, msg, max_attempts=MAX_DEQUEUE_COUNT):
        await kind.run(job)


async def _given_up(msg: func.QueueMessage) -> None:
    job = await fail_job_of_dead_letter(services().status, msg)
    if job is not None:
        log.warning("job %s given up: %s", job.job_id, job.error or job.state.value)
