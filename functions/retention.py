"""``nightly_retention`` (02:30 UTC): removes what outlived its retention (the library's
`shared.retention`): idempotency keys after 7 days, final status records after 30, left-over
checkpoints after 7 (a Failed job's until its record goes). Each pass is bounded; the
timer runs passes until one finds less than a full batch, or for 10 minutes at most, so a
busy day is cleaned up in one night and a quiet one in a single pass."""

from __future__ import annotations

import functools
import logging
import time

import azure.functions as func

from shared.checkpoints import CheckpointStore
from shared.retention import Retention, RetentionPolicy, RetentionReport

from .services import services

log = logging.getLogger(__name__)
bp = func.Blueprint()

BUDGET_SECONDS = 600


@functools.cache
def retention() -> Retention:
    s = services()
    return Retention(
        ledger=s.ledger,
        statuses=s.status,
        checkpoints=CheckpointStore(s.account),
        policy=RetentionPolicy(),
    )


async def clean_up(budget: float = BUDGET_SECONDS) -> RetentionReport:
    """Passes until the stores are clean or the budget is spent; the totals."""
    total = RetentionReport()
    deadline = time.monotonic() + budget
    while True:
        report = await retention().run()
        for store, count in report.deleted.items():
            total.deleted[store] = total.deleted.get(store, 0) + count
        total.errors.update(report.errors)
        full = any(n >= retention().policy.batch for n in report.deleted.values())
        if report.errors or not full or time.monotonic() > deadline:
            return total


@bp.timer_trigger(schedule="0 30 2 * * *", arg_name="timer")
async def nightly_retention(timer: func.TimerRequest) -> None:
    report = await clean_up()
    log.info("retention: deleted %s (%d in all)", report.deleted, report.total)
    if report.errors:
        log.warning("retention: could not clean %s", report.errors)
