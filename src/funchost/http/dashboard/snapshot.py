"""Taking a `Snapshot` of the host: functions and their recent runs (in memory), queues and
entities with their poison / dead-letter counts and messages (`funchost.ops`), timers
(status and lock blobs), and jobs from the jobs library's status table. Each part that
cannot be read is shown with the reason instead of failing the whole page."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import anyio
from azure.core.exceptions import ResourceNotFoundError

from funchost.core.expressions import resolve_settings
from funchost.core.history import InvocationHistory
from funchost.core.spec import FunctionSpec
from funchost.errors import HostError
from funchost.http.dashboard.model import (
    DashboardHost,
    FunctionRow,
    Snapshot,
    SourceRow,
    TimerRow,
)
from funchost.http.dashboard.sources import PeekCounter, failure_note, queue_depth
from funchost.ops.jobs import DEFAULT_TABLE, TABLE_SETTING, Job, recent_jobs
from funchost.ops.letters import Letter
from funchost.ops.sources import Source, of_functions
from funchost.ops.tools import PoisonTool, poison_tool
from funchost.storage.singleton import HOSTS_CONTAINER, OWNER_METADATA, listener_lock_id
from funchost.timer.status import status_blob_path

LETTERS_SHOWN = 5  # poison / dead-lettered messages listed per source
JOBS_SHOWN = 15
JOBS_WINDOW = timedelta(days=1)


class Snapshotter:
    """Takes snapshots of one host; the last one is reused for `max_age` seconds, so
    several open pages cost one set of storage reads."""

    def __init__(self, host: DashboardHost, max_age: float = 1.0) -> None:
        self._host = host
        self._max_age = max_age
        self._last: tuple[float, Snapshot] | None = None
        self._lock = anyio.Lock()
        self._peek: PeekCounter | None = None

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

    def sources(self) -> list[Source]:
        services = self._host.services
        if services is None:
            return []
        return of_functions(_specs(self._host), services.environ, self._host.host_id)

    def tool(self, source: Source) -> PoisonTool:
        services = self._host.services
        return poison_tool(source, services.clients, services.config.queues.message_encoding)

    async def _take(self) -> Snapshot:
        host, services = self._host, self._host.services
        notes: dict[str, str] = {}
        rows = [await self._source_row(s) for s in self.sources()]
        timers = [await self._timer_row(s) for s in _specs(host) if _is_timer(s)]
        jobs: tuple[Job, ...] | None = None
        table = services.environ.get(TABLE_SETTING) or DEFAULT_TABLE
        try:
            client = services.clients.table_service(None, what="dashboard")
            found = await recent_jobs(client.get_table_client(table), JOBS_WINDOW, JOBS_SHOWN)
            jobs = None if found is None else tuple(found)
            if found is None:
                notes["jobs"] = (
                    f"no status table '{table}' (the jobs library's; another name: "
                    f"set {TABLE_SETTING})"
                )
        except Exception as exc:  # noqa: BLE001 - shown on the page, not fatal
            notes["jobs"] = failure_note(f"reading the status table '{table}'", exc)
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

    async def _source_row(self, source: Source) -> SourceRow:
        active: int | None = None
        failed: int | None = None
        note: str | None = None
        try:
            active, failed = await self._counts(source)
        except Exception as exc:  # noqa: BLE001 - storage or broker trouble: shown, not fatal
            note = failure_note(f"counting {source.entity}", exc)
        letters: tuple[Letter, ...] = ()
        if failed:
            try:
                letters = tuple(await self.tool(source).list(LETTERS_SHOWN))
            except Exception as exc:  # noqa: BLE001 - as above
                note = failure_note(f"listing {source.failed_entity}", exc)
        return SourceRow(
            source.functions,
            source.kind,
            source.entity,
            source.failed_entity,
            source.name,
            source.connection,
            active,
            failed,
            letters,
            note,
        )

    def _peeker(self) -> PeekCounter:
        if self._peek is None:
            self._peek = PeekCounter()
            self._host.services.per_host.on_close(self._peek.close)
        return self._peek

    async def _counts(self, source: Source) -> tuple[int | None, int | None]:
        clients = self._host.services.clients
        if source.kind == "servicebus":
            client = clients.service_bus(source.connection, what="dashboard", retry_total=0)
            active = (
                None
                if source.sessions
                else await self._peeker().count(client, source.entity, dead_letters=False)
            )
            return active, await self._peeker().count(client, source.entity, dead_letters=True)
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
        _detail(spec, host.services.environ if host.services is not None else {}),
        state,
        runs.running if runs else 0,
        runs.succeeded if runs else 0,
        runs.failed if runs else 0,
        tuple(runs.recent)[:5] if runs else (),
        can_run=listener is not None and kind != "http" and not spec.disabled,
        error=error,
    )


def _detail(spec: FunctionSpec, environ: Mapping[str, str]) -> str:
    """What the trigger listens on, with %settings% resolved as the trigger resolved them."""
    trigger = spec.trigger
    for key in ("route", "queueName", "topicName", "path", "schedule"):
        value = trigger.get(key)
        if value:
            # Unresolvable: shown as written (the function's own error says what is missing).
            with contextlib.suppress(HostError):
                value = resolve_settings(str(value), environ, what=spec.name)
            if key == "topicName":
                return f"{value}/Subscriptions/{trigger.get('subscriptionName')}"
            if key == "route":
                methods = ",".join(str(m).upper() for m in (trigger.get("methods") or []))
                return f"{methods or 'ANY'} {value}"
            return str(value)
    return ""


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
