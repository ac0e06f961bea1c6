"""The table of function routes: registration with the real host's checks, and lookup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from funchost.errors import BindingError
from funchost.http.keys import Level
from funchost.http.routes import RouteTemplate

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp

    from funchost.core.services import HostServices
    from funchost.core.spec import FunctionSpec

Handler = Callable[["Request", dict[str, str]], Awaitable["ASGIApp"]]


@dataclass(frozen=True)
class RouteEntry:
    function: FunctionSpec
    template: RouteTemplate
    methods: frozenset[str]  # empty = every method
    auth_level: Level
    handler: Handler
    # The handler's response streams (HTTP proxy mode): the web server holds the request's
    # throttle slot until it is sent.
    streaming: bool = False

    def allows(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


@dataclass(frozen=True)
class Match:
    entry: RouteEntry | None  # None: the path matched, but not with this method (405)
    values: dict[str, str]
    allowed: frozenset[str] = frozenset()


class RouteTable:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/")
        self._entries: list[RouteEntry] = []

    @classmethod
    def of(cls, services: HostServices) -> RouteTable:
        """The host's route table, which its web server serves."""
        return services.shared(cls, lambda: cls(services.config.http.route_prefix))

    @property
    def entries(self) -> tuple[RouteEntry, ...]:
        return tuple(self._entries)

    def add(self, entry: RouteEntry) -> None:
        """Raises BindingError for a reserved route or one that conflicts (semantics §6.1,
        H `ScriptHost.ValidateHttpFunction`, `HttpRoutesConflict`)."""
        route = entry.template.text.strip("/").lower()
        if route.startswith(("admin", "runtime")):
            raise BindingError(
                f"route '{entry.template.text}' conflicts with the host's "
                f"built-in routes (admin/..., runtime/...)"
            )
        for other in self._entries:
            same = other.template.text.strip("/").lower() == route
            overlap = not entry.methods or not other.methods or entry.methods & other.methods
            if same and overlap:
                raise BindingError(
                    f"route '{entry.template.text}' conflicts with the route of "
                    f"function '{other.function.name}'"
                )
        self._entries.append(entry)
        self._entries.sort(key=lambda e: (e.template.precedence, e.template.text.lower()))

    def match(self, path: str, method: str) -> Match | None:
        """The most specific route for `path` (already without the prefix)."""
        allowed: set[str] = set()
        for entry in self._entries:
            values = entry.template.match(path)
            if values is None:
                continue
            if entry.allows(method):
                return Match(entry, values)
            allowed |= entry.methods
        return Match(None, {}, frozenset(allowed)) if allowed else None

    def strip_prefix(self, path: str) -> str | None:
        """`path` relative to the route prefix, or None when outside it."""
        path = path.lstrip("/")
        if not self.prefix:
            return path
        low, prefix = path.lower(), self.prefix.lower()
        if low == prefix:
            return ""
        if low.startswith(prefix + "/"):
            return path[len(prefix) + 1 :]
        return None

    def url_for(self, entry: RouteEntry, base: str) -> str:
        parts = [p for p in (self.prefix, entry.template.text.strip("/")) if p]
        return f"{base.rstrip('/')}/{'/'.join(parts)}"
