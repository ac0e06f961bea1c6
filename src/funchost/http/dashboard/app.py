"""The dashboard's routes under `/admin/dashboard`: the page, its static files, the session
(sign in with the master key once), the live stream and the actions.

The master key is asked for once: the page sends it in the `x-functions-key` header of
`POST /admin/dashboard/session`, and gets an HttpOnly, SameSite=Strict session cookie
scoped to the dashboard. The key never goes in an address (a `code` query parameter is
refused here) and is never logged. When keys are not enforced (`--no-auth`) every visitor
is signed in. Actions need the session and a same-origin request.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from funchost.http.dashboard import actions, render
from funchost.http.dashboard.model import DashboardHost
from funchost.http.dashboard.snapshot import Snapshotter
from funchost.http.keys import Level
from funchost.http.problem import problem

log = logging.getLogger("funchost.dashboard")

COOKIE = "funchost_dashboard"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 64
REFRESH_SETTING = "FUNCHOST_DASHBOARD_REFRESH"  # seconds between full refreshes (default 2)
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
Level_ = Callable[[], Awaitable[Level]]
T = TypeVar("T")


class Dashboard:
    """Serves `/admin/dashboard/...` for one host."""

    def __init__(self, host: Any) -> None:
        self._host: DashboardHost = host
        self._sessions: dict[str, float] = {}  # token -> expiry (monotonic)
        self.snapshots = Snapshotter(self._host)

    async def handle(self, request: Request, level: Level_) -> Response:
        parts = [p for p in request.url.path.strip("/").split("/")[2:] if p]
        method = request.method.upper()
        if "code" in request.query_params:
            return problem(
                400,
                "Bad Request",
                "Do not put the master key in the address: open /admin/dashboard and sign "
                "in on the page.",
            )
        if parts[:1] == ["static"] and len(parts) == 2 and method == "GET":
            return _static(parts[1])
        if parts[:1] == ["session"]:
            return await self._session(request, parts[1:], level)
        signed_in = self._valid(request) or await _open(request, level)
        if not parts and method == "GET":
            return await self._page(request, signed_in)
        if not signed_in:
            return problem(401, "Unauthorized", "Sign in to the dashboard first.")
        if parts == ["events"] and method == "GET":
            return StreamingResponse(
                self._events(),
                media_type="text/event-stream",
                headers={"cache-control": "no-store"},
            )
        if parts[:1] == ["actions"] and len(parts) == 2 and method == "POST":
            if not _same_origin(request):
                return problem(403, "Forbidden", "Actions must come from the dashboard's page.")
            result = await actions.perform(
                parts[1], await _form(request), self._host, self.snapshots
            )
            self.snapshots.forget()
            return JSONResponse(result.body, status_code=result.status)
        return problem(404, "Not Found", f"No dashboard endpoint at {request.url.path}.")

    # -- session -----------------------------------------------------------------------------

    async def _session(self, request: Request, rest: list[str], level: Level_) -> Response:
        if request.method.upper() != "POST":
            return problem(405, "Method Not Allowed", "Allowed: POST.")
        if rest == ["delete"]:
            self._sessions.pop(request.cookies.get(COOKIE, ""), None)
            response = Response(status_code=303, headers={"location": render.BASE})
            response.delete_cookie(COOKIE, path=render.BASE)
            return response
        if rest or not _same_origin(request):
            return problem(403, "Forbidden", "Sign in from the dashboard's page.")
        if not request.headers.get("x-functions-key"):
            return problem(400, "Bad Request", "Send the master key in the x-functions-key header.")
        if await level() < Level.ADMIN:
            log.warning("Dashboard sign-in refused: not the master key")
            return problem(401, "Unauthorized", "That is not the master key.")
        response = JSONResponse({"signedIn": True})
        self._start_session(request, response)
        return response

    def _start_session(self, request: Request, response: Response) -> None:
        now = time.monotonic()
        self._sessions = {t: e for t, e in self._sessions.items() if e > now}
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + SESSION_SECONDS
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            path=render.BASE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def _valid(self, request: Request) -> bool:
        expiry = self._sessions.get(request.cookies.get(COOKIE, ""))
        return expiry is not None and expiry > time.monotonic()

    # -- page and stream -------------------------------------------------------------------

    async def _page(self, request: Request, signed_in: bool) -> Response:
        snapshot = await self.snapshots.take() if signed_in else None
        response = Response(
            render.page(snapshot, f"funchost · {self._host.host_id}"),
            media_type="text/html",
            headers={"cache-control": "no-store", "content-security-policy": _CSP},
        )
        if signed_in and not self._valid(request):
            self._start_session(request, response)  # keys are not enforced
        return response

    async def _events(self) -> AsyncIterator[str]:
        """Changed sections as they change: the functions part every second (from memory),
        everything every `FUNCHOST_DASHBOARD_REFRESH` seconds; a comment keeps idle
        connections open. Ends when the host stops."""
        services = self._host.services
        stopping = services.stopping if services is not None else anyio.Event()
        refresh = _refresh_seconds(services.environ if services is not None else {})
        sent: dict[str, str] = {}
        version, last_full = -1, 0.0
        yield "retry: 2000\n\n"
        while not stopping.is_set():
            changed: dict[str, str] = {}
            if time.monotonic() - last_full >= refresh:
                snapshot = await _unless(stopping, self.snapshots.take)
                if snapshot is None:
                    break  # the host is stopping: its clients are about to close
                last_full = time.monotonic()
                changed["header"] = render.header(snapshot)
                changed.update({name: render.section(name, snapshot) for name in render.SECTIONS})
            elif self.snapshots.functions_version() != version:
                changed["functions"] = render.functions(self.snapshots.functions())
            version = self.snapshots.functions_version()
            for name, html in changed.items():
                if name == "header" or sent.get(name) != html:
                    sent[name] = html
                    yield f"data: {json.dumps({'id': name, 'html': html})}\n\n"
            with anyio.move_on_after(1.0):
                await stopping.wait()


async def _unless(stopping: anyio.Event, work: Callable[[], Awaitable[T]]) -> T | None:
    """`work()`, or None once `stopping` is set (then `work` is cancelled): a refresh must
    not outlive the host's clients (it would open new ones after they were closed) nor
    hold up its stop."""
    done: list[T] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            done.append(await work())
            tg.cancel_scope.cancel()

        async def watch() -> None:
            await stopping.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(run)
        tg.start_soon(watch)
    return done[0] if done else None


_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


async def _open(request: Request, level: Level_) -> bool:
    """True when keys are not enforced: a request that presents no key is an admin."""
    if request.headers.get("x-functions-key"):
        return False
    return await level() >= Level.ADMIN


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on POST; it must be this host (CSRF, besides SameSite)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form body (Starlette's parser needs python-multipart; this does not)."""
    body = (await request.body())[:65536].decode("utf-8", "replace")
    return {k: v for k, v in parse_qsl(body, keep_blank_values=True)}


def _static(name: str) -> Response:
    media = STATIC.get(name)
    if media is None:
        return problem(404, "Not Found", f"No dashboard file {name}.")
    return Response(render.template(name), media_type=media, headers={"cache-control": "no-cache"})


def _refresh_seconds(environ: Any) -> float:
    try:
        return max(0.2, float(environ.get(REFRESH_SETTING) or 2.0))
    except ValueError:
        return 2.0
