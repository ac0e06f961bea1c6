"""The admin API (semantics §6.6; H `HostController.cs`, `FunctionsController.cs`).

`GET|POST /admin/host/ping` (anonymous), `/admin/warmup` (anonymous, runs the warmup
function), `GET /admin/host/status`, `GET /admin/functions`, `GET /admin/functions/{name}`,
`POST /admin/functions/{name}` with `{"input": "..."}` (202, runs the function in the
background). Everything but ping and warmup needs the master key.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from funchost import __version__
from funchost.errors import HostError
from funchost.http.dashboard import Dashboard
from funchost.http.keys import Level
from funchost.http.problem import problem

if TYPE_CHECKING:
    from funchost.core.invocation import Outcome
    from funchost.core.spec import FunctionSpec
    from funchost.http.route_table import RouteTable

log = logging.getLogger("funchost.admin")


class ManualCall(Protocol):
    """What `POST /admin/functions/{name}` needs of a function's listener."""

    async def call(self, input: str | None) -> Outcome: ...


class HostView(Protocol):
    """What the admin API reads from the running host."""

    host_id: str
    instance_id: str
    state: str
    routes: RouteTable
    extension_bundle: Any

    def functions(self) -> tuple[FunctionSpec, ...]: ...

    def errors(self) -> list[str]: ...

    def listener(self, name: str) -> ManualCall | None: ...

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None: ...


class AdminApi:
    def __init__(self, host: HostView) -> None:
        self._host = host
        self._started = time.time()
        self._dashboard = Dashboard(host)

    async def handle(self, request: Request, level: Callable[[], Awaitable[Level]]) -> Response:
        """Route an /admin/... request; `level` computes the caller's key level lazily."""
        parts = [p for p in request.url.path.strip("/").split("/")[1:] if p]
        method = request.method.upper()
        if parts[:2] == ["host", "ping"]:
            if method not in ("GET", "POST"):
                return _method_not_allowed("GET, POST")
            return Response(status_code=200)
        if parts == ["warmup"]:
            return await self._warmup()
        if parts[:1] == ["dashboard"]:  # signs in with the master key on its own page
            return await self._dashboard.handle(request, level)
        if await level() < Level.ADMIN:
            return problem(
                401,
                "Unauthorized",
                "This admin endpoint needs the master key: send it in the "
                "x-functions-key header or as ?code=<key>; `funchost keys` prints it.",
            )
        if parts[:2] == ["host", "status"] and len(parts) == 2:
            return JSONResponse(self._status()) if method == "GET" else _method_not_allowed("GET")
        if parts[:1] == ["functions"] and len(parts) == 1:
            if method != "GET":
                return _method_not_allowed("GET")
            base = _base(request)
            return JSONResponse([self._describe(f, base) for f in self._host.functions()])
        if parts[:1] == ["functions"] and len(parts) == 2:
            return await self._function(request, parts[1])
        return problem(404, "Not Found", f"No admin endpoint at {request.url.path}.")

    async def _function(self, request: Request, name: str) -> Response:
        """`GET|POST /admin/functions/{name}`."""
        spec = next((f for f in self._host.functions() if f.name.lower() == name.lower()), None)
        if spec is None:
            return problem(404, "Not Found", f"No function named '{name}'.")
        if request.method.upper() == "GET":
            return JSONResponse(self._describe(spec, _base(request)))
        if request.method.upper() == "POST":
            return await self._invoke(request, spec)
        return _method_not_allowed("GET, POST")

    async def _warmup(self) -> Response:
        """`/admin/warmup`, any method, no key: runs the warmup function and answers when
        it is done (H `WebScriptHostHttpRoutesManager`: the warmup function's route under
        `admin`, or a route to nothing, which answers 404, when the app has none)."""
        spec = next((f for f in self._host.functions() if is_warmup_function(f)), None)
        listener = None if spec is None or spec.disabled else self._host.listener(spec.name)
        if spec is None or listener is None:
            return problem(
                404,
                "Not Found",
                "No warmup function is running (a function named 'warmup' with "
                "@app.warm_up_trigger; see GET /admin/host/status if it failed to start).",
            )
        outcome = await listener.call(None)
        if not outcome.ok:
            return problem(
                500,
                "Internal Server Error",
                f"Function '{spec.name}' failed; see the host log for "
                f"invocation {outcome.invocation_id}.",
                invocationId=outcome.invocation_id,
            )
        return Response(status_code=200)

    def _status(self) -> dict[str, Any]:
        errors = self._host.errors()
        return {
            "id": self._host.host_id,
            "state": self._host.state,
            "version": __version__,
            "versionDetails": f"funchost {__version__} (pure-Python Azure Functions host)",
            "platformVersion": "",
            "instanceId": self._host.instance_id,
            "computerName": socket.gethostname(),
            "processUptime": int((time.time() - self._started) * 1000),
            "functionAppContentEditingState": "NotAllowed",
            "extensionBundle": self._host.extension_bundle,
            **({"errors": errors} if errors else {}),
        }

    def _describe(self, spec: FunctionSpec, base: str) -> dict[str, Any]:
        entry = next((e for e in self._host.routes.entries if e.function is spec), None)
        config = dict(spec.function_json)
        config["disabled"] = spec.disabled
        return {
            "name": spec.name,
            "script_root_path_href": None,
            "script_href": None,
            "config_href": None,
            "test_data_href": None,
            "href": f"{base}/admin/functions/{spec.name}",
            "invoke_url_template": self._host.routes.url_for(entry, base) if entry else None,
            "language": "python",
            "config": config,
            "files": None,
            "test_data": None,
            "isDisabled": spec.disabled,
            "isDirect": True,
            "isProxy": False,
        }

    async def _invoke(self, request: Request, spec: FunctionSpec) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return problem(400, "Bad Request", f"The body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return problem(400, "Bad Request", 'Send a JSON object: {"input": "<string>"}.')
        value = body.get("input")
        if value is not None and not isinstance(value, str):
            value = json.dumps(value)
        listener = self._host.listener(spec.name)
        if listener is None:
            return problem(
                409,
                "Conflict",
                f"Function '{spec.name}' is not running "
                "(it failed to start; see GET /admin/host/status).",
            )
        if spec.trigger.type.lower() == "httptrigger":
            return problem(
                400, "Bad Request", f"'{spec.name}' is an HTTP function; call its URL instead."
            )

        async def run() -> None:
            try:
                await listener.call(value)
            except HostError as exc:
                log.error("Manual run of '%s' failed: %s", spec.name, exc)

        self._host.spawn(run)
        return Response(status_code=202)


WARMUP_FUNCTION = "warmup"


def is_warmup_function(spec: FunctionSpec) -> bool:
    """The function the host runs to warm an instance up: named `warmup`, with a warmup
    trigger, both in any case (H `ScriptJobHostExtensions.IsWarmupFunction`)."""
    return spec.name.lower() == WARMUP_FUNCTION and spec.trigger.type.lower() == "warmuptrigger"


def _method_not_allowed(allow: str) -> Response:
    response = problem(405, "Method Not Allowed", f"Allowed: {allow}.")
    response.headers["allow"] = allow
    return response


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


__all__ = ["WARMUP_FUNCTION", "AdminApi", "HostView", "is_warmup_function"]
