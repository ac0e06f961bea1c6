"""What the dashboard shows, as frozen records: one `Snapshot` per refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from funchost.core.history import Run
from funchost.ops.jobs import Job
from funchost.ops.letters import Letter


class DashboardHost(Protocol):
    """What the dashboard reads from the running host (the admin API's view of it)."""

    host_id: str
    instance_id: str
    state: str
    services: Any  # HostServices once serving

    def functions(self) -> tuple[Any, ...]: ...

    def errors(self) -> list[str]: ...

    def listener(self, name: str) -> Any: ...

    def spawn(self, fn: Any) -> None: ...


@dataclass(frozen=True)
class FunctionRow:
    name: str
    trigger: str  # "queue", "http", ...
    detail: str  # what it listens on
    state: str  # "running", "idle", "disabled", "error"
    running: int
    succeeded: int
    failed: int
    recent: tuple[Run, ...]
    can_run: bool  # a manual run is possible (not HTTP, listener up)
    error: str | None = None


@dataclass(frozen=True)
class SourceRow:
    """A queue (storage or Service Bus) and where its failed messages go.

    `source` names it for the poison tools (`queue:<name>`, `blob`, `servicebus:<entity>`);
    counts are None when unknown (`note` says why).
    """

    functions: tuple[str, ...]
    kind: str  # "queue", "blob", "servicebus"
    entity: str
    failed_entity: str | None
    source: str
    connection: str | None
    active: int | None
    failed: int | None
    letters: tuple[Letter, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class TimerRow:
    name: str
    schedule: str
    last: str | None
    next: str | None
    holder: str | None  # instance id named on the lock blob
    leased: bool
    mine: bool  # this instance holds the lease
    note: str | None = None


@dataclass(frozen=True)
class Snapshot:
    host_id: str
    instance_id: str
    state: str
    functions: tuple[FunctionRow, ...]
    sources: tuple[SourceRow, ...]
    timers: tuple[TimerRow, ...]
    jobs: tuple[Job, ...] | None  # None: no status table (the app keeps no jobs)
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it is partial
