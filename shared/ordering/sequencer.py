"""Per-key sequence state in a Table: which number is next, who is applying it, how long a
gap has been open.

One row per (ordering key, scope)::

    Next          the sequence number to apply next
    Holder/...    the worker applying `Next` right now, and until when (its turn lease)
    GapFor/Since  the `Next` a later message is waiting for, and since when
    LowestEarly   the lowest sequence number seen waiting behind the gap

Every change is a read-modify-write conditional on the row's ETag, so concurrent workers
cannot both take a turn, and a turn is committed only by the worker that holds it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from .._tables import (
    Clock,
    delete_if_unchanged,
    etag_of,
    int64,
    read_int,
    read_time,
    table_key,
    utcnow,
)
from ..errors import OrderingError, TurnLost
from ..storage import StorageAccount

log = logging.getLogger(__name__)

DEFAULT_TABLE = "JobSequences"
_TRIES = 10
_TURN = ("Holder", "HeldSeq", "HoldUntil")
_GAP = ("GapFor", "GapSince", "LowestEarly")


class Verdict(str, Enum):
    """What to do with a message, given the key's sequence state."""

    APPLY = "Apply"  # it is this message's turn: process it, then `commit` (or `abort`)
    EARLY = "Early"  # an earlier message is missing: hold this one back
    STALE = "Stale"  # its number was applied already (a duplicate or a replay): drop it
    BUSY = "Busy"  # another worker is applying this very number now: hold it back


@dataclass(frozen=True)
class Gap:
    """A missing message: `expected` has not arrived, `lowest_waiting` is held behind it."""

    key: str
    expected: int
    lowest_waiting: int
    since: datetime
    waited: timedelta


@dataclass(frozen=True)
class Turn:
    """The verdict for one message; for APPLY, the claim to `commit` or `abort`."""

    key: str
    sequence: int
    verdict: Verdict
    expected: int
    token: str | None = None
    gap: Gap | None = None
    gap_expired: bool = False


class Sequencer:
    """Decides, per ordering key, whether a message is next, early or stale.

    Parameters
    ----------
    account:
        Where the table lives (created on first use).
    table:
        ``JobSequences`` by default.
    scope:
        Separates independent sequences that share keys (e.g. per consumer).
    first_sequence:
        The number a new key starts at.
    gap_timeout:
        How long a gap may stay open before it is reported (`Turn.gap_expired`).
    turn_lease:
        How long a turn stays exclusive; a worker that crashes mid-turn blocks its key
        this long. Longer than the slowest handler.
    """

    def __init__(
        self,
        account: StorageAccount,
        *,
        table: str = DEFAULT_TABLE,
        scope: str = "default",
        first_sequence: int = 1,
        gap_timeout: timedelta = timedelta(minutes=5),
        turn_lease: timedelta = timedelta(minutes=5),
        clock: Clock = utcnow,
    ) -> None:
        self.account = account
        self.table_name = table
        self.scope = scope
        self.first_sequence = first_sequence
        self.gap_timeout = gap_timeout
        self.turn_lease = turn_lease
        self.clock = clock

    async def begin(self, key: str, sequence: int) -> Turn:
        """Judge message `sequence` of `key`; for APPLY, take the key's turn.

        Raises
        ------
        OrderingError
            The row stayed contended for too many tries.
        """
        for _ in range(_TRIES):
            row = await self._read(key)
            if row is None:
                await self._create(key)
                continue
            turn = await self._judge(key, sequence, row)
            if turn is not None:
                return turn
        raise OrderingError(f"ordering key {key!r}: too much contention on its sequence row")

    async def commit(self, turn: Turn) -> None:
        """Mark `turn.sequence` applied: the key's next number becomes sequence + 1.

        Raises
        ------
        TurnLost
            The turn lease expired and another worker took the key's turn.
        """

        def change(row: dict[str, Any]) -> None:
            self._check_holder(turn, row)
            row["Next"] = int64(turn.sequence + 1)
            _drop(row, _TURN)
            lowest = read_int(row, "LowestEarly", -1)
            _drop(row, _GAP)
            if lowest > turn.sequence + 1:  # still messages waiting: a gap for the new Next
                row.update(
                    GapFor=int64(turn.sequence + 1),
                    GapSince=self.clock(),
                    LowestEarly=int64(lowest),
                )

        await self._update(turn.key, change)

    async def abort(self, turn: Turn) -> None:
        """Give the turn back without advancing (the handler failed; it will be retried)."""

        def change(row: dict[str, Any]) -> None:
            self._check_holder(turn, row)
            _drop(row, _TURN)

        with contextlib.suppress(TurnLost):
            await self._update(turn.key, change)

    async def skip_to(self, key: str, sequence: int) -> int:
        """Declare every number below `sequence` lost: the key's next becomes `sequence`.

        Returns the key's next number afterwards (unchanged if already past `sequence`).
        """
        result = {"next": sequence}

        def change(row: dict[str, Any]) -> None:
            current = read_int(row, "Next")
            if current >= sequence:
                result["next"] = current
                return
            log.warning(
                "ordering key %r: skipping lost sequence numbers %d..%d", key, current, sequence - 1
            )
            row["Next"] = int64(sequence)
            if read_int(row, "LowestEarly", -1) <= sequence:
                _drop(row, _GAP)

        await self._update(key, change, create=True)
        return result["next"]

    async def open_gap(self, key: str) -> tuple[Gap | None, bool]:
        """The key's open gap (without changing anything) and whether it timed out."""
        row = await self._read(key)
        since = None if row is None else read_time(row, "GapSince")
        if row is None or since is None or read_int(row, "GapFor", -1) != read_int(row, "Next"):
            return None, False
        waited = self.clock() - since
        gap = Gap(key, read_int(row, "Next"), read_int(row, "LowestEarly"), since, waited)
        return gap, waited >= self.gap_timeout

    async def expected(self, key: str) -> int:
        """The key's next sequence number."""
        row = await self._read(key)
        return self.first_sequence if row is None else read_int(row, "Next")

    async def purge(self, older_than: timedelta, *, limit: int = 1000) -> int:
        """Forget keys (of every scope) whose rows were not written for `older_than`: their
        sequence state and deferred-message index rows; returns how many rows went.

        A forgotten key starts again at `first_sequence`, and a deferred message whose
        index row went can no longer be fetched back: keep `older_than` far longer than a
        key's messages keep arriving and than Service Bus keeps a deferred message. A key
        whose turn is held (lease not run out) is kept; deletes are conditional on the
        ETag, so a row written meanwhile stays. Looks at most at `limit` rows per call.
        """
        table = await self.account.ensure_table(self.table_name)
        now = self.clock()
        rows = table.query_entities("Timestamp lt @cutoff", parameters={"cutoff": now - older_than})
        deleted = seen = 0
        async for row in rows:
            seen += 1
            until = read_time(row, "HoldUntil")
            held = bool(row.get("Holder")) and until is not None and until > now
            if not held and await delete_if_unchanged(table, row):
                deleted += 1
            if seen >= limit:
                break
        return deleted

    # --- internals ------------------------------------------------------------------------

    async def _judge(self, key: str, sequence: int, row: Any) -> Turn | None:
        now = self.clock()
        nxt = read_int(row, "Next")
        if sequence < nxt:
            return Turn(key, sequence, Verdict.STALE, nxt)
        if sequence > nxt:
            since = read_time(row, "GapSince")
            lowest = read_int(row, "LowestEarly", sequence)
            fresh = since is None or read_int(row, "GapFor", -1) != nxt
            if fresh or sequence < lowest:
                since = now if fresh else since
                lowest = sequence if fresh else min(lowest, sequence)
                changes = {"GapFor": int64(nxt), "GapSince": since, "LowestEarly": int64(lowest)}
                if not await self._merge(row, changes):
                    return None
            assert since is not None
            gap = Gap(key, nxt, lowest, since, now - since)
            return Turn(
                key,
                sequence,
                Verdict.EARLY,
                nxt,
                gap=gap,
                gap_expired=gap.waited >= self.gap_timeout,
            )
        until = read_time(row, "HoldUntil")
        if row.get("Holder") and until is not None and until > now:
            return Turn(key, sequence, Verdict.BUSY, nxt)
        token = uuid.uuid4().hex
        if not await self._merge(
            row, {"Holder": token, "HeldSeq": int64(sequence), "HoldUntil": now + self.turn_lease}
        ):
            return None
        return Turn(key, sequence, Verdict.APPLY, nxt, token=token)

    def _check_holder(self, turn: Turn, row: dict[str, Any]) -> None:
        if turn.token is None or row.get("Holder") != turn.token:
            raise TurnLost(
                f"ordering key {turn.key!r}: the turn for {turn.sequence} expired "
                "and was taken by another worker"
            )

    async def _read(self, key: str) -> Any:
        table = await self.account.ensure_table(self.table_name)
        try:
            return await table.get_entity(table_key(key, "ordering key"), table_key(self.scope))
        except ResourceNotFoundError:
            return None

    async def _create(self, key: str) -> None:
        table = await self.account.ensure_table(self.table_name)
        with contextlib.suppress(ResourceExistsError):
            await table.create_entity(
                {
                    "PartitionKey": table_key(key, "ordering key"),
                    "RowKey": table_key(self.scope),
                    "Key": key,
                    "Next": int64(self.first_sequence),
                }
            )

    async def _merge(self, row: Any, changes: dict[str, Any]) -> bool:
        """Apply `changes` if the row is unchanged since read; False if it changed."""
        table = self.account.table(self.table_name)
        try:
            await table.update_entity(
                {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes},
                mode=UpdateMode.MERGE,
                etag=etag_of(row),
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def _update(self, key: str, change: Any, *, create: bool = False) -> None:
        table = self.account.table(self.table_name)
        for _ in range(_TRIES):
            row = await self._read(key)
            if row is None:
                if not create:
                    raise TurnLost(f"ordering key {key!r}: its sequence row is gone")
                await self._create(key)
                continue
            new = dict(row)
            change(new)
            try:
                # REPLACE, not MERGE: clearing a property means leaving it out.
                await table.update_entity(
                    new,
                    mode=UpdateMode.REPLACE,
                    etag=etag_of(row),
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except ResourceModifiedError:
                continue
        raise OrderingError(f"ordering key {key!r}: too much contention on its sequence row")


def _drop(row: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        row.pop(name, None)
