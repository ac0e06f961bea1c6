"""Retention: how long the library's rows live, and one clean-up call for a timer.

    retention = Retention(
        ledger=ledger, statuses=statuses, checkpoints=checkpoints, sequencer=sequencer,
        policy=RetentionPolicy(idempotency=timedelta(days=7), status=timedelta(days=30)),
    )

    @app.timer_trigger(schedule="0 */15 * * * *", arg_name="timer")
    async def clean_up(timer: func.TimerRequest) -> None:
        report = await retention.run()
        logging.info("retention: %s", report)

One run does a bounded amount of work per store (`RetentionPolicy.batch`) and the next run
goes on; it is safe on every instance at once (every delete is conditional on the row's
ETag, so a row changed meanwhile is kept, and a row another instance deleted first counts
as gone). A store that fails is reported and the others still run.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from azure.core.exceptions import AzureError

from ._tables import Clock, utcnow
from .checkpoints import CheckpointStore
from .errors import JobsError
from .idempotency import IdempotencyLedger
from .ordering import Sequencer
from .status import JobState, StatusStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept after its last change (None: never purged).

    Attributes
    ----------
    idempotency:
        Ledger keys, counted from their claim. Longer than a duplicate can arrive (queue
        message TTL, Service Bus redelivery, client retries), or the duplicate runs again.
    status:
        Final status records (Succeeded, Failed, Cancelled, Compensated).
    checkpoints:
        Checkpoints left behind (a finished job clears its own), and orphaned state blobs.
        A job still Pending or Running keeps its checkpoint; a Failed one keeps it until
        its status retention ends, so that a retry can resume from it.
    sequences:
        Per-key ordering state and deferred-message index rows, from their last write. A
        key forgotten starts again at its first sequence number.
    batch:
        At most this many rows (blobs) looked at per store per run.
    """

    idempotency: timedelta | None = timedelta(days=7)
    status: timedelta | None = timedelta(days=30)
    checkpoints: timedelta | None = timedelta(days=7)
    sequences: timedelta | None = timedelta(days=30)
    batch: int = 500


@dataclass(frozen=True)
class RetentionReport:
    """What one run deleted per store (``idempotency``, ``status``, ``checkpoints``,
    ``checkpoint_blobs``, ``sequences``), and the stores that failed, with why."""

    deleted: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


class Retention:
    """Purges the stores it is given, each by its own rule (see `RetentionPolicy`).

    Parameters
    ----------
    ledger, statuses, checkpoints, sequencer:
        The stores to clean (any may be None). With `statuses`, checkpoints of jobs still
        running, or Failed within the status retention, are kept.
    policy:
        How long each kind of row lives, and the batch size.
    clock:
        Returns aware UTC datetimes (for the Failed-job rule); injectable for tests.
    """

    def __init__(
        self,
        *,
        ledger: IdempotencyLedger | None = None,
        statuses: StatusStore | None = None,
        checkpoints: CheckpointStore | None = None,
        sequencer: Sequencer | None = None,
        policy: RetentionPolicy = RetentionPolicy(),
        clock: Clock = utcnow,
    ) -> None:
        self.ledger = ledger
        self.statuses = statuses
        self.checkpoints = checkpoints
        self.sequencer = sequencer
        self.policy = policy
        self.clock = clock

    async def run(self) -> RetentionReport:
        """One clean-up pass over every store; never raises for a store's failure (it is
        logged and reported in `RetentionReport.errors`)."""
        report = RetentionReport()
        for name, step in self._steps():
            try:
                report.deleted[name] = await step()
            except (JobsError, AzureError) as exc:
                log.warning("retention: purging %s failed", name, exc_info=True)
                report.errors[name] = f"{type(exc).__name__}: {exc}"
        return report

    def _steps(self) -> list[tuple[str, Callable[[], Awaitable[int]]]]:
        p, batch = self.policy, self.policy.batch
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = []
        if self.checkpoints is not None and p.checkpoints is not None:
            store, ttl = self.checkpoints, p.checkpoints
            # Before the status purge: the rule reads the records that purge removes.
            steps.append(("checkpoints", lambda: store.purge(ttl, limit=batch, keep=self._keep)))
            steps.append(("checkpoint_blobs", lambda: store.purge_blobs(ttl, limit=batch)))
        if self.statuses is not None and p.status is not None:
            steps.append(("status", _bounded(self.statuses.purge, p.status, batch)))
        if self.ledger is not None and p.idempotency is not None:
            steps.append(("idempotency", _bounded(self.ledger.purge, p.idempotency, batch)))
        if self.sequencer is not None and p.sequences is not None:
            sequencer, ttl_s = self.sequencer, p.sequences
            steps.append(("sequences", lambda: sequencer.purge(ttl_s, limit=batch)))
        return steps

    async def _keep(self, job_id: str) -> bool:
        """Keep the checkpoint of a job still running, or Failed within its retention."""
        if self.statuses is None:
            return False
        status = await self.statuses.find(job_id)
        if status is None:
            return False
        if not status.state.is_final:
            return True
        if status.state is not JobState.FAILED or status.updated_at is None:
            return False
        ttl = self.policy.status
        return ttl is None or status.updated_at > self.clock() - ttl


def _bounded(
    purge: Callable[..., Awaitable[int]], older_than: timedelta, limit: int
) -> Callable[[], Awaitable[int]]:
    """`purge(older_than)`, with ``limit=`` when the store's purge accepts it (the status
    store and the ledger purge everything due in one call until they do)."""
    accepts_limit = "limit" in inspect.signature(purge).parameters
    kwargs: dict[str, Any] = {"limit": limit} if accepts_limit else {}
    return lambda: purge(older_than, **kwargs)
