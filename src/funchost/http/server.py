"""The host's web server: function routes under the route prefix, the admin API, and a
landing page at `/` when no function takes it. One ASGI app served by uvicorn inside the
host's task group."""

from __future__ import annotations

import html
import logging
import socket
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from funchost.config.http_limits import HttpLimits
from funchost.errors import HostError
from funchost.http.admin import AdminApi
from funchost.http.auth import Authorizer, KeysUnavailable
from funchost.http.keys import Level
from funchost.http.problem import problem
from funchost.http.protocol import guarded_protocol
from funchost.http.route_table import RouteEntry, RouteTable
from funchost.http.throttle import Rejected, Throttle

log = logging.getLogger("funchost.http")


class WebApp:
    """The ASGI application."""

    def __init__(
        self,
        routes: RouteTable,
        admin: AdminApi,
        auth: Authorizer,
        throttle: Throttle,
        *,
        homepage_disabled: bool = False,
    ) -> None:
        self.routes = routes
        self._admin = admin
        self._auth = auth
        self._throttle = throttle
        # AzureWebJobsDisableHomepage=true: `/` answers 204 (H `HomepageMiddleware`).
        self._homepage_disabled = homepage_disabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response: ASGIApp
        try:
            response = await self._dispatch(request)
        except KeysUnavailable as exc:
            response = problem(
                503, "Service Unavailable", f"Function keys cannot be read right now: {exc}"
            )
        except ClientDisconnect:
            log.info("%s %s: the client went away", scope["method"], scope["path"])
            return
        except Exception as exc:  # a host bug must not take the server down
            log.exception("Unhandled error serving %s %s", scope["method"], scope["path"])
            response = problem(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> ASGIApp:
        # The path and method straight from the scope: building Starlette's URL object is
        # a measurable part of a small request.
        path, method = request.scope["path"], request.scope["method"]
        first = path.strip("/").split("/", 1)[0].lower()
        if first == "admin":
            return await self._admin.handle(request, lambda: self._auth.level(request, None))
        relative = self.routes.strip_prefix(path)
        match = None if relative is None else self.routes.match(relative, method)
        if path in ("", "/") and (match is None or match.entry is None):
            # The home page only when no function takes `/` (H `HomepageMiddleware`: a
            # catch-all route with routePrefix "" gets it, as AsgiFunctionApp apps do).
            return self._landing()
        if match is None:
            return problem(404, "Not Found", f"No function route matches {path}.")
        if match.entry is None:
            allow = ", ".join(sorted(match.allowed))
            response = problem(
                405, "Method Not Allowed", f"{method} is not allowed on {path}; allowed: {allow}."
            )
            response.headers["allow"] = allow
            return response
        entry = match.entry
        needed = entry.auth_level
        if needed > Level.ANONYMOUS or entry.function.disabled:
            level = await self._auth.level(request, entry.function.name)
            if level < needed:
                return problem(
                    401,
                    "Unauthorized",
                    f"Function '{entry.function.name}' needs a "
                    f"{needed.name.lower()} key: send it in the x-functions-key "
                    f"header or as ?code=<key>; `funchost keys` prints the keys.",
                )
            # Only a real master key reaches a disabled function (without enforcement,
            # nobody presents one).
            if entry.function.disabled and (level < Level.ADMIN or not self._auth.enforced):
                return problem(404, "Not Found", f"Function '{entry.function.name}' is disabled.")
        if entry.streaming:
            return _Streaming(self._throttle, entry, request, match.values)
        try:
            async with self._throttle.slot():
                return await entry.handler(request, match.values)
        except Rejected:
            return _too_many()

    def _landing(self) -> Response:
        if self._homepage_disabled:
            return Response(status_code=204)
        return HTMLResponse(
            "<!doctype html><title>funchost</title><h1>Your Functions app is up and running"
            "</h1><p>Served by funchost. Routes:</p><ul>"
            + "".join(
                f"<li>{html.escape(e.function.name)}: "
                f"{html.escape(self.routes.url_for(e, ''))}</li>"
                for e in self.routes.entries
            )
            + "</ul>"
        )


def _too_many() -> Response:
    return problem(
        429, "Too Many Requests", "The host is at http.maxOutstandingRequests; retry later."
    )


class _Streaming:
    """A streaming function's exchange, which holds its throttle slot until the response
    is sent: the real host's throttle wraps the whole request (H `HttpThrottleMiddleware`),
    and a streamed response is produced while it is sent."""

    def __init__(
        self, throttle: Throttle, entry: RouteEntry, request: Request, values: dict[str, str]
    ) -> None:
        self._throttle = throttle
        self._entry = entry
        self._request = request
        self._values = values

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with self._throttle.slot():
                app = await self._entry.handler(self._request, self._values)
                await app(scope, receive, send)
        except Rejected:
            await _too_many()(scope, receive, send)


class _Server(uvicorn.Server):
    """uvicorn inside our task group: the host owns signals and shutdown."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self) -> Any:  # uvicorn >= 0.29
        from contextlib import nullcontext

        return nullcontext()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()  # uvicorn itself only sets a flag

    @property
    def listening(self) -> anyio.Event:
        event: anyio.Event | None = self.__dict__.get("_listening")
        if event is None:
            event = self.__dict__["_listening"] = anyio.Event()
        return event


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a busy port is a clear startup error and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only for it,
    # and without it keep-alive responses stall ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HostError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another with --port)"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class WebServer:
    def __init__(self, app: Any, sock: socket.socket, limits: HttpLimits) -> None:
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=30,
            http=guarded_protocol(limits),
            timeout_keep_alive=int(limits.keep_alive_seconds),
            # Over this many connections a new request gets 503 (and is closed).
            limit_concurrency=limits.max_connections,
        )
        self._server = _Server(config)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._server.serve, [self._sock])
            await self._server.listening.wait()
            task_status.started()

    def stop(self) -> None:
        self._server.should_exit = True
