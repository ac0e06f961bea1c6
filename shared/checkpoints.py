"""Checkpoints: save a long job's progress and resume from the last one after a crash.

A checkpoint is one Table row per (job id, scope): the step the job is in, a cursor inside
that step, and a small JSON state. A state too large for a Table property goes to a blob,
written *before* the row that points at it, so a reader never sees half a checkpoint.
Every save is conditional on the version it replaces (ETag): if two runs of one job race,
the second save raises `CheckpointConflict` instead of silently overwriting the first.

    store = CheckpointStore(StorageAccount.from_settings())
    progress = await store.resume(job_id)
    final = await progress.run_steps([("download", download), ("resize", resize)])
    await progress.finish()

A step function takes a `StepContext` and returns the state for the next step; a long step
may call ``await ctx.save(cursor=..., state=...)`` and, resumed, finds ``ctx.cursor`` set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ._tables import (
    Clock,
    delete_if_unchanged,
    dump_json,
    etag_of,
    read_cursor,
    read_int,
    read_time,
    table_key,
    utcnow,
    write_cursor,
)
from .errors import CheckpointConflict, InvalidArgument
from .storage import StorageAccount

log = logging.getLogger(__name__)

DEFAULT_TABLE = "JobCheckpoints"
DEFAULT_CONTAINER = "job-checkpoints"
_NO_LIMIT = 1 << 40


@dataclass(frozen=True)
class Checkpoint:
    """A saved point of a job's progress.

    Attributes
    ----------
    step:
        The step the job is in (with `cursor` None: the step that last finished).
    cursor:
        How far the job got inside `step`, or None.
    state:
        The job's JSON state at that point.
    version:
        1 for the first save, +1 for each later one.
    state_blob:
        The blob holding `state` when it was too large to keep inline.
    """

    job_id: str
    step: str
    cursor: str | None
    state: Any
    version: int
    updated_at: datetime
    state_blob: str | None = None
    etag: str = field(default="", repr=False, compare=False)


class CheckpointStore:
    """Checkpoints in an Azure Table, large states in a blob container.

    Parameters
    ----------
    account:
        Where the table and container live (both created on first use).
    table, container:
        ``JobCheckpoints`` and ``job-checkpoints`` by default.
    scope:
        Separates checkpoints of different job families sharing job ids.
    inline_limit:
        States longer than this (JSON characters) are stored in a blob.
    """

    def __init__(
        self,
        account: StorageAccount,
        *,
        table: str = DEFAULT_TABLE,
        container: str = DEFAULT_CONTAINER,
        scope: str = "default",
        inline_limit: int = 30_000,
        clock: Clock = utcnow,
    ) -> None:
        self.account = account
        self.table_name = table
        self.container_name = container
        self.scope = scope
        self.inline_limit = inline_limit
        self.clock = clock

    async def load(self, job_id: str) -> Checkpoint | None:
        """The job's last checkpoint, or None if it never saved one (or was cleared).

        Raises
        ------
        CheckpointConflict
            The row points at a state blob that no longer exists (cleared meanwhile).
        """
        table = await self.account.ensure_table(self.table_name)
        try:
            row = await table.get_entity(table_key(job_id, "job id"), table_key(self.scope))
        except ResourceNotFoundError:
            return None
        blob = row.get("StateBlob")
        if blob:
            try:
                downloader = await self.account.container(self.container_name).download_blob(blob)
                text = (await downloader.readall()).decode()
            except ResourceNotFoundError:
                raise CheckpointConflict(
                    job_id, f"state blob {blob!r} is gone (the checkpoint was cleared meanwhile?)"
                ) from None
        else:
            text = row.get("State") or "null"
        return Checkpoint(
            job_id,
            row["Step"],
            row.get("Cursor"),
            json.loads(text),
            read_int(row, "Version", 1),
            read_time(row, "UpdatedAt") or self.clock(),
            blob or None,
            etag_of(row),
        )

    async def save(
        self,
        job_id: str,
        step: str,
        *,
        cursor: str | None = None,
        state: Any = None,
        previous: Checkpoint | None,
    ) -> Checkpoint:
        """Save a new checkpoint in place of `previous`.

        Parameters
        ----------
        previous:
            The checkpoint this one replaces (as loaded or last saved), or None for the
            job's first checkpoint. Required, so that an overwrite is always a decision.

        Returns
        -------
        Checkpoint
            The saved checkpoint; pass it as `previous` next time.

        Raises
        ------
        CheckpointConflict
            Another run saved or cleared the checkpoint since `previous` was read, or
            `previous` is None but a checkpoint exists.
        InvalidArgument
            `state` is not JSON-serialisable.
        """
        if not step:
            raise InvalidArgument("checkpoint step must be a non-empty string")
        table = await self.account.ensure_table(self.table_name)
        version = 1 if previous is None else previous.version + 1
        text = dump_json(state, f"state of job {job_id!r}", _NO_LIMIT)
        blob = (
            await self._put_blob(job_id, version, text) if len(text) > self.inline_limit else None
        )
        now = self.clock()
        row = {
            "PartitionKey": table_key(job_id, "job id"),
            "RowKey": table_key(self.scope),
            "JobId": job_id[:1024],
            "Scope": self.scope,
            "Step": step,
            "Cursor": cursor,
            "State": None if blob else text,
            "StateBlob": blob,
            "Version": version,
            "UpdatedAt": now,
        }
        try:
            if previous is None:
                meta = await table.create_entity(row)
            else:
                meta = await table.update_entity(
                    row,
                    mode=UpdateMode.REPLACE,
                    etag=previous.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except ResourceExistsError:
            await self._drop_blob(blob)
            raise CheckpointConflict(
                job_id, "a checkpoint already exists; load it and pass it as previous="
            ) from None
        except (ResourceModifiedError, ResourceNotFoundError):
            await self._drop_blob(blob)
            raise CheckpointConflict(
                job_id,
                f"version {previous.version if previous else 0} "
                "was replaced or cleared by another run",
            ) from None
        if previous is not None and previous.state_blob:
            await self._drop_blob(previous.state_blob)
        return Checkpoint(job_id, step, cursor, state, version, now, blob, str(meta["etag"]))

    async def clear(self, checkpoint: Checkpoint) -> None:
        """Delete the checkpoint (the job is finished), if it is still `checkpoint`.

        Raises
        ------
        CheckpointConflict
            Another run saved a newer checkpoint meanwhile.
        """
        table = await self.account.ensure_table(self.table_name)
        try:
            await table.delete_entity(
                table_key(checkpoint.job_id, "job id"),
                table_key(self.scope),
                etag=checkpoint.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            raise CheckpointConflict(
                checkpoint.job_id, "not cleared: another run saved a newer checkpoint"
            ) from None
        await self._drop_blob(checkpoint.state_blob)

    async def resume(self, job_id: str) -> JobProgress:
        """A `JobProgress` for `job_id`, starting from its last checkpoint if any."""
        return JobProgress(self, job_id, await self.load(job_id))

    async def purge(
        self,
        older_than: timedelta,
        *,
        limit: int = 1000,
        keep: Callable[[str], Awaitable[bool]] | None = None,
    ) -> int:
        """Delete checkpoints (of every scope) not saved for `older_than`, with their state
        blobs; returns how many. A finished job clears its own, so these are left by jobs
        that failed, crashed or were dropped.

        `keep(job_id)` returning True spares one (`shared.retention` spares jobs still
        running, and Failed ones until their status retention ends). At most `limit` old
        checkpoints are looked at per call; a cursor row in the table makes the next call
        go on after them (and start over past the end), so spared ones never hold up the
        rest. Deletes are conditional on the ETag: a checkpoint saved meanwhile stays.
        """
        table = await self.account.ensure_table(self.table_name)
        cursor = await read_cursor(table, "checkpoints")
        query, params = "UpdatedAt lt @cutoff", {"cutoff": self.clock() - older_than}
        if cursor.get("After") is not None:
            query += " and ( PartitionKey gt @pk or ( PartitionKey eq @pk and RowKey gt @rk ) )"
            params.update(pk=cursor["After"], rk=cursor["AfterRow"])
        rows = []
        async for row in table.query_entities(query, parameters=params):
            rows.append(row)
            if len(rows) >= limit:
                break
        deleted = 0
        for row in rows:
            if (keep is None or not await keep(str(row["JobId"]))) and await delete_if_unchanged(
                table, row
            ):
                deleted += 1
                await self._drop_blob(row.get("StateBlob"))
        # A full batch: the next call goes on after it; a short one: it starts over.
        last = rows[-1] if len(rows) >= limit else {}
        await write_cursor(
            table, "checkpoints", After=last.get("PartitionKey"), AfterRow=last.get("RowKey")
        )
        return deleted

    async def purge_blobs(self, older_than: timedelta, *, limit: int = 1000) -> int:
        """Delete state blobs older than `older_than` that no checkpoint points at (left by
        a writer that died between its blob and its row, or a failed delete); returns how
        many. Looks at one listing page of `limit` blobs per call, going on from the last
        call's page (the marker is kept in a cursor row)."""
        table = await self.account.ensure_table(self.table_name)
        container = await self.account.ensure_container(self.container_name)
        marker = (await read_cursor(table, "blobs")).get("Marker")
        pages: Any = container.list_blobs(results_per_page=limit).by_page(marker)
        cutoff, deleted = self.clock() - older_than, 0
        async for blob in await anext(pages, _empty_page()):
            if blob.last_modified < cutoff and not await self._referenced(table, blob.name):
                with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                    await container.delete_blob(
                        blob.name, etag=blob.etag, match_condition=MatchConditions.IfNotModified
                    )
                    deleted += 1
        await write_cursor(table, "blobs", Marker=pages.continuation_token)
        return deleted

    async def _referenced(self, table: TableClient, name: str) -> bool:
        parts = name.split("/")
        if len(parts) != 3:
            return True  # not a name this store writes: leave it alone
        try:
            row = await table.get_entity(parts[1], parts[0])
        except ResourceNotFoundError:
            return False
        return bool(row.get("StateBlob") == name)

    async def _put_blob(self, job_id: str, version: int, text: str) -> str:
        container = await self.account.ensure_container(self.container_name)
        # A random part: two racing runs both writing version N must not share a blob.
        name = (
            f"{table_key(self.scope)}/{table_key(job_id)}/{version:010d}-"
            f"{uuid.uuid4().hex[:12]}.json"
        )
        await container.upload_blob(name, text.encode(), overwrite=True)
        return name

    async def _drop_blob(self, name: str | None) -> None:
        if not name:
            return
        try:
            await self.account.container(self.container_name).delete_blob(name)
        except ResourceNotFoundError:
            pass
        except Exception:
            log.warning("could not delete old checkpoint blob %s", name, exc_info=True)


async def _empty_page() -> AsyncIterator[Any]:
    return
    yield  # an async generator that yields nothing


StepFn = Callable[["StepContext"], Awaitable[Any]]


class JobProgress:
    """One run's handle on a job's checkpoint; each save replaces the last one it made.

    Attributes
    ----------
    checkpoint:
        The latest checkpoint (loaded, or saved by this run), or None.
    resumed:
        True if the run started from an earlier run's checkpoint.
    """

    def __init__(self, store: CheckpointStore, job_id: str, checkpoint: Checkpoint | None) -> None:
        self.store = store
        self.job_id = job_id
        self.checkpoint = checkpoint
        self.resumed = checkpoint is not None
        self._resumed_from = checkpoint

    @property
    def resumed_from(self) -> Checkpoint | None:
        """The earlier run's checkpoint this run started from, else None: the check that
        also narrows the type (`if (last := progress.resumed_from) is not None: ...`)."""
        return self._resumed_from

    async def save(self, step: str, *, cursor: str | None = None, state: Any = None) -> Checkpoint:
        """Save progress. Raises `CheckpointConflict` if another run saved meanwhile."""
        self.checkpoint = await self.store.save(
            self.job_id, step, cursor=cursor, state=state, previous=self.checkpoint
        )
        return self.checkpoint

    async def finish(self) -> None:
        """Clear the checkpoint: the job is done and needs no resuming."""
        if self.checkpoint is not None:
            await self.store.clear(self.checkpoint)
            self.checkpoint = None

    async def run_steps(self, steps: Sequence[tuple[str, StepFn]], state: Any = None) -> Any:
        """Run `steps` in order, skipping those an earlier run finished.

        After each step a checkpoint (step name, no cursor, returned state) is saved. Resumed,
        the run continues after the last finished step, or re-enters an unfinished one with
        its saved cursor and state.

        Returns
        -------
        The state returned by the last step.

        Raises
        ------
        InvalidArgument
            Step names repeat, or the checkpoint names a step not in `steps`.
        CheckpointConflict
            Another run of the same job saved meanwhile.
        """
        names = [name for name, _ in steps]
        if len(set(names)) != len(names):
            raise InvalidArgument(f"step names must be unique: {names}")
        start, cursor = 0, None
        if self.checkpoint is not None:
            if self.checkpoint.step not in names:
                raise InvalidArgument(
                    f"job {self.job_id!r}: checkpoint step "
                    f"{self.checkpoint.step!r} is not one of {names}"
                )
            index = names.index(self.checkpoint.step)
            state, cursor = self.checkpoint.state, self.checkpoint.cursor
            start = index if cursor is not None else index + 1
            log.info(
                "job %r: resuming at step %s (cursor %r)",
                self.job_id,
                names[start] if start < len(names) else "(all done)",
                cursor,
            )
        for name, fn in steps[start:]:
            ctx = StepContext(self, name, state, cursor)
            state = await fn(ctx)
            await self.save(name, state=state)
            cursor = None
        return state


@dataclass
class StepContext:
    """What a step function gets: its name, the state so far, and where to resume."""

    progress: JobProgress
    name: str
    state: Any
    cursor: str | None = None

    async def save(self, *, cursor: str, state: Any = None) -> Checkpoint:
        """Save a point inside this step; a resumed run re-enters the step with `cursor`."""
        if cursor is None:
            raise InvalidArgument("a step's intermediate checkpoint needs a cursor")
        self.state = state if state is not None else self.state
        self.cursor = cursor
        return await self.progress.save(self.name, cursor=cursor, state=self.state)
