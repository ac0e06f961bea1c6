"""`Guard`: claim a key, keep its lease alive while the work runs, record the outcome.

    async with ledger.guard(key) as g:
        if g.duplicate:
            return g.record.result          # done before: same answer, no second effect
        result = await do_the_work()
        g.result = result                   # recorded when the block exits normally

On an exception the claim is released (the message's redelivery redoes the work) or, with
``record_failures=True``, the failure is recorded so duplicates do not retry it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from .._keepalive import stopped_within
from ..errors import ClaimLost
from .ledger import Claim, ClaimStatus, IdempotencyLedger, IdempotencyRecord

log = logging.getLogger(__name__)

_MARGIN = timedelta(seconds=2)  # past the lease: the crashed claim is surely expired


class Guard:
    """One key's claim for the duration of a piece of work.

    Parameters
    ----------
    ledger:
        The ledger to claim in.
    key, scope:
        The idempotency key and the scope it is unique in (e.g. the function name).
    record_failures:
        Record an exception as the key's outcome instead of releasing the claim.
    renew:
        Renew the lease every third of it while the work runs.
    wait:
        How long a duplicate waits for a live claim of another worker (see
        `IdempotencyLedger.claim`); a lease and a little more by default, `timedelta(0)`
        to fail at once with `KeyInProgress` (an HTTP request answering 409).
    fingerprint:
        What the key is used for; the same key with another fingerprint raises
        `KeyReused` (see `IdempotencyLedger.claim`).

    Attributes
    ----------
    claim:
        Set by `enter`; the latest claim (its ETag moves with each renewal).
    result:
        What to record on success; set it inside the block.
    effects:
        Table entities to store with the outcome, atomically: append them inside the block
        (exactly-once state changes, see `IdempotencyLedger.complete`).
    """

    def __init__(
        self,
        ledger: IdempotencyLedger,
        key: str,
        *,
        scope: str = "default",
        record_failures: bool = False,
        renew: bool = True,
        wait: timedelta | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.fingerprint = fingerprint
        # A duplicate of a run still going on waits for it: by default as long as a lease
        # lasts, so a crashed worker's claim is taken over rather than failed into poison.
        self.wait = ledger.lease + _MARGIN if wait is None else wait
        self.key = key
        self.scope = scope
        self.record_failures = record_failures
        self.renew = renew
        self.claim: Claim | None = None
        self.result: Any = None
        # Entities stored with the outcome, in one transaction (`IdempotencyLedger.complete`).
        self.effects: list[dict[str, Any]] = []
        self.outcome: IdempotencyRecord | None = None
        self._stop = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._lost: ClaimLost | None = None

    @property
    def duplicate(self) -> bool:
        """True when the work was done before; `record` then holds its outcome."""
        return self.claim is not None and self.claim.status is ClaimStatus.DUPLICATE

    @property
    def record(self) -> IdempotencyRecord | None:
        """The first outcome, for a duplicate; after a normal exit, this run's outcome."""
        return self.claim.record if self.duplicate and self.claim else self.outcome

    @property
    def duplicate_of(self) -> IdempotencyRecord | None:
        """The first outcome when this is a duplicate, else None: the one check that also
        narrows the type (`if (done := g.duplicate_of) is not None: return done.result`)."""
        return self.claim.record if self.claim is not None and self.duplicate else None

    @property
    def attempt(self) -> int:
        """Which run of this key this is: 1 for the first, +1 for each redelivery that
        redid the work after a failure or a crash (0 before `enter`)."""
        return self.claim.attempt if self.claim is not None else 0

    async def enter(self) -> Guard:
        """Claim the key and start renewing its lease.

        Raises
        ------
        KeyInProgress
            Another worker holds a live claim.
        """
        self.claim = await self.ledger.claim(
            self.key, scope=self.scope, wait=self.wait, fingerprint=self.fingerprint
        )
        if self.claim.should_run and self.renew:
            self._stop = asyncio.Event()
            self._keeper = asyncio.create_task(self._keep_alive(), name=f"lease:{self.key}")
        return self

    async def exit(self, exc: BaseException | None) -> None:
        """Stop renewing, then record success, record the failure, or release the claim.

        Raises
        ------
        ClaimLost
            The lease ran out and another worker took the key over, so the outcome was not
            recorded (the work may have been done twice).
        """
        if self.claim is None or self.duplicate:
            return
        await self._stop_keeper()
        if exc is None:
            if self._lost is not None:
                raise self._lost
            self.outcome = await self.ledger.complete(self.claim, self.result, effects=self.effects)
        elif self.record_failures and isinstance(exc, Exception):
            self.outcome = await self.ledger.fail(self.claim, f"{type(exc).__name__}: {exc}")
        else:
            try:
                await self.ledger.release(self.claim)
            except Exception:
                log.warning(
                    "idempotency key %r: release failed; it frees itself when the lease ends",
                    self.key,
                    exc_info=True,
                )

    async def let_go(self) -> None:
        """Stop renewing and release the claim without recording anything: the run was
        put back for later (`shared.postpone`), so the next delivery does the work."""
        if self.claim is None or self.duplicate:
            return
        await self._stop_keeper()
        await self.ledger.release(self.claim)

    async def __aenter__(self) -> Guard:
        return await self.enter()

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        await self.exit(exc)

    async def _keep_alive(self) -> None:
        interval = max(self.ledger.lease.total_seconds() / 3, 0.05)
        while not await stopped_within(self._stop, interval):
            assert self.claim is not None
            try:
                # Not cancelled mid-request (see _stop_keeper): a renewal the server applied
                # but whose new ETag we never read would make `complete` look like a loss.
                self.claim = await self.ledger.renew(self.claim)
            except ClaimLost as lost:
                log.error("%s", lost)
                self._lost = lost
                return
            except Exception:
                log.warning("idempotency key %r: lease renewal failed", self.key, exc_info=True)

    async def _stop_keeper(self) -> None:
        if self._keeper is None:
            return
        self._stop.set()
        await asyncio.shield(self._keeper)
        self._keeper = None
