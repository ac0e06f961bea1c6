"""The status store: job status records in an Azure Table, changed only by valid moves.

Every write is conditional on the ETag of the record it was validated against. A writer that
loses the race re-reads and, if the record still belongs to the same attempt and the move
is still allowed, applies its change on top (so a cancellation request does not break a
running job's progress update); otherwise it raises `StatusConflict` or `InvalidTransition`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from .._tables import Clock, dump_json, etag_of, read_int, read_time, table_key, utcnow
from ..errors import (
    InvalidArgument,
    InvalidTransition,
    JobCancelled,
    JobNotFound,
    StatusConflict,
)
from ..storage import StorageAccount
from .model import JobState, JobStatus, check_transition

log = logging.getLogger(__name__)

DEFAULT_TABLE = "JobStatus"
_ROW = "status"
_RETRIES = 5
_JSON_LIMIT = 30_000  # characters: a Table string property holds 32K


class StatusStore:
    """Create, read, change and list job status records.

    Parameters
    ----------
    account:
        Where the table lives (created on first use).
    table:
        ``JobStatus`` by default. One partition per job, so jobs never contend.
    clock:
        Returns aware UTC datetimes; injectable for tests.
    on_final:
        Called with the record each time a job reaches a final state (this store wrote
        it): where an app announces outcomes (callbacks, replies, events). Its errors are
        logged, not raised: the outcome is recorded either way.
    """

    def __init__(
        self,
        account: StorageAccount,
        *,
        table: str = DEFAULT_TABLE,
        clock: Clock = utcnow,
        on_final: Callable[[JobStatus], Awaitable[None]] | None = None,
    ) -> None:
        self.account = account
        self.table_name = table
        self.clock = clock
        self.on_final = on_final

    async def create(
        self,
        kind: str,
        *,
        job_id: str | None = None,
        input: Any = None,
        total: int = 0,
        correlation_id: str | None = None,
        message: str = "",
        reply_to: str | None = None,
        callback_url: str | None = None,
        run_at: datetime | None = None,
    ) -> JobStatus:
        """Record a new Pending job, with its `input` (small JSON: kept, so a failed job
        can be run again; put a large input in a blob and pass its name), due at `run_at`
        (now when None).

        Returns
        -------
        JobStatus
            The new record (with a generated `job_id` unless one was given).

        Raises
        ------
        StatusConflict
            A record with `job_id` already exists.
        """
        now = self.clock()
        status = JobStatus(
            job_id or uuid.uuid4().hex,
            kind,
            JobState.PENDING,
            total=total,
            message=message,
            input=input,
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
            reply_to=reply_to,
            callback_url=callback_url,
            run_at=run_at,
        )
        table = await self.account.ensure_table(self.table_name)
        try:
            meta = await table.create_entity(_to_entity(status))
        except ResourceExistsError:
            raise StatusConflict(status.job_id, "a job with this id already exists") from None
        return dataclasses.replace(status, etag=str(meta["etag"]))

    async def find(self, job_id: str) -> JobStatus | None:
        """The job's record, or None."""
        table = await self.account.ensure_table(self.table_name)
        try:
            return _from_entity(await table.get_entity(table_key(job_id, "job id"), _ROW))
        except ResourceNotFoundError:
            return None

    async def get(self, job_id: str) -> JobStatus:
        """The job's record. Raises `JobNotFound` if there is none."""
        status = await self.find(job_id)
        if status is None:
            raise JobNotFound(job_id)
        return status

    async def start(self, status: JobStatus, message: str = "started") -> JobStatus:
        """Pending -> Running (attempt + 1). Raises `InvalidTransition` if already final
        (e.g. cancelled before it started: skip the job)."""
        return await self.transition(status, JobState.RUNNING, message=message)

    async def report_progress(
        self, status: JobStatus, done: int, total: int | None = None, message: str | None = None
    ) -> JobStatus:
        """Running -> Running with `done` units out of `total` (kept when None). Progress
        never goes back: a late writer does not undo a newer count. Check
        `cancel_requested` on the returned record to learn about a cancellation request."""
        return await self.transition(
            status, JobState.RUNNING, progress=(done, total), message=message
        )

    async def succeed(
        self,
        status: JobStatus,
        *,
        result: Any = None,
        result_location: str | None = None,
        progress: tuple[int, int | None] | None = None,
        message: str = "succeeded",
        unless_cancelled: bool = False,
    ) -> JobStatus:
        """Running -> Succeeded with a small JSON `result` (or where the result is).
        `unless_cancelled`: raise `JobCancelled` instead, changing nothing, if a
        cancellation was requested (see `transition`)."""
        return await self.transition(
            status,
            JobState.SUCCEEDED,
            progress=progress,
            message=message,
            result=result,
            result_location=result_location,
            unless_cancelled=unless_cancelled,
        )

    async def compensate(
        self, status: JobStatus, *, result: Any = None, message: str = "compensated"
    ) -> JobStatus:
        """Running -> Compensated: stopped, its completed steps undone (`result` says how)."""
        return await self.transition(status, JobState.COMPENSATED, message=message, result=result)

    async def retry(self, job_id: str, message: str = "retried") -> JobStatus:
        """Failed -> Pending again, for a replay of the job's message (a poison replay, a
        supervisor's retry): its next start is a new attempt on the same job id, so the
        same status URL shows the outcome. Only a Failed job can be retried.

        Raises
        ------
        InvalidTransition
            The job is not Failed.
        """
        for _ in range(_RETRIES):
            status = await self.get(job_id)
            if status.state is not JobState.FAILED:
                raise InvalidTransition(job_id, status.state, JobState.PENDING)
            new = dataclasses.replace(
                status,
                state=JobState.PENDING,
                message=message,
                error=None,
                cancel_requested=False,
                updated_at=self.clock(),
            )
            try:
                return dataclasses.replace(new, etag=await self._replace(new, status.etag))
            except ResourceModifiedError:
                continue
        raise StatusConflict(job_id, f"retry still contended after {_RETRIES} tries")

    async def fail(self, status: JobStatus, error: str, *, message: str = "failed") -> JobStatus:
        """-> Failed with `error`."""
        return await self.transition(status, JobState.FAILED, error=error[:8000], message=message)

    async def cancel(self, status: JobStatus, message: str = "cancelled") -> JobStatus:
        """-> Cancelled (the job acknowledges a cancellation request)."""
        return await self.transition(status, JobState.CANCELLED, message=message)

    async def transition(
        self,
        status: JobStatus,
        to: JobState,
        *,
        progress: tuple[int, int | None] | None = None,
        message: str | None = None,
        result: Any = None,
        result_location: str | None = None,
        error: str | None = None,
        merge: bool = True,
        unless_cancelled: bool = False,
    ) -> JobStatus:
        """Move the job to `to`, conditional on the record being `status` (its ETag).

        Parameters
        ----------
        merge:
            On an ETag conflict, re-read and re-apply the change if the record still
            belongs to the same attempt and the move is still allowed (True, the default);
            or raise `StatusConflict` at once (False).
        unless_cancelled:
            Raise `JobCancelled`, changing nothing, if the record has `cancel_requested`,
            as read or as re-read after a conflict. A job finishing its work passes True,
            so a request the API accepted (202) meanwhile is not merged over.

        Raises
        ------
        JobCancelled
            `unless_cancelled` and a cancellation was requested.
        InvalidTransition
            The move is not allowed from the record's state (e.g. out of a final state).
        StatusConflict
            The record changed in a way that cannot be merged (another attempt started, or
            ``merge=False``).
        JobNotFound
            The record was deleted.
        InvalidArgument
            `progress` (done, total) is negative, or `result` is not small JSON.
        """
        if progress is not None and (progress[0] < 0 or (progress[1] or 0) < 0):
            raise InvalidArgument(f"progress must not be negative, got {progress}")
        change = _Change(progress, message, result, result_location, error)
        current = status
        for _ in range(_RETRIES):
            if unless_cancelled and current.cancel_requested:
                raise JobCancelled(status.job_id)
            check_transition(status.job_id, current.state, to)
            new = self._moved(current, to, change)
            try:
                etag = await self._replace(new, current.etag)
            except ResourceModifiedError:
                if not merge:
                    raise StatusConflict(status.job_id, "changed since it was read") from None
            else:
                moved = dataclasses.replace(new, etag=etag)
                if to.is_final:
                    await self._announce(moved)
                return moved
            latest = await self.get(status.job_id)
            if latest.attempt != status.attempt:
                raise StatusConflict(
                    status.job_id,
                    f"attempt {latest.attempt} started since attempt {status.attempt} read it",
                )
            current = latest
        raise StatusConflict(status.job_id, f"still contended after {_RETRIES} tries")

    async def _announce(self, status: JobStatus) -> None:
        if self.on_final is None:
            return
        try:
            await self.on_final(status)
        except Exception:  # the outcome is recorded; announcing it is the app's business
            log.warning(
                "job %s: announcing its %s state failed",
                status.job_id,
                status.state.value,
                exc_info=True,
            )

    async def note(self, status: JobStatus, message: str) -> JobStatus:
        """Change only the record's message (and its updated time), conditional on the
        record being `status`: StatusConflict if it changed since."""
        new = dataclasses.replace(status, message=message, updated_at=self.clock())
        try:
            return dataclasses.replace(new, etag=await self._replace(new, status.etag))
        except ResourceModifiedError:
            raise StatusConflict(status.job_id, "changed since it was read") from None

    async def request_cancel(
        self, job_id: str, message: str = "cancellation requested"
    ) -> JobStatus:
        """Ask for the job to stop. A Pending job is cancelled at once; a Running one gets
        `cancel_requested` set, for it to see at its next check; a final one is unchanged.

        Raises
        ------
        JobNotFound
            No such job.
        """
        for _ in range(_RETRIES):
            status = await self.get(job_id)
            if status.state.is_final or status.cancel_requested:
                return status
            try:
                if status.state is JobState.PENDING:
                    return await self.transition(
                        status, JobState.CANCELLED, message=message, merge=False
                    )
                new = dataclasses.replace(
                    status, cancel_requested=True, message=message, updated_at=self.clock()
                )
                return dataclasses.replace(new, etag=await self._replace(new, status.etag))
            except (StatusConflict, ResourceModifiedError):
                continue  # the job moved meanwhile: look again
        raise StatusConflict(job_id, f"cancellation still contended after {_RETRIES} tries")

    async def raise_if_cancel_requested(self, job_id: str) -> None:
        """Raise `JobCancelled` if a cancellation was requested (call it between units of
        work; then `cancel` the status)."""
        status = await self.get(job_id)
        if status.cancel_requested or status.state is JobState.CANCELLED:
            raise JobCancelled(job_id)

    async def list(
        self,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        created_before: datetime | None = None,
        created_after: datetime | None = None,
        updated_before: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[JobStatus]:
        """Records matching every given filter, oldest first.

        The filter runs in the Table service across partitions (a scan): fine for an
        operator's dashboard or a sweeper, not for a hot path.
        """
        clauses, params = [], {}
        for name, op, column, value in (
            ("state", "eq", "State", state.value if state else None),
            ("kind", "eq", "Kind", kind),
            ("cb", "lt", "CreatedAt", created_before),
            ("ca", "gt", "CreatedAt", created_after),
            ("ub", "lt", "UpdatedAt", updated_before),
        ):
            if value is not None:
                clauses.append(f"{column} {op} @{name}")
                params[name] = value
        table = await self.account.ensure_table(self.table_name)
        query = " and ".join(clauses) or "RowKey eq @row"
        params.setdefault("row", _ROW)
        found = [_from_entity(e) async for e in table.query_entities(query, parameters=params)]
        found.sort(key=lambda s: s.created_at or datetime.min)
        return found if limit is None else found[:limit]

    async def purge(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Delete final records last updated more than `older_than` ago, at most `limit`
        of them (None: all); returns the count. Safe on several instances at once: each
        delete is conditional on the record as read, so a record changed meanwhile (a
        retry moved it back to Pending) is kept, and one deleted by another instance first
        is simply gone."""
        final = " or ".join(f"State eq '{state.value}'" for state in JobState if state.is_final)
        table = await self.account.ensure_table(self.table_name)
        rows = table.query_entities(
            f"UpdatedAt lt @cutoff and ({final})",
            parameters={"cutoff": self.clock() - older_than},
            select=["PartitionKey", "RowKey"],
        )
        deleted = 0
        async for row in rows:
            if limit is not None and deleted >= limit:
                break
            try:
                await table.delete_entity(
                    row["PartitionKey"],
                    row["RowKey"],
                    etag=etag_of(row),
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # changed or deleted meanwhile
            deleted += 1
        return deleted

    def _moved(self, current: JobStatus, to: JobState, change: _Change) -> JobStatus:
        starting = current.state is JobState.PENDING and to is JobState.RUNNING
        done, total = current.done, current.total
        if change.progress is not None:
            total = current.total if change.progress[1] is None else change.progress[1]
            done = max(done, change.progress[0])  # never back: a late writer is older news
        if to is JobState.SUCCEEDED and total:
            done = total
        return dataclasses.replace(
            current,
            state=to,
            updated_at=self.clock(),
            attempt=current.attempt + 1 if starting else current.attempt,
            done=done,
            total=total,
            message=current.message if change.message is None else change.message,
            result=current.result if change.result is None else change.result,
            result_location=change.result_location or current.result_location,
            error=change.error or current.error,
        )

    async def _replace(self, status: JobStatus, etag: str) -> str:
        table = self.account.table(self.table_name)
        try:
            meta = await table.update_entity(
                _to_entity(status),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError:
            raise JobNotFound(status.job_id) from None
        return str(meta["etag"])


@dataclass(frozen=True)
class _Change:
    """What a transition changes besides the state."""

    progress: tuple[int, int | None] | None
    message: str | None
    result: Any
    result_location: str | None
    error: str | None


_FIELDS = (
    ("kind", "Kind"),
    ("done", "Done"),
    ("total", "Total"),
    ("message", "Message"),
    ("result_location", "ResultLocation"),
    ("error", "Error"),
    ("correlation_id", "CorrelationId"),
    ("attempt", "Attempt"),
    ("cancel_requested", "CancelRequested"),
    ("reply_to", "ReplyTo"),
    ("callback_url", "CallbackUrl"),
    ("run_at", "RunAt"),
)


def _to_entity(status: JobStatus) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": table_key(status.job_id, "job id"),
        "RowKey": _ROW,
        "JobId": status.job_id,
        "State": status.state.value,
        "CreatedAt": status.created_at,
        "UpdatedAt": status.updated_at,
        "Input": dump_json(status.input, f"input of job {status.job_id!r}", _JSON_LIMIT),
        "Result": dump_json(status.result, f"result of job {status.job_id!r}", _JSON_LIMIT),
    }
    for attr, column in _FIELDS:
        entity[column] = getattr(status, attr)
    return entity


def _from_entity(e: Any) -> JobStatus:
    return JobStatus(
        job_id=e["JobId"],
        kind=e.get("Kind", ""),
        state=JobState(e["State"]),
        done=read_int(e, "Done"),
        total=read_int(e, "Total"),
        message=e.get("Message") or "",
        result_location=e.get("ResultLocation"),
        result=_load_json(e.get("Result")),
        input=_load_json(e.get("Input")),
        error=e.get("Error"),
        correlation_id=e.get("CorrelationId"),
        created_at=read_time(e, "CreatedAt"),
        updated_at=read_time(e, "UpdatedAt"),
        attempt=read_int(e, "Attempt"),
        cancel_requested=bool(e.get("CancelRequested", False)),
        reply_to=e.get("ReplyTo"),
        callback_url=e.get("CallbackUrl"),
        run_at=read_time(e, "RunAt"),
        etag=etag_of(e),
    )


def _load_json(text: Any) -> Any:
    return None if text in (None, "") else json.loads(text)
