"""The HTTP trigger (semantics §6): a route on the host's web server.

A request becomes the worker's `http` datum (method, full URL, lower-cased headers with
multiple values joined by ',', query without empty values, route values, the body as
bytes); the function's `http` output becomes the response. A function that takes the
streaming extension's `Request` gets the live request instead and streams its response
(the real host's HTTP proxy mode, `funchost.http.proxy`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
from anyio.abc import TaskStatus
from azure.functions.meta import Datum
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from funchost.config.http_limits import BODY_LIMIT_SETTING
from funchost.core.converters import PROXY_DATUM
from funchost.core.invocation import Failed, Invocation, Invoke, Outcome
from funchost.core.pipeline import Gauge
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import BindingError
from funchost.http.body import BodyTooLarge, BodyTooSlow, read_body
from funchost.http.keys import Level
from funchost.http.problem import problem
from funchost.http.proxy import Exchange, ProxyApp, is_streaming, returns_web_response
from funchost.http.response import DatumResponse
from funchost.http.route_table import RouteEntry, RouteTable
from funchost.http.routes import RouteTemplate

log = logging.getLogger("funchost.http")

REASON = "This function was programmatically called via the host APIs."
INIT_INDEXING = "PYTHON_ENABLE_INIT_INDEXING"


@dataclass(frozen=True)
class HttpTriggerSpec:
    route: RouteTemplate
    methods: frozenset[str]
    auth_level: Level

    @classmethod
    def from_function(cls, spec: FunctionSpec) -> HttpTriggerSpec:
        b = spec.trigger
        try:
            route = RouteTemplate.parse(b.text("route") or spec.name)
        except ValueError as exc:
            raise BindingError(str(exc)) from None
        methods = b.get("methods") or []
        if isinstance(methods, str):
            methods = [methods]
        try:
            level = Level.parse(b.text("authLevel"))
        except ValueError as exc:
            raise BindingError(str(exc)) from None
        return cls(route, frozenset(str(m).upper() for m in methods), level)


class HttpTrigger:
    """Registers the function's route at construction, so conflicts fail the start."""

    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self._invoke = invoke
        self._stopping = services.stopping
        self._limits = services.config.http_limits
        self.trigger = HttpTriggerSpec.from_function(spec)
        self._response_binding = next(
            (b.name for b in spec.bindings if b.type.lower() == "http" and b.direction == "out"),
            None,
        )
        streaming = is_streaming(spec)
        if streaming:
            _require_init_indexing(spec, services.environ)
            self._proxy = services.shared(ProxyApp, ProxyApp)
        elif returns_web_response(spec):
            # The worker would hand it FastAPI's Request, and refuses the annotation.
            raise BindingError(
                "it returns a FastAPI response but its trigger parameter is not "
                "azurefunctions.extensions.http.fastapi.Request (streaming functions take "
                "that Request)"
            )
        services.shared(_HttpKinds, _HttpKinds).add(spec.name, streaming)
        self._streams = Gauge()  # streamed exchanges whose response is not sent yet
        RouteTable.of(services).add(
            RouteEntry(
                spec,
                self.trigger.route,
                self.trigger.methods,
                self.trigger.auth_level,
                self._stream if streaming else self.handle,
                streaming=streaming,
            )
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # the host's web server does the listening
        await self._stopping.wait()
        # A streamed response is sent after its function returned: the drain waits for it.
        await self._streams.wait_zero()

    async def call(self, input: str | None) -> Outcome:
        raise BindingError(f"'{self.spec.name}' is an HTTP function: call its URL instead")

    async def handle(self, request: Request, values: dict[str, str]) -> ASGIApp:
        scope = request.scope
        try:
            body = await read_body(request, self._limits)
        except BodyTooLarge:
            return self._too_large()
        except BodyTooSlow as exc:
            return _closing(
                problem(
                    408,
                    "Request Timeout",
                    f"The request body arrived too slowly ({exc} bytes; at least "
                    f"{self._limits.min_body_bytes_per_second:g} bytes/s are needed).",
                )
            )
        except ClientDisconnect:
            log.info(
                "%s %s: the client went away before sending its whole body",
                scope["method"],
                scope["path"],
            )
            return _nothing
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        datum = Datum(
            {
                "method": Datum(scope["method"], "string"),
                "url": Datum(_url(scope), "string"),
                "headers": {k: Datum(v, "string") for k, v in _headers(scope).items()},
                # Empty query values are dropped (parse_qsl's default), as the real host does.
                "query": {k: Datum(v, "string") for k, v in query},
                "params": {k: Datum(v, "string") for k, v in values.items()},
                "body": Datum(body, "bytes"),
            },
            "http",
        )
        invocation = Invocation(
            self.spec, datum, REASON, binding_data=_binding_data(query, values, body)
        )
        outcome = await self._invoke(invocation)
        if isinstance(outcome, Failed):
            return problem(
                500,
                "Internal Server Error",
                f"Function '{self.spec.name}' failed; see the host log for "
                f"invocation {outcome.invocation_id}.",
                invocationId=outcome.invocation_id,
            )
        result = outcome.results.get(self._response_binding) if self._response_binding else None
        return DatumResponse(result)

    async def _stream(self, request: Request, values: dict[str, str]) -> ASGIApp:
        """The handler of a streaming function: the function reads the body itself."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limits.max_body_bytes:
            return self._too_large()
        return Exchange(
            self._proxy,
            self.spec,
            self._invoke_streaming,
            values,
            self._limits.max_body_bytes,
            self._streams,
        )

    async def _invoke_streaming(self, request: Request, invocation_id: str) -> Outcome:
        # The body is the function's to read: binding data has the query and route values.
        query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"))
        data = _binding_data(query, dict(request.path_params), b"")
        invocation = Invocation(
            self.spec, Datum(request, PROXY_DATUM), REASON, binding_data=data, id=invocation_id
        )
        return await self._invoke(invocation)

    def _too_large(self) -> Response:
        return _closing(
            problem(
                413,
                "Payload Too Large",
                f"The request body is over {self._limits.max_body_bytes} bytes "
                f"({BODY_LIMIT_SETTING} sets the limit).",
            )
        )


def _require_init_indexing(spec: FunctionSpec, environ: Mapping[str, str]) -> None:
    """Before Python 3.13 the worker starts the web server streaming needs only with
    PYTHON_ENABLE_INIT_INDEXING set (PW `dispatcher.py` `_handle__worker_init_request`,
    `utils/common.py` `is_true_like`); without it a streaming function never gets its
    request on Azure. From 3.13 the setting is not needed (Azure's Python 3.13 notes)."""
    if sys.version_info >= (3, 13):
        return
    if environ.get(INIT_INDEXING, "").strip().lower() not in {"1", "true", "t", "yes", "y"}:
        raise BindingError(
            f"it streams HTTP (azurefunctions.extensions.http.fastapi), which needs the app "
            f"setting {INIT_INDEXING}=1 on Python 3.12 and earlier: without it Azure's worker "
            f"never receives the request (set it in local.settings.json and in the app's "
            f"settings on Azure)"
        )


class _HttpKinds:
    """Which of the host's HTTP functions stream. Once an app imports the streaming
    extension, the worker hands every HTTP function the extension's `Request` and fails to
    load one annotated `func.HttpRequest` (PW `bindings/meta.py`
    `_check_http_input_type_annotation`); here each function keeps its own kind, and a mix
    is reported."""

    def __init__(self) -> None:
        self._classic: list[str] = []
        self._streaming = False

    def add(self, name: str, streaming: bool) -> None:
        if streaming and not self._streaming:
            self._streaming = True
            for classic in self._classic:
                _warn_mixed(classic)
        elif not streaming:
            self._classic.append(name)
            if self._streaming:
                _warn_mixed(name)


def _warn_mixed(name: str) -> None:
    log.warning(
        "Function '%s' takes func.HttpRequest while other functions of the app stream HTTP: "
        "on Azure it fails to load (once the app imports azurefunctions.extensions.http."
        "fastapi, every HTTP function must take its Request)",
        name,
    )


def _closing(response: Response) -> Response:
    # The rest of the body is not read: the connection cannot carry another request.
    response.headers["connection"] = "close"
    return response


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    """No response: the client is gone."""


def _binding_data(
    query: list[tuple[str, str]], values: dict[str, str], body: bytes
) -> dict[str, Any]:
    """What `{name}` expressions in other bindings can use: JSON body properties, then
    query parameters, then route values (the most specific wins)."""
    data: dict[str, Any] = {}
    if body[:1] == b"{":
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                data.update(parsed)
        except ValueError:
            pass
    data.update(query)
    data.update(values)
    return data


def _url(scope: Scope) -> str:
    """`scheme://host/path?query`, as the real host builds it (semantics §6.2)."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else server[0]
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return f"{scope.get('scheme', 'http')}://{host}{path.decode('latin-1')}" + (
        f"?{query.decode('latin-1')}" if query else ""
    )


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-cased names, repeated headers joined with ',' (semantics §6.2)."""
    joined: dict[str, str] = {}
    for raw_key, raw_value in scope["headers"]:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined
