"""Chained steps with compensation (a saga): pipes and filters plus compensating transactions.

    saga = Saga("order", [
        Step("reserve", reserve_stock, compensate=release_stock, destination="order-reserve"),
        Step("charge", charge_payment, compensate=refund_payment, destination="order-charge"),
        Step("ship", ship),
        Step("notify", notify_customer),
    ], status=status, ledger=ledger, transport=transport, destination="order-steps")

    await saga.start(job)                       # after the job API recorded it

    # each step's function (one per destination, or one for all)
    await saga.handle(msg.get_json(), last_attempt=msg.dequeue_count >= 5)

Forward, each step runs once per job (the idempotency ledger, keyed by the job and the
step) and sends the next step's message; its output is kept for the steps after it and for
its compensation. A step that raises `StepFailed`, or fails on its last delivery, or a
cancellation seen between steps, turns the saga around: the compensations of the steps
that completed run in reverse order, each once, each through its own message, and the job
ends `Compensated` with the compensations listed in its result (`Failed` when nothing had
completed, `Cancelled` when a cancellation came before the first step). A transient error
on an earlier delivery just raises: the broker delivers the message again. Messages carry
the job id and the step, so a duplicate or a late message of a finished job changes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument, JobCancelled, JobsError
from ..idempotency import IdempotencyLedger, Outcome
from ..status import JobState, JobStatus, StatusStore
from ..transport import Transport

log = logging.getLogger(__name__)


class StepFailed(JobsError):
    """A step failed for good (not worth retrying): compensate the steps before it."""


@dataclass(frozen=True)
class StepContext:
    """What a step (or a compensation) gets.

    Attributes
    ----------
    job:
        The job's status record (its `input` is the job's input).
    outputs:
        The outputs of the steps completed before this one, by step name.
    """

    job: JobStatus
    outputs: Mapping[str, Any]

    @property
    def input(self) -> Any:
        return self.job.input


StepFn = Callable[[StepContext], Awaitable[Any]]


@dataclass(frozen=True)
class Step:
    """One step: `run` returns its (small JSON) output; `compensate` undoes it."""

    name: str
    run: StepFn
    compensate: StepFn | None = None
    destination: str | None = None  # the queue/entity of its messages; the saga's default


@dataclass(frozen=True)
class SagaMessage:
    """What a saga's messages carry."""

    saga: str
    job_id: str
    step: int
    undo: bool = False

    def to_body(self) -> dict[str, Any]:
        return {"saga": self.saga, "jobId": self.job_id, "step": self.step, "undo": self.undo}

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SagaMessage:
        try:
            return cls(str(body["saga"]), str(body["jobId"]), int(body["step"]), bool(body["undo"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a saga message ({exc!r}): {body!r}") from None


@dataclass
class Saga:
    """A named chain of steps over a job's status record.

    Parameters
    ----------
    name:
        Names the saga in its messages and ledger scopes.
    steps:
        In order.
    status, ledger, transport:
        Where the job's record lives, what makes each step run once, what carries messages.
    destination:
        Where a step's messages go unless it names its own.
    session_of:
        The Service Bus session id for a job (e.g. its customer), so one customer's orders
        go through the steps in order; None without sessions.
    """

    name: str
    steps: Sequence[Step]
    status: StatusStore
    ledger: IdempotencyLedger
    transport: Transport
    destination: str
    session_of: Callable[[JobStatus], str | None] = field(default=lambda job: None)

    def __post_init__(self) -> None:
        if not self.steps:
            raise InvalidArgument(f"saga {self.name!r} has no steps")

    async def start(self, job: JobStatus) -> None:
        """Send the first step's message for a recorded (Pending) job."""
        await self._send(job, SagaMessage(self.name, job.job_id, 0))

    async def handle(self, body: Mapping[str, Any], *, last_attempt: bool = False) -> None:
        """Process one saga message (`last_attempt`: the broker will not deliver it again,
        so a failure now is for good)."""
        message = SagaMessage.from_body(body)
        if message.saga != self.name:
            raise InvalidArgument(f"message of saga {message.saga!r} given to {self.name!r}")
        job = await self.status.get(message.job_id)
        if job.state.is_final:
            return  # a duplicate, or a late message of a finished job
        if message.undo:
            await self._undo(job, message.step)
        else:
            await self._forward(job, message.step, last_attempt)

    async def abort(self, job_id: str, reason: str) -> None:
        """Turn the saga around now (a supervisor giving up on a stuck job): compensate
        the steps completed so far."""
        job = await self.status.get(job_id)
        if not job.state.is_final:
            await self._turn_around(job, len(self.steps), reason)

    async def resume(self, job_id: str) -> None:
        """Send again the message of the first step not done (a supervisor retrying a
        stuck job; a step already done is skipped by the ledger anyway)."""
        job = await self.status.get(job_id)
        if job.state.is_final:
            return
        done = await self._completed(job)
        await self._send(job, SagaMessage(self.name, job.job_id, len(done)))

    # -- forward --------------------------------------------------------------------------
    async def _forward(self, job: JobStatus, index: int, last_attempt: bool) -> None:
        if job.cancel_requested:
            await self._turn_around(job, index, "cancelled")
            return
        if job.state is JobState.PENDING:
            job = await self.status.start(job, message=f"step {self.steps[index].name}")
        step = self.steps[index]
        outputs = await self._outputs(job, index)
        try:
            async with self.ledger.guard(job.job_id, scope=self._scope(step, undo=False)) as g:
                if g.duplicate_of is None:
                    g.result = await step.run(StepContext(job, outputs))
        except StepFailed as exc:
            await self._turn_around(job, index, f"step {step.name} failed: {exc}")
            return
        except Exception as exc:
            if not last_attempt:
                raise  # transient: the broker delivers it again
            await self._turn_around(job, index, f"step {step.name} failed: {exc}")
            return
        await self._after(job, index)

    async def _after(self, job: JobStatus, index: int) -> None:
        total = len(self.steps)
        job = await self.status.report_progress(
            job, index + 1, total, f"{self.steps[index].name} done"
        )
        if index + 1 < total:
            await self._send(job, SagaMessage(self.name, job.job_id, index + 1))
            return
        names = [s.name for s in self.steps]
        outputs = await self._outputs(job, total)
        try:
            await self.status.succeed(
                job, result={"steps": names, "outputs": outputs}, unless_cancelled=True
            )
        except JobCancelled:  # requested while the last step ran: every step is undone
            await self._turn_around(await self.status.get(job.job_id), total, "cancelled")

    # -- backward -------------------------------------------------------------------------
    async def _turn_around(self, job: JobStatus, failed_at: int, reason: str) -> None:
        """Compensate the steps before `failed_at` that completed, last first. Once per
        job: a duplicate of the message that turned it around changes nothing."""
        async with self.ledger.guard(job.job_id, scope=f"{self.name}:turn") as guard:
            if guard.duplicate_of is not None:
                return
            undo = [i for i in await self._completed(job) if i < failed_at]
            guard.result = {"reason": reason, "undo": undo}
            if not undo:
                if reason == "cancelled":
                    await self.status.cancel(job, message="cancelled before any step")
                else:
                    await self.status.fail(job, reason)
                return
            log.warning(
                "saga %s, job %s: %s; compensating %d step(s)",
                self.name,
                job.job_id,
                reason,
                len(undo),
            )
            job = await self.status.transition(
                job, JobState.RUNNING, message=f"compensating: {reason}", error=reason
            )
            await self._send(job, SagaMessage(self.name, job.job_id, max(undo), undo=True))

    async def _undo(self, job: JobStatus, index: int) -> None:
        step = self.steps[index]
        if step.compensate is not None:
            outputs = await self._outputs(job, index + 1)
            async with self.ledger.guard(job.job_id, scope=self._scope(step, undo=True)) as g:
                if g.duplicate_of is None:
                    g.result = await step.compensate(StepContext(job, outputs))
        earlier = [i for i in await self._completed(job) if i < index]
        if earlier:
            await self._send(job, SagaMessage(self.name, job.job_id, max(earlier), undo=True))
            return
        turned = await self.ledger.get(job.job_id, scope=f"{self.name}:turn")
        undo = turned.result["undo"] if turned is not None else []
        undone = [self.steps[i] for i in reversed(undo) if self.steps[i].compensate]
        what = {}
        for step in undone:  # what each compensation returned, e.g. the amount refunded
            record = await self.ledger.get(job.job_id, scope=self._scope(step, undo=True))
            what[step.name] = record.result if record is not None else None
        result = {"compensated": [s.name for s in undone], "undone": what, "reason": job.error}
        await self.status.compensate(job, result=result, message="compensated")

    # -- plumbing -------------------------------------------------------------------------
    async def _completed(self, job: JobStatus) -> list[int]:
        """Indexes of the steps that completed, in order."""
        done = []
        for i, step in enumerate(self.steps):
            record = await self.ledger.get(job.job_id, scope=self._scope(step, undo=False))
            if record is not None and record.outcome is Outcome.SUCCEEDED:
                done.append(i)
        return done

    async def _outputs(self, job: JobStatus, before: int) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for step in self.steps[:before]:
            record = await self.ledger.get(job.job_id, scope=self._scope(step, undo=False))
            if record is not None and record.outcome is Outcome.SUCCEEDED:
                outputs[step.name] = record.result
        return outputs

    async def _send(self, job: JobStatus, message: SagaMessage) -> None:
        step = self.steps[message.step]
        await self.transport.send(
            step.destination or self.destination,
            message.to_body(),
            session_id=self.session_of(job),
        )

    def _scope(self, step: Step, *, undo: bool) -> str:
        return f"{self.name}:{'undo' if undo else 'do'}:{step.name}"
