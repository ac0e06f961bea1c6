"""The host: builds every listener and binding once, then runs them and the web server in
one task group, and drains in dependency order on stop."""

from __future__ import annotations

import logging
import secrets as _secrets
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from funchost import bindings as binding_registry
from funchost import triggers
from funchost.bindings import InputBinding, OutputBinding
from funchost.config.host_config import HostConfig
from funchost.config.hostid import host_id as compute_host_id
from funchost.core import pipeline
from funchost.core.clients import ClientCache
from funchost.core.invocation import Failed, Invocation, Invoke, Outcome
from funchost.core.loader import LoadedApp
from funchost.core.runner import FunctionRunner, thread_count
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import HostError
from funchost.http.admin import AdminApi
from funchost.http.auth import Authorizer
from funchost.http.keys import KeyManager, open_key_manager
from funchost.http.route_table import RouteTable
from funchost.http.server import WebApp, WebServer, bind_socket
from funchost.http.throttle import Throttle
from funchost.storage.notify import QueueNotifier

log = logging.getLogger("funchost.host")


@dataclass(frozen=True)
class HostOptions:
    bind: str = "0.0.0.0"
    port: int = 7071
    auth: bool = True  # enforce function keys (func start does not; Azure does)
    grace_seconds: float = 30.0  # how long in-flight invocations get on stop
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False


@dataclass
class FunctionState:
    spec: FunctionSpec
    listener: triggers.Listener | None = None
    invoke: Invoke | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Host:
    """One running host. `serve()` runs until `stop()` (or cancellation)."""

    def __init__(
        self,
        config: HostConfig,
        environ: Mapping[str, str],
        app: LoadedApp,
        options: HostOptions = HostOptions(),
    ) -> None:
        self.config = config
        self.environ = environ
        self.app = app
        self.options = options
        self.host_id = compute_host_id(environ, str(config.app_dir))
        self.instance_id = environ.get("WEBSITE_INSTANCE_ID") or ("0" * 24 + _secrets.token_hex(4))
        self.extension_bundle = config.extension_bundle
        self.state = "Default"
        self.port = options.port
        self.routes = RouteTable(config.http.route_prefix)
        self.inflight = pipeline.InFlight()
        self.functions: dict[str, FunctionState] = {}
        self.keys: KeyManager | None = None
        self._stop = anyio.Event()
        self._tg: TaskGroup | None = None
        self._clients = ClientCache(environ)
        self._executor = ThreadPoolExecutor(
            thread_count(environ), thread_name_prefix="funchost-worker"
        )

    # -- HostView (admin API) -------------------------------------------------------------
    def errors(self) -> list[str]:
        load = [str(e) for e in self.app.errors]
        return load + [f"function '{n}': {s.error}" for n, s in self.functions.items() if s.error]

    def listener(self, name: str) -> triggers.Listener | None:
        state = self.functions.get(name.lower())
        return state.listener if state else None

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> None:
        assert self._tg is not None, "the host is not running"
        self._tg.start_soon(fn)

    def list_functions(self) -> tuple[FunctionSpec, ...]:
        return tuple(s.spec for s in self.functions.values())

    # -- running ----------------------------------------------------------------------------
    async def dispatch(self, invocation: Invocation) -> Outcome:
        state = self.functions.get(invocation.function.name.lower())
        if state is None or state.invoke is None:
            return Failed(
                invocation.id, HostError(f"function '{invocation.function.name}' is not running")
            )
        return await state.invoke(invocation)

    def stop(self) -> None:
        self._stop.set()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start everything, report started, run until `stop()`, then drain and close."""
        self.state = "Starting"
        services = HostServices(
            self.config,
            self.environ,
            self.host_id,
            self.instance_id,
            self._clients,
            self.dispatch,
            anyio.Event(),
            self.routes,
            QueueNotifier(),
        )
        for spec in self.app.functions:
            self.functions[spec.name.lower()] = self._build(spec, services)
        self.keys = (
            open_key_manager(
                self.config.app_dir, self.environ, self._clients, self.host_id, self.instance_id
            )
            if self.options.auth
            else None
        )
        sock = bind_socket(self.options.bind, self.options.port)
        self.port = int(sock.getsockname()[1])
        web = WebServer(self._asgi(), sock)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await tg.start(web.run)
                if self.keys is not None:
                    tg.start_soon(self._prepare_keys)
                for state in self.functions.values():
                    if state.listener is not None and not state.spec.disabled:
                        await tg.start(self._supervise, state)
                self.state = "Running"
                task_status.started()
                await self._stop.wait()
                await self._drain(services, web)
                tg.cancel_scope.cancel()
        finally:
            self.state = "Stopped"
            self._executor.shutdown(wait=False, cancel_futures=True)
            with anyio.CancelScope(shield=True):
                await self._clients.aclose()

    async def serve_started(self, on_started: Callable[[], None]) -> None:
        """`serve()`, calling `on_started` once everything listens."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.serve)
            on_started()

    async def _drain(self, services: HostServices, web: WebServer) -> None:
        """Stop taking work, let in-flight invocations finish within the grace period."""
        self.state = "Stopping"
        log.info(
            "Stopping the host: waiting up to %.0fs for %d running invocation(s)",
            self.options.grace_seconds,
            self.inflight.count,
        )
        services.stopping.set()
        web.stop()
        if not await self.inflight.wait_idle(self.options.grace_seconds):
            log.warning(
                "%d invocation(s) still running after %.0fs; cancelling them",
                self.inflight.count,
                self.options.grace_seconds,
            )

    async def _supervise(
        self, state: FunctionState, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run a listener; if it crashes, log and restart it with backoff (it must not take
        the host down)."""
        assert state.listener is not None
        delay = 1.0
        started = False
        while True:
            try:
                if not started:
                    await state.listener.run(task_status=task_status)
                else:
                    await state.listener.run()
                return
            except Exception:
                if not started:
                    task_status.started()
                log.exception(
                    "The listener for function '%s' failed; restarting in %.0fs",
                    state.spec.name,
                    delay,
                )
            started = True
            await anyio.sleep(delay)
            delay = min(delay * 2, 60.0)

    def _build(self, spec: FunctionSpec, services: HostServices) -> FunctionState:
        state = FunctionState(spec)
        try:
            inputs: dict[str, InputBinding] = {}
            outputs: dict[str, OutputBinding] = {}
            for param in spec.inputs:
                if param.binding is not spec.trigger:
                    inputs[param.name] = binding_registry.create_input(param.binding, services)
            for b in spec.bindings:
                if b.direction == "out":
                    out = binding_registry.create_output(b, services)
                    if out is not None:
                        outputs[b.name] = out
            runner = FunctionRunner(spec, inputs, outputs, self._executor)
            # Inside out: timeout per attempt, a log pair per attempt, retries, in-flight.
            invoke: Invoke = pipeline.with_timeout(runner, self.config.function_timeout)
            invoke = pipeline.with_logging(invoke)
            invoke = pipeline.with_retry(
                invoke, spec.retry if _retries(spec) else None, services.stopping
            )
            state.invoke = self.inflight.wrap(invoke)
            state.listener = triggers.factory_for(spec.trigger.type)(spec, services)
        except HostError as exc:
            state.error = str(exc)
            log.error("The '%s' function is in error: %s", spec.name, exc)
        return state

    async def _prepare_keys(self) -> None:
        """Create missing keys at start; storage that is down is retried, not fatal."""
        assert self.keys is not None
        names = [e.function.name for e in self.routes.entries]
        delay = 1.0
        while True:
            try:
                await self.keys.ensure(names)
                return
            except Exception as exc:  # noqa: BLE001 - storage errors of every kind
                log.warning(
                    "Function keys are not available yet (%s); retrying in %.0fs", exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _asgi(self) -> Any:
        admin = AdminApi(_AdminView(self))
        app: Any = WebApp(
            self.routes,
            admin,
            Authorizer(self.keys),
            Throttle(
                self.config.http.max_concurrent_requests, self.config.http.max_outstanding_requests
            ),
        )
        if self.options.cors:
            from starlette.middleware.cors import CORSMiddleware

            app = CORSMiddleware(
                app,
                allow_origins=list(self.options.cors),
                allow_credentials=self.options.cors_credentials,
                allow_methods=["*"],
                allow_headers=["*"],
            )
        return app


def _retries(spec: FunctionSpec) -> bool:
    # Runtime retry policies apply only to some triggers (semantics §1.2); queue, blob and
    # Service Bus retry through their own redelivery instead.
    return spec.trigger.type.lower() in (
        "timertrigger",
        "eventhubtrigger",
        "kafkatrigger",
        "cosmosdbtrigger",
    )


class _AdminView:
    """Adapts Host to the admin API's HostView."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    def functions(self) -> tuple[FunctionSpec, ...]:
        return self._host.list_functions()
