"""HTTP streaming: the real host's HTTP proxy mode, in process.

With `azurefunctions-extensions-http-fastapi` the Python worker runs a web server of its
own, built from the extension's `WebApp` (FastAPI) with one catch-all route; the host
forwards each request to it as it arrives (H `Grpc/Server/DefaultHttpProxyService.cs`,
YARP), adding `x-ms-invocation-id`, while it invokes the function; the worker gives the
function the live `Request` with the route values as its path parameters and returns the
function's return value from the catch-all route, for FastAPI to send (PW `http_v2.py`
`initialize_http_server`, `sync_http_request`; `dispatcher.py`). Here the same FastAPI app,
made from the extension's own `WebApp` with the same kind of route, is called with the live
ASGI request: both bodies stream, with no second socket.

What the client gets, as from the worker's route: a `Response` as it is (a
`StreamingResponse` as it is produced); any other value as FastAPI serializes it (JSON);
None a 500, since the worker finds no response to send (`HttpCoordinator._pop_http_response`
raises); a failed invocation the function's exception, which FastAPI turns into a 500 (or
an `HTTPException`'s status).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from funchost.core.converters import PROXIED, http_extension
from funchost.core.invocation import Failed, Outcome, new_id
from funchost.core.pipeline import Gauge
from funchost.core.spec import RETURN, FunctionSpec

log = logging.getLogger("funchost.http")

INVOCATION_HEADER = b"x-ms-invocation-id"  # H ScriptConstants.HttpProxyCorrelationHeader
_EXCHANGE = "funchost.exchange"  # the scope key the catch-all route finds its exchange by

Run = Callable[[Request, str], Awaitable[Outcome]]


def is_streaming(spec: FunctionSpec) -> bool:
    """Whether the function takes the streaming extension's `Request`, or, with its trigger
    parameter unannotated, returns one of its web framework's responses."""
    base = http_extension()
    if base is None:
        return False
    param = spec.trigger_param.pytype
    if isinstance(param, type):
        return bool(base.RequestTrackerMeta.check_type(param))
    return returns_web_response(spec)


def returns_web_response(spec: FunctionSpec) -> bool:
    """Whether the function's return annotation is the streaming extension's web framework
    response (FastAPI's `Response` and its subclasses)."""
    base = http_extension()
    returns = spec.returns.pytype if spec.returns is not None else None
    if base is None or not isinstance(returns, type):
        return False
    standard = base.ResponseTrackerMeta.get_standard_response_type()
    return standard is not None and issubclass(returns, standard)


class BodyTooLarge(Exception):
    """A streamed request body went over the host's size limit while the function read it."""


class ProxyApp:
    """The worker's web app: the extension's `WebApp` with a catch-all route that hands each
    request to its exchange. One per host, as the worker has one."""

    def __init__(self) -> None:
        base = http_extension()
        if base is None:
            raise RuntimeError("the HTTP streaming extension is not imported")
        web = importlib.import_module(base.ModuleTrackerMeta.get_module()).WebApp()
        self.synchronizer = base.RequestTrackerMeta.get_synchronizer()

        async def catch_all(request: Any) -> Any:
            exchange: Exchange = request.scope[_EXCHANGE]
            return await exchange.respond(request)

        # FastAPI finds the request parameter by this annotation (the worker's route has it).
        catch_all.__annotations__ = {"request": base.RequestTrackerMeta.get_request_type()}
        web.route(catch_all)
        self.asgi = web.get_app()


class Exchange:
    """One request to a streaming function: an ASGI app that sends the live request through
    the worker's web app, whose catch-all route runs the function (`respond`).

    Parameters:
        run: invokes the function with the request and the invocation id.
        values: the route values, given to the request as its path parameters.
        max_body: the host's body size limit, applied as the function reads the body.
        active: counts exchanges until their response is sent (the drain waits for them).
    """

    def __init__(
        self,
        proxy: ProxyApp,
        function: FunctionSpec,
        run: Run,
        values: dict[str, str],
        max_body: int,
        active: Gauge,
    ) -> None:
        self._proxy = proxy
        self._function = function
        self._run = run
        self._values = values
        self._max_body = max_body
        self._active = active
        self.invocation_id = new_id()
        self._failure: BaseException | None = None  # the invocation's own error, if it failed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [*scope["headers"], (INVOCATION_HEADER, self.invocation_id.encode())]
        forwarded = {**scope, "headers": headers, _EXCHANGE: self}
        self._active.up()
        try:
            await self._proxy.asgi(forwarded, self._limited(receive), send)
        except (ClientDisconnect, OSError):
            log.info(
                "%s %s: the client went away during the streamed exchange (Id=%s)",
                scope["method"],
                scope["path"],
                self.invocation_id,
            )
        except Exception as exc:  # noqa: BLE001 - FastAPI answered 500 (or cut the response)
            if exc is not self._failure:  # the host logged the invocation's own failure
                log.error(
                    "The streamed response of '%s' (Id=%s) failed: %s: %s",
                    self._function.qualified_name,
                    self.invocation_id,
                    type(exc).__name__,
                    exc,
                )
        finally:
            self._active.down()

    async def respond(self, request: Request) -> Any:
        """What the catch-all route returns: the function's return value."""
        self._proxy.synchronizer.sync_route_params(request, dict(self._values))
        token = PROXIED.set(True)  # the return value is handed through, not encoded
        try:
            outcome = await self._run(request, self.invocation_id)
        finally:
            PROXIED.reset(token)
        if isinstance(outcome, Failed):
            self._failure = outcome.error
            raise outcome.error
        datum = outcome.results.get(RETURN)
        if datum is None or datum.value is None:
            log.warning(
                "'%s' (Id=%s) returned None: a streaming function's response is a 500, as "
                "on Azure, where the worker finds no response to send",
                self._function.qualified_name,
                self.invocation_id,
            )
            missing = f"No http response found for invocation {self.invocation_id}"
            self._failure = ValueError(missing)
            raise self._failure
        return datum.value

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, failing the read that takes the body over the size limit (the real host's
        Kestrel fails the forwarded body's read the same way)."""
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max_body:
                raise BodyTooLarge(f"the request body is over {self._max_body} bytes")
            return message

        return limited
