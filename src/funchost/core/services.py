"""What the host hands every trigger and binding plug-in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from funchost.config.host_config import HostConfig
from funchost.core.clients import ClientCache

T = TypeVar("T")
log = logging.getLogger("funchost.host")


class PerHost:
    """One object of each kind per host, made on first use and shared by every plug-in
    that asks for that kind: the route table every HTTP function registers in, the queue
    notifier of the same-host fast path, the one blob scanner serving every blob trigger.

    Keyed by the object's class, so a plug-in gets back the type it asked for.
    """

    def __init__(self) -> None:
        self._objects: dict[type, object] = {}
        self._closers: list[Callable[[], Awaitable[object]]] = []

    def find(self, kind: type[T]) -> T | None:
        """The `kind` object if one was made."""
        found = self._objects.get(kind)
        return found if isinstance(found, kind) else None

    def get(self, kind: type[T], make: Callable[[], T]) -> T:
        found = self._objects.get(kind)
        if found is None:
            found = self._objects[kind] = make()
        if not isinstance(found, kind):  # make() returned something else: a plug-in bug
            raise TypeError(f"per-host object for {kind.__name__} is a {type(found).__name__}")
        return found

    def on_close(self, close: Callable[[], Awaitable[object]]) -> None:
        """Call `close()` when the host ends, before its clients are closed (so an object
        can close what it opened on them, and quickly)."""
        self._closers.append(close)

    async def aclose(self) -> None:
        """Run every `on_close` callback, latest first; a failing one is logged."""
        closers, self._closers = self._closers[::-1], []
        for close in closers:
            try:
                await close()
            except Exception:  # closing is best effort at the host's end
                log.warning("Closing a per-host object failed", exc_info=True)


@dataclass(frozen=True)
class HostServices:
    """Shared, per-host state. Plug-ins keep their own state on their own instances.

    Attributes:
        ready: set once every listener started and the host is running (what the platform
            waits for before it warms a new instance up).
        stopping: set when the host starts to drain; listeners stop taking new work.
        per_host: objects plug-ins share within this host (see `PerHost`).
        reached: a listener calls it with its function's name once it has reached its
            source (a queue or Service Bus entity that exists): a function the host marked
            in error because that source was missing is no longer in error.
    """

    config: HostConfig
    environ: Mapping[str, str]
    host_id: str
    instance_id: str
    clients: ClientCache
    ready: anyio.Event = field(default_factory=anyio.Event)
    stopping: anyio.Event = field(default_factory=anyio.Event)
    per_host: PerHost = field(default_factory=PerHost)
    reached: Callable[[str], None] = lambda function: None

    def shared(self, kind: type[T], make: Callable[[], T]) -> T:
        """The host's one `kind` object, made by `make()` the first time it is asked for."""
        return self.per_host.get(kind, make)
