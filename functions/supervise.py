"""The supervisor of scheduler-agent-supervisor: every 5 minutes, jobs that stopped moving
are retried (an order's step or a dispatcher ticket is sent again: the work is idempotent,
so a job that was only slow is not harmed), up to 3 times; then an order is compensated and
any other job is marked Failed. Two instances sweeping together act once per job (the
record's ETag decides)."""

from __future__ import annotations

import functools
import logging

import azure.functions as func

from shared.coordination import Supervisor
from shared.coordination.supervisor import Handler
from shared.priority import Priority

from . import tickets
from .catalog import KINDS
from .services import STUCK_AFTER, services

log = logging.getLogger(__name__)
bp = func.Blueprint()


async def resend_ticket(job_id: str) -> None:
    """Hand a dispatcher job to the dispatcher again (due now: its `run_at` has passed)."""
    job = await services().status.get(job_id)
    await tickets.send(job.job_id, Priority.NORMAL, job.run_at)


@functools.cache
def supervisor() -> Supervisor:
    retry: dict[str, Handler] = {}
    give_up: dict[str, Handler] = {}
    for kind in KINDS.values():
        if kind.retry is not None:
            retry[kind.name] = kind.retry
        elif kind.start is None:
            retry[kind.name] = resend_ticket
        if kind.give_up is not None:
            give_up[kind.name] = kind.give_up
    return Supervisor(services().status, stuck_after=STUCK_AFTER, retry=retry, give_up=give_up)


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
async def supervise_jobs(timer: func.TimerRequest) -> None:
    report = await supervisor().sweep()
    if report.skipped:
        log.info("supervisor: %d job(s) moved while it looked", len(report.skipped))
