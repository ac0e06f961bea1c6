"""The idempotency ledger: one Table row per (key, scope), claimed by an atomic insert.

Row lifecycle::

    (absent) --insert--> InProgress --complete--> Succeeded
                            |  \\--fail (record_failures)--> Failed
                            |--release (work failed, let a redelivery redo it)--> Released
                            '--lease expired: ETag-conditional takeover--> InProgress (attempt+1)
    Released --the redelivery's claim: ETag-conditional takeover--> InProgress (attempt+1)

A conflict on insert means the key was seen: a finished row is a duplicate (its outcome and
small result are returned, the work is not redone); a live InProgress row means another
worker is on it (`KeyInProgress`); an expired one was left by a crashed worker and is taken
over with an ETag condition, so of two workers racing to take over only one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from .._tables import Clock, dump_json, etag_of, read_int, read_time, table_key, utcnow
from ..errors import ClaimLost, InvalidArgument, KeyInProgress, KeyReused
from ..storage import StorageAccount

if TYPE_CHECKING:
    from .guard import Guard

log = logging.getLogger(__name__)

DEFAULT_TABLE = "JobsIdempotency"
_IN_PROGRESS = "InProgress"
_RELEASED = "Released"  # the work failed and was let go: the next claim redoes it
_IF_SAME = MatchConditions.IfNotModified
_RECHECK = timedelta(seconds=2)  # while waiting for another worker's live claim


class ClaimStatus(str, Enum):
    """What a claim found."""

    ACQUIRED = "Acquired"  # first delivery of this key: do the work
    TAKEN_OVER = "TakenOver"  # a crashed worker's lease expired: this worker redoes the work
    DUPLICATE = "Duplicate"  # the work was done before: use the recorded outcome, do nothing


class Outcome(str, Enum):
    """The recorded outcome of a key's work."""

    SUCCEEDED = "Succeeded"  # the work completed; `result` holds its (small) result
    FAILED = "Failed"  # the work failed and the failure was recorded instead of retried


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first outcome recorded for a key, returned to every later duplicate."""

    key: str
    scope: str
    outcome: Outcome
    result: Any
    error: str | None
    attempt: int
    claimed_at: datetime
    completed_at: datetime


@dataclass(frozen=True)
class Claim:
    """The answer to `IdempotencyLedger.claim`.

    `should_run` says whether this worker must do the work. For a duplicate, `record` holds
    the first outcome. `etag` is the row version this worker's later writes are conditional on.
    """

    key: str
    scope: str
    status: ClaimStatus
    owner: str
    attempt: int
    lease_until: datetime | None
    etag: str
    record: IdempotencyRecord | None = None

    @property
    def should_run(self) -> bool:
        return self.status is not ClaimStatus.DUPLICATE


class IdempotencyLedger:
    """Claims, outcomes and expiry of idempotency keys in an Azure Table.

    Parameters
    ----------
    account:
        Where the table lives.
    table:
        Table name (created on first use); ``JobsIdempotency`` by default.
    lease:
        How long a claim stays exclusive without renewal. A worker that crashes holds its
        key this long; `guard`/`idempotent` renew it every third of the lease while working.
    result_limit:
        Largest recorded result, in JSON characters (a Table string holds 32K characters).
    clock:
        Returns aware UTC datetimes; injectable for tests.
    """

    def __init__(
        self,
        account: StorageAccount,
        *,
        table: str = DEFAULT_TABLE,
        lease: timedelta = timedelta(minutes=5),
        result_limit: int = 30_000,
        clock: Clock = utcnow,
    ) -> None:
        self.account = account
        self.table_name = table
        self.lease = lease
        self.result_limit = result_limit
        self.clock = clock

    async def claim(
        self,
        key: str,
        *,
        scope: str = "default",
        wait: timedelta = timedelta(0),
        fingerprint: str | None = None,
    ) -> Claim:
        """Claim `key` for this worker, atomically.

        `wait`: while another worker holds a live claim, wait up to this long for it to
        finish (then this is a DUPLICATE) or for its lease to run out (then this worker
        takes it over). A message redelivered while its first run still goes on is thus
        postponed in place, instead of failing and burning a delivery toward the poison
        queue or the dead-letter queue (a broker redelivers an abandoned message at once).

        `fingerprint`: what the key was first used for (a hash of an HTTP request's method,
        path and body). The same key with another fingerprint raises `KeyReused` (an HTTP
        caller answers 422, as the IETF Idempotency-Key draft says).

        Returns
        -------
        Claim
            ACQUIRED or TAKEN_OVER (do the work, then `complete`/`fail`/`release` it), or
            DUPLICATE with the first outcome in `record` (do not redo the work).

        Raises
        ------
        KeyInProgress
            Another worker still holds a live claim after `wait`; let the message be
            redelivered later (an HTTP caller answers 409).
        KeyReused
            The key was first used with another fingerprint.
        """
        deadline = self.clock() + wait
        while True:
            try:
                return await self._claim_once(key, scope, fingerprint)
            except KeyInProgress as busy:
                now = self.clock()
                if now >= deadline:
                    raise
                # Look again when its lease would run out, or in a few seconds (it may
                # finish sooner), whichever comes first.
                until = min(busy.lease_until, deadline, now + _RECHECK)
                await asyncio.sleep(max((until - now).total_seconds(), 0.05))

    async def _claim_once(self, key: str, scope: str, fingerprint: str | None) -> Claim:
        table = await self.account.ensure_table(self.table_name)
        pk, rk = table_key(key, "idempotency key"), table_key(scope, "scope")
        owner = uuid.uuid4().hex
        for _ in range(5):
            now = self.clock()
            row = {
                "PartitionKey": pk,
                "RowKey": rk,
                "Key": key[:1024],
                "Scope": scope,
                "State": _IN_PROGRESS,
                "Owner": owner,
                "Attempt": 1,
                "ClaimedAt": now,
                "LeaseUntil": now + self.lease,
                "Fingerprint": fingerprint,
            }
            try:
                meta = await table.create_entity(row)
                return self._claim(key, scope, ClaimStatus.ACQUIRED, row, meta["etag"])
            except ResourceExistsError:
                pass
            try:
                existing = await table.get_entity(pk, rk)
            except ResourceNotFoundError:
                continue  # purged between our insert and our read: insert again
            found = self._existing(key, scope, existing, fingerprint, now)
            if found is not None:
                return found
            taken = await self._take_over(table, existing, owner, now, fingerprint)
            if taken is not None:
                return taken
        raise KeyInProgress(key, "another worker", self.clock())

    def _existing(
        self, key: str, scope: str, row: Any, fingerprint: str | None, now: datetime
    ) -> Claim | None:
        """A duplicate's claim; KeyInProgress or KeyReused; or None: take it over (its
        lease ran out, or it was released after a failure)."""
        stored = row.get("Fingerprint")
        if fingerprint is not None and stored is not None and stored != fingerprint:
            raise KeyReused(key)
        if row["State"] not in (_IN_PROGRESS, _RELEASED):
            return Claim(
                key,
                scope,
                ClaimStatus.DUPLICATE,
                str(row["Owner"]),
                read_int(row, "Attempt", 1),
                None,
                etag_of(row),
                self._record(key, scope, row),
            )
        lease_until = read_time(row, "LeaseUntil") or now
        if row["State"] == _IN_PROGRESS and lease_until > now:
            raise KeyInProgress(key, str(row["Owner"]), lease_until)
        return None

    def guard(
        self,
        key: str,
        *,
        scope: str = "default",
        record_failures: bool = False,
        renew: bool = True,
        wait: timedelta | None = None,
    ) -> Guard:
        """An async context manager that claims `key`, renews it, and records the outcome.

        See `shared.idempotency.guard.Guard`.
        """
        from .guard import Guard  # guard.py imports this module

        return Guard(
            self, key, scope=scope, record_failures=record_failures, renew=renew, wait=wait
        )

    async def renew(self, claim: Claim) -> Claim:
        """Extend the claim's lease by another `lease` from now.

        Raises
        ------
        ClaimLost
            The row changed since `claim` (taken over after the lease ran out, or released).
        """
        lease_until = self.clock() + self.lease
        etag = await self._write(claim, {"LeaseUntil": lease_until}, "renewing the lease")
        return Claim(
            claim.key, claim.scope, claim.status, claim.owner, claim.attempt, lease_until, etag
        )

    async def complete(
        self, claim: Claim, result: Any = None, *, effects: Sequence[Mapping[str, Any]] = ()
    ) -> IdempotencyRecord:
        """Record success with a small JSON-serialisable `result`.

        `effects` are Table entities (each with its own `RowKey`, not a scope's name) that
        are inserted in the key's partition of the ledger's table *in the same transaction*
        as the outcome: either both are stored or neither. State kept that way changes
        exactly once per key, crashes and redeliveries included (`effects_of` reads it).

        Raises
        ------
        ClaimLost
            Another worker took the key over (this worker's lease had run out).
        InvalidArgument, PayloadTooLarge
            `result` is not JSON or is longer than `result_limit`, or an effect has no
            RowKey.
        """
        return await self._finish(claim, Outcome.SUCCEEDED, result=result, effects=effects)

    async def effects_of(self, key: str) -> list[dict[str, Any]]:
        """The effect entities recorded with `key`'s outcome (any scope)."""
        table = await self.account.ensure_table(self.table_name)
        rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": table_key(key)})
        return [dict(row) async for row in rows if "State" not in row]

    async def fail(self, claim: Claim, error: str) -> IdempotencyRecord:
        """Record a failure, so duplicates see it instead of redoing the work.

        Raises
        ------
        ClaimLost
            Another worker took the key over.
        """
        return await self._finish(claim, Outcome.FAILED, error=error[:4000])

    async def release(self, claim: Claim) -> None:
        """Let the claim go so a redelivery does the work again (after a failure); the
        row stays, so the next claim counts as the next attempt.

        A claim already taken over by another worker is left alone.
        """
        try:
            await self._write(
                claim, {"State": _RELEASED, "LeaseUntil": self.clock()}, "releasing the claim"
            )
        except ClaimLost:
            log.warning("idempotency key %r: not released, another worker took it over", claim.key)

    async def get(self, key: str, *, scope: str = "default") -> IdempotencyRecord | None:
        """The recorded outcome of `key`, or None if it is absent or still in progress."""
        table = await self.account.ensure_table(self.table_name)
        try:
            row = await table.get_entity(table_key(key), table_key(scope))
        except ResourceNotFoundError:
            return None
        if row["State"] in (_IN_PROGRESS, _RELEASED):
            return None
        return self._record(key, scope, row)

    async def purge(
        self, older_than: timedelta, *, scope: str | None = None, limit: int | None = None
    ) -> int:
        """Delete keys claimed more than `older_than` ago whose claim is finished or expired,
        at most `limit` of them (None: all), with the effects recorded with a key once its
        last claim is gone.

        Returns the number of keys deleted. Keep `older_than` longer than the longest time
        a duplicate can arrive (queue message TTL, Service Bus redelivery), or a late
        duplicate will be processed again.
        """
        table = await self.account.ensure_table(self.table_name)
        now = self.clock()
        query = "ClaimedAt lt @cutoff" + (" and Scope eq @scope" if scope else "")
        params: dict[str, Any] = {"cutoff": now - older_than}
        if scope:
            params["scope"] = scope
        deleted = 0
        async for row in table.query_entities(query, parameters=params):
            if limit is not None and deleted >= limit:
                break
            live = row["State"] == _IN_PROGRESS and (read_time(row, "LeaseUntil") or now) > now
            if live:
                continue
            try:
                await table.delete_entity(
                    row["PartitionKey"],
                    row["RowKey"],
                    etag=etag_of(row),
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # claimed again, or purged by another instance, meanwhile
            deleted += 1
            await self._purge_orphaned_effects(str(row["PartitionKey"]))
        return deleted

    async def _purge_orphaned_effects(self, partition: str) -> None:
        """The effect rows of a key none of whose claims is left (effects carry no State)."""
        table = self.account.table(self.table_name)
        rows = [
            r
            async for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
        ]
        if any("State" in r for r in rows):
            return  # another scope of this key is still remembered
        for r in rows:
            with contextlib.suppress(ResourceNotFoundError):
                await table.delete_entity(r["PartitionKey"], r["RowKey"])

    # --- internals ------------------------------------------------------------------------

    async def _take_over(
        self,
        table: TableClient,
        existing: Any,
        owner: str,
        now: datetime,
        fingerprint: str | None,
    ) -> Claim | None:
        attempt = read_int(existing, "Attempt", 1) + 1
        released = existing["State"] == _RELEASED
        row = {
            **existing,
            "State": _IN_PROGRESS,
            "Owner": owner,
            "Attempt": attempt,
            "LeaseUntil": now + self.lease,
            "TakenOverAt": now,
            "Fingerprint": existing.get("Fingerprint") or fingerprint,
        }
        try:
            meta = await table.update_entity(
                row,
                mode=UpdateMode.REPLACE,
                etag=etag_of(existing),
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None  # another worker got there first: look again
        if not released:
            log.warning(
                "idempotency key %r: previous claim by %s expired at %s; taking over (attempt %d)",
                existing["Key"],
                existing["Owner"],
                read_time(existing, "LeaseUntil"),
                attempt,
            )
        return self._claim(
            str(existing["Key"]), str(existing["Scope"]), ClaimStatus.TAKEN_OVER, row, meta["etag"]
        )

    async def _finish(
        self,
        claim: Claim,
        outcome: Outcome,
        *,
        result: Any = None,
        error: str | None = None,
        effects: Sequence[Mapping[str, Any]] = (),
    ) -> IdempotencyRecord:
        text = dump_json(result, f"result of idempotency key {claim.key!r}", self.result_limit)
        now = self.clock()
        changes = {"State": outcome.value, "Result": text, "Error": error, "CompletedAt": now}
        if effects:
            await self._write_with_effects(claim, changes, effects)
        else:
            await self._write(claim, changes, "recording the outcome")
        return IdempotencyRecord(
            claim.key, claim.scope, outcome, result, error, claim.attempt, now, now
        )

    async def _write_with_effects(
        self, claim: Claim, changes: dict[str, Any], effects: Sequence[Mapping[str, Any]]
    ) -> None:
        """The outcome (conditional on this claim's ETag) and the effects, as one entity
        group transaction: all of it is stored, or none."""
        pk = table_key(claim.key)
        scope_row = {"PartitionKey": pk, "RowKey": table_key(claim.scope), **changes}
        ops: list[Any] = [
            (
                "update",
                scope_row,
                {"mode": UpdateMode.MERGE, "etag": claim.etag, "match_condition": _IF_SAME},
            )
        ]
        for effect in effects:
            row_key = effect.get("RowKey")
            if not row_key:
                raise InvalidArgument(f"idempotency key {claim.key!r}: an effect needs a RowKey")
            ops.append(("create", {**effect, "PartitionKey": pk, "RowKey": str(row_key)}))
        try:
            await self.account.table(self.table_name).submit_transaction(ops)
        except TableTransactionError as exc:
            if exc.index == 0:  # the outcome's condition failed: another worker owns the key
                raise ClaimLost(
                    claim.key, "the row changed while recording the outcome and its effects"
                ) from None
            raise

    async def _write(self, claim: Claim, changes: dict[str, Any], doing: str) -> str:
        table = self.account.table(self.table_name)
        entity = {"PartitionKey": table_key(claim.key), "RowKey": table_key(claim.scope), **changes}
        try:
            meta = await table.update_entity(
                entity,
                mode=UpdateMode.MERGE,
                etag=claim.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            raise ClaimLost(
                claim.key,
                f"the row changed while {doing} (lease expired and another worker took over?)",
            ) from None
        except ResourceNotFoundError:
            raise ClaimLost(claim.key, f"the row was deleted while {doing}") from None
        return str(meta["etag"])

    def _claim(
        self, key: str, scope: str, status: ClaimStatus, row: dict[str, Any], etag: str
    ) -> Claim:
        return Claim(
            key, scope, status, str(row["Owner"]), int(row["Attempt"]), row["LeaseUntil"], etag
        )

    @staticmethod
    def _record(key: str, scope: str, row: Any) -> IdempotencyRecord:
        raw = row.get("Result")
        claimed = read_time(row, "ClaimedAt")
        assert claimed is not None
        return IdempotencyRecord(
            key,
            scope,
            Outcome(row["State"]),
            None if raw is None else json.loads(raw),
            row.get("Error"),
            read_int(row, "Attempt", 1),
            claimed,
            read_time(row, "CompletedAt") or claimed,
        )
