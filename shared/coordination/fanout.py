"""Fan-out/fan-in: split a job into parts processed in parallel, reduce once when all are done.

    fanout = FanOut(account, StorageQueues(account), ledger=ledger, status=status)
    await fanout.start(job.job_id, [chunk1, chunk2, ...], destination="batch-parts")

    # the part function (competing consumers on "batch-parts")
    part = Part.from_message(msg.get_json())
    fan_in = await fanout.finish_part(part, await crunch(part.input))
    if fan_in.complete:
        await fanout.reduce(part.job_id, summarize)   # runs exactly once per job

Each part has its own Table row in the job's partition, so parts finishing together never
contend for one counter row (a single "done" counter sent 1 of 24 parts to poison after
"still contended after 5 tries"). Finishing a part is idempotent: a redelivered part finds
its row done and changes nothing. The reduce step runs under the idempotency ledger, keyed
by the job: of two parts finishing together, or a part redelivered after the job is final,
exactly one runs it and the others get its recorded result. Progress (parts done / total)
is counted from the rows and written to the job's status record, best effort: a write that
loses a race is skipped, the next part writes a higher count.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from .._tables import dump_json, etag_of, read_int, table_key
from ..errors import InvalidArgument, InvalidTransition, JobsError, StatusConflict
from ..idempotency import IdempotencyLedger
from ..status import JobState, StatusStore
from ..storage import StorageAccount
from ..transport import Transport

log = logging.getLogger(__name__)

DEFAULT_TABLE = "JobsFanOut"
_PLAN = "plan"
_BATCH = 100  # rows per entity group transaction (the Table service's limit)
_RESULT_LIMIT = 30_000


@dataclass(frozen=True)
class Part:
    """One part of a job, as its message carries it."""

    job_id: str
    index: int
    total: int
    input: Any

    def to_message(self) -> dict[str, Any]:
        return {"jobId": self.job_id, "part": self.index, "of": self.total, "input": self.input}

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> Part:
        """Raises InvalidArgument naming what is missing."""
        try:
            return cls(str(body["jobId"]), int(body["part"]), int(body["of"]), body.get("input"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a fan-out part message ({exc!r}): {body!r}") from None


@dataclass(frozen=True)
class FanIn:
    """Where the job stands after a part finished."""

    done: int
    total: int
    duplicate: bool  # the part had finished before (a redelivery): nothing changed

    @property
    def complete(self) -> bool:
        return self.done >= self.total


class FanOut:
    """Parts, their completion and the one reduce of fan-out/fan-in jobs.

    Parameters
    ----------
    account:
        Where the parts table lives.
    transport:
        What carries part messages (`shared.transport`).
    ledger:
        Makes the reduce step run once per job.
    status:
        When given, progress (done/total) is written to the job's status record.
    """

    def __init__(
        self,
        account: StorageAccount,
        transport: Transport,
        *,
        ledger: IdempotencyLedger,
        status: StatusStore | None = None,
        table: str = DEFAULT_TABLE,
    ) -> None:
        self.account = account
        self.transport = transport
        self.ledger = ledger
        self.status = status
        self.table_name = table

    async def start(self, job_id: str, inputs: Sequence[Any], destination: str) -> int:
        """Record the parts and send one message per part to `destination`. Safe to run
        again (a redelivered "start"): parts already recorded are kept, messages for parts
        not done yet are sent again (finishing a part twice is harmless). Returns the
        number of parts."""
        if not inputs:
            raise InvalidArgument(f"job {job_id!r}: a fan-out needs at least one part")
        table = await self.account.ensure_table(self.table_name)
        pk = table_key(job_id, "job id")
        total = len(inputs)
        fresh = True
        try:
            await table.create_entity({"PartitionKey": pk, "RowKey": _PLAN, "Total": total})
        except ResourceExistsError:
            fresh, total = False, await self._total(job_id)
        rows = [
            {"PartitionKey": pk, "RowKey": _row(i), "Index": i, "State": "Pending"}
            for i in range(total)
        ]
        if fresh:
            for first in range(0, total, _BATCH):
                await table.submit_transaction(
                    [("create", r) for r in rows[first : first + _BATCH]]
                )
        else:  # started before and maybe cut short: add the rows that are missing
            for row in rows:
                with contextlib.suppress(ResourceExistsError):
                    await table.create_entity(row)
        if self.status is not None:
            await self._progress(job_id, 0, total)
        pending = set(range(total)) - {int(r[5:]) for r in await self._done_rows(job_id, 0, total)}
        for i in sorted(pending):
            part = Part(job_id, i, total, inputs[i])
            await self.transport.send(destination, part.to_message())
        return total

    async def finish_part(self, part: Part, result: Any = None) -> FanIn:
        """Mark `part` done with a small JSON `result`; how many are done now."""
        table = await self.account.ensure_table(self.table_name)
        pk = table_key(part.job_id, "job id")
        try:
            row = await table.get_entity(pk, _row(part.index))
        except ResourceNotFoundError:
            raise JobsError(f"job {part.job_id!r} has no part {part.index}") from None
        duplicate = row.get("State") == "Done"
        if not duplicate:
            text = dump_json(result, f"result of part {part.index}", _RESULT_LIMIT)
            await table.update_entity(
                {"PartitionKey": pk, "RowKey": _row(part.index), "State": "Done", "Result": text},
                mode=UpdateMode.MERGE,
                etag=etag_of(row),
                match_condition=MatchConditions.IfNotModified,
            )
        done = len(await self._done_rows(part.job_id, 0, part.total))
        if self.status is not None and not duplicate:
            await self._progress(part.job_id, done, part.total)
        return FanIn(done, part.total, duplicate)

    async def results(self, job_id: str) -> list[Any]:
        """Every part's result, in part order (None for a part not done)."""
        table = await self.account.ensure_table(self.table_name)
        rows = table.query_entities(
            "PartitionKey eq @pk and RowKey ge 'part-' and RowKey lt 'part.'",
            parameters={"pk": table_key(job_id)},
        )
        found: dict[int, str | None] = {read_int(r, "Index"): r.get("Result") async for r in rows}
        return [json.loads(text) if (text := found.get(i)) else None for i in range(len(found))]

    async def progress(self, job_id: str) -> tuple[int, int]:
        """(parts done, total)."""
        total = await self._total(job_id)
        return len(await self._done_rows(job_id, 0, total)), total

    async def reduce(self, job_id: str, fn: Callable[[list[Any]], Awaitable[Any]]) -> Any:
        """Run `fn` over the parts' results once for the job; any later call (a part
        finishing at the same time, a redelivery) gets the first call's recorded result.
        `fn` should record the job's outcome (e.g. `StatusStore.succeed`) itself."""
        async with self.ledger.guard(job_id, scope="fan-in") as guard:
            if (done := guard.duplicate_of) is not None:
                return done.result
            guard.result = await fn(await self.results(job_id))
            return guard.result

    async def _total(self, job_id: str) -> int:
        table = await self.account.ensure_table(self.table_name)
        try:
            return read_int(await table.get_entity(table_key(job_id), _PLAN), "Total")
        except ResourceNotFoundError:
            raise JobsError(f"job {job_id!r} was not fanned out") from None

    async def _done_rows(self, job_id: str, start: int, end: int) -> set[str]:
        table = self.account.table(self.table_name)
        rows = table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and State eq 'Done'",
            parameters={"pk": table_key(job_id), "lo": _row(start), "hi": _row(end)},
            select=["RowKey"],
        )
        return {str(r["RowKey"]) async for r in rows}

    async def _progress(self, job_id: str, done: int, total: int) -> None:
        assert self.status is not None
        job = await self.status.find(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return  # not started yet, or already final: nothing to show
        try:
            await self.status.report_progress(job, done, total)
        except StatusConflict:
            log.debug("job %s: progress %d/%d not written (a newer one was)", job_id, done, total)
        except InvalidTransition:
            # The last part's reduce made the job final between our read and our write.
            log.debug("job %s: progress %d/%d not written (the job is final)", job_id, done, total)


def _row(index: int) -> str:
    return f"part-{index:07d}"
