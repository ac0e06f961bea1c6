"""The supervisor of scheduler-agent-supervisor: a timer's sweep over the status records
for jobs that stopped moving, retried while they have attempts left, then given up.

    supervisor = Supervisor(status, stuck_after=timedelta(minutes=15),
                            retry={"order": order_saga.resume, "batch": restart_batch},
                            give_up={"order": order_saga.abort})

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
    async def supervise(timer: func.TimerRequest) -> None:
        report = await supervisor.sweep()

A job is stuck when it is Pending or Running and its record has not changed for
`stuck_after` (a delayed job: `stuck_after` past its `run_at`): a worker that died, a
message that went to poison unnoticed, a step that hangs. Its kind's `retry` handler
runs (re-send its message: the work is idempotent, so a job that was only slow is not
harmed) until the job has been retried `max_retries` times; then its kind's `give_up`
handler runs (compensate a saga), or the job is marked Failed. Each action is recorded
on the job (its message), and a sweep changes a job at most once, so two supervisors on
two instances may sweep at the same time: the record's ETag decides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from .._tables import utcnow
from ..errors import InvalidTransition, StatusConflict
from ..status import JobState, JobStatus, StatusStore

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]  # given the job id
RETRIED = "supervisor: retried"


@dataclass
class SweepReport:
    """What a sweep did, by job id."""

    retried: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed meanwhile (someone moved it)


class Supervisor:
    """Finds stuck jobs and retries or gives them up.

    Parameters
    ----------
    status:
        The status store to sweep.
    stuck_after:
        How long without a change makes a Pending or Running job stuck.
    retry, give_up:
        Handlers by job kind, given the job id.
    max_retries:
        Retries per job before giving up.
    """

    def __init__(
        self,
        status: StatusStore,
        *,
        stuck_after: timedelta,
        retry: Mapping[str, Handler] | None = None,
        give_up: Mapping[str, Handler] | None = None,
        max_retries: int = 3,
    ) -> None:
        self.status = status
        self.stuck_after = stuck_after
        self.retry = dict(retry or {})
        self.give_up = dict(give_up or {})
        self.max_retries = max_retries

    async def stuck(self, *, limit: int = 100) -> list[JobStatus]:
        """Pending and Running jobs unchanged for `stuck_after`, oldest first."""
        cutoff = utcnow() - self.stuck_after
        found: list[JobStatus] = []
        for state in (JobState.RUNNING, JobState.PENDING):
            found += await self.status.list(state=state, updated_before=cutoff, limit=limit)
        # A delayed job waits until it is due: stuck only `stuck_after` past its `run_at`.
        found = [j for j in found if j.run_at is None or j.run_at < cutoff]
        found.sort(key=lambda job: job.updated_at or cutoff)
        return found[:limit]

    async def sweep(self, *, limit: int = 100) -> SweepReport:
        """One pass: act on each stuck job once."""
        report = SweepReport()
        for job in await self.stuck(limit=limit):
            try:
                await self._act(job, report)
            except (StatusConflict, InvalidTransition):
                report.skipped.append(job.job_id)  # it moved meanwhile: not stuck after all
        if report.retried or report.given_up or report.failed:
            log.warning(
                "supervisor: retried %s, gave up %s, failed %s",
                report.retried,
                report.given_up,
                report.failed,
            )
        return report

    async def _act(self, job: JobStatus, report: SweepReport) -> None:
        retried = _retries(job)
        if retried < self.max_retries and job.kind in self.retry:
            # Touch the record first (ETag-conditional): of two sweeps, one retries.
            await self._note(job, f"{RETRIED} {retried + 1} of {self.max_retries}")
            await self.retry[job.kind](job.job_id)
            report.retried.append(job.job_id)
        elif job.kind in self.give_up:
            await self._note(job, "supervisor: giving up")
            await self.give_up[job.kind](job.job_id)
            report.given_up.append(job.job_id)
        else:
            reason = f"stuck since {job.updated_at}; retried {retried} time(s)"
            await self.status.fail(job, f"supervisor: {reason}")
            report.failed.append(job.job_id)

    async def _note(self, job: JobStatus, message: str) -> None:
        """Record the action on the job: a conditional write, so it fails (StatusConflict)
        when another sweep, or the job itself, changed it since it was read."""
        await self.status.note(job, message)


def _retries(job: JobStatus) -> int:
    """How often the supervisor retried `job` (its message says "retried N of M")."""
    if not job.message.startswith(RETRIED):
        return 0
    try:
        return int(job.message[len(RETRIED) :].split()[0])
    except (IndexError, ValueError):
        return 0
