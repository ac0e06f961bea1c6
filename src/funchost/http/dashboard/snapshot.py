"""Taking a `Snapshot` of the host: functions and their recent runs (in memory), queues and
entities with their poison / dead-letter counts and messages, timers (status and lock
blobs), and jobs from the library's status store. Each part that cannot be read is shown
with the reason instead of failing the whole page."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from azure.core.exceptions import ResourceNotFoundError

from funchost.core.history import InvocationHistory
from funchost.core.spec import FunctionSpec
from funchost.http.dashboard import library
from funchost.http.dashboard.model import (
    DashboardHost,
    FunctionRow,
    JobRow,
    Letter,
    Snapshot,
    SourceRow,
    TimerRow,
)
from funchost.http.dashboard.sources import (
    PeekCounter,
    Source,
    failure_note,
    queue_depth,
    sources_of,
)
from funchost.storage.singleton import HOSTS_CONTAINER, OWNER_METADATA, listener_lock_id
from funchost.timer.status import status_blob_path

LETTERS_SHOWN = 5  # poison / dead-lettered messages listed per source
JOBS_SHOWN = 25
JOBS_WINDOW = timedelta(days=1)


class Snapshotter:
    """Takes snapshots of one host; the last one is reused for `max_age` seconds, so
    several open pages cost one set of storage reads."""

    def __init__(self, host: DashboardHost, max_age: float = 1.0) -> None:
        self._host = host
        self._max_age = max_age
        self._last: tuple[float, Snapshot] | None = None
        self._lock = anyio.Lock()
        self._peek = PeekCounter()
        self.library: library.Library | None = None

    def functions_version(self) -> int:
        services = self._host.services
        return 0 if services is None else InvocationHistory.of(services).version

    def functions(self) -> tuple[FunctionRow, ...]:
        """The functions part alone (no I/O): what changes with every invocation."""
        services = self._host.services
        history = InvocationHistory.of(services) if services is not None else None
        errors = self._host.errors()
        return tuple(_function_row(self._host, s, history, errors) for s in _specs(self._host))

    async def take(self) -> Snapshot:
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._max_age:
                return self._last[1]
            snapshot = await self._take()
            self._last = (time.monotonic(), snapshot)
            return snapshot

    def forget(self) -> None:
        """The next `take` reads everything again (after an action changed something)."""
        self._last = None

    def lib(self) -> library.Library | None:
        services = self._host.services
        if services is None or not library.loaded():
            return None
        if self.library is None:
            self.library = library.Library(
                services.environ, services.config.queues.message_encoding, self._host.host_id
            )
            services.per_host.on_close(self.library.close)
        return self.library

    async def _take(self) -> Snapshot:
        host, services = self._host, self._host.services
        notes: dict[str, str] = {}
        specs = _specs(host)
        sources = sources_of(specs, services.environ, host.host_id) if services else []
        lib = self.lib()
        if lib is None:
            notes["sources"] = library.NOT_USED
        rows = [await self._source_row(s, lib) for s in sources]
        timers = [await self._timer_row(s) for s in specs if _is_timer(s)]
        jobs: tuple[JobRow, ...] | None = None
        if lib is None or not library.loaded("status"):
            notes["jobs"] = library.NOT_USED
        else:
            try:
                jobs = await _jobs(lib)
            except Exception as exc:  # noqa: BLE001 - shown on the page, not fatal
                notes["jobs"] = failure_note("reading the status store", exc)
        return Snapshot(
            host.host_id,
            host.instance_id,
            host.state,
            self.functions(),
            tuple(rows),
            tuple(timers),
            jobs,
            notes,
        )

    async def _source_row(self, source: Source, lib: library.Library | None) -> SourceRow:
        active: int | None = None
        failed: int | None = None
        note: str | None = None
        try:
            active, failed = await self._counts(source)
        except Exception as exc:  # noqa: BLE001 - storage or broker trouble: shown, not fatal
            note = failure_note(f"counting {source.entity}", exc)
        letters: tuple[Letter, ...] = ()
        if lib is not None and failed:
            try:
                letters = await _letters(lib, source)
            except Exception as exc:  # noqa: BLE001 - as above
                note = failure_note(f"listing {source.failed_entity}", exc)
        return SourceRow(
            source.functions,
            source.kind,
            source.entity,
            source.failed_entity,
            source.source,
            source.connection,
            active,
            failed,
            letters,
            note,
        )

    async def _counts(self, source: Source) -> tuple[int | None, int | None]:
        clients = self._host.services.clients
        if source.kind == "servicebus":
            client = clients.service_bus(source.connection, what="dashboard", retry_total=0)
            active = (
                None
                if source.sessions
                else await self._peek.count(client, source.entity, dead_letters=False)
            )
            return active, await self._peek.count(client, source.entity, dead_letters=True)
        service = clients.queue_service(source.connection, what="dashboard")
        if source.kind == "blob":  # the host queue lives in AzureWebJobsStorage
            active = await queue_depth(clients.queue_service(None, what="dashboard"), source.entity)
        else:
            active = await queue_depth(service, source.entity)
        return active, await queue_depth(service, source.failed_entity)

    async def _timer_row(self, spec: FunctionSpec) -> TimerRow:
        host = self._host
        schedule = str(spec.trigger.get("schedule") or "")
        try:
            blobs = host.services.clients.blob_service(None, what="dashboard")
            container = blobs.get_container_client(HOSTS_CONTAINER)
            status = await _read_json(container, status_blob_path(host.host_id, spec.name))
            lock = container.get_blob_client(f"locks/{listener_lock_id(host.host_id, spec.name)}")
            leased, holder = await _lease(lock)
        except Exception as exc:  # noqa: BLE001 - shown, not fatal
            return TimerRow(
                spec.name,
                schedule,
                None,
                None,
                None,
                False,
                False,
                failure_note("reading the timer's blobs", exc),
            )
        last = status.get("Last") if status else None
        if last and last.startswith("0001-01-01"):
            last = None  # never ran: the host writes DateTime.MinValue
        return TimerRow(
            spec.name,
            schedule,
            last,
            status.get("Next") if status else None,
            holder,
            leased,
            leased and holder == host.instance_id,
            None if status else "no status blob yet (or useMonitor is off)",
        )


def _specs(host: DashboardHost) -> tuple[FunctionSpec, ...]:
    return tuple(host.functions())


def _is_timer(spec: FunctionSpec) -> bool:
    return spec.trigger.type.lower() == "timertrigger"


def _function_row(
    host: DashboardHost,
    spec: FunctionSpec,
    history: InvocationHistory | None,
    errors: list[str],
) -> FunctionRow:
    kind = spec.trigger.type.lower().removesuffix("trigger")
    error = next((e for e in errors if f"'{spec.name}'" in e), None)
    listener = host.listener(spec.name)
    runs = history.runs(spec.name) if history is not None else None
    if spec.disabled:
        state = "disabled"
    elif listener is None:
        state = "error"
    elif runs is not None and runs.running:
        state = "running"
    else:
        state = "idle"
    return FunctionRow(
        spec.name,
        kind,
        _detail(spec),
        state,
        runs.running if runs else 0,
        runs.succeeded if runs else 0,
        runs.failed if runs else 0,
        tuple(runs.recent)[:5] if runs else (),
        can_run=listener is not None and kind != "http" and not spec.disabled,
        error=error,
    )


def _detail(spec: FunctionSpec) -> str:
    trigger = spec.trigger
    for key in ("route", "queueName", "topicName", "path", "schedule"):
        value = trigger.get(key)
        if value:
            if key == "topicName":
                return f"{value}/{trigger.get('subscriptionName')}"
            if key == "route":
                methods = ",".join(str(m).upper() for m in (trigger.get("methods") or []))
                return f"{methods or 'ANY'} {value}"
            return str(value)
    return ""


async def _letters(lib: library.Library, source: Source) -> tuple[Letter, ...]:
    found = await lib.poison(source.kind, source.entity, source.connection).list(LETTERS_SHOWN)
    return tuple(
        Letter(
            d.message_id,
            _preview(d.decoded),
            d.job_id,
            d.reason or d.description,
            d.enqueued_at.isoformat() if d.enqueued_at else None,
            d.delivery_count if d.delivery_count is not None else d.dequeue_count,
        )
        for d in found
    )


def _preview(body: bytes, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _jobs(lib: library.Library) -> tuple[JobRow, ...]:
    since = datetime.now(timezone.utc) - JOBS_WINDOW
    found = await lib.statuses().list(created_after=since, limit=None)
    found.sort(key=lambda s: s.updated_at or s.created_at or since, reverse=True)
    return tuple(
        JobRow(
            s.job_id,
            s.kind,
            s.state.value,
            s.done,
            s.total,
            s.progress,
            s.message,
            s.attempt,
            s.updated_at.isoformat() if s.updated_at else None,
            s.error,
        )
        for s in found[:JOBS_SHOWN]
    )


async def _read_json(container: Any, path: str) -> dict[str, Any] | None:
    try:
        stream = await container.get_blob_client(path).download_blob()
        data = json.loads(await stream.readall())
    except ResourceNotFoundError:
        return None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _lease(blob: Any) -> tuple[bool, str | None]:
    try:
        props = await blob.get_blob_properties()
    except ResourceNotFoundError:
        return False, None
    leased = str(props.lease.state or "").lower() == "leased"
    holder = (props.metadata or {}).get(OWNER_METADATA)
    return leased, holder if leased else None
