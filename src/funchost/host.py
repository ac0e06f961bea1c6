"""The host: builds every listener and binding once, then runs them and the web server in
one task group, and drains in dependency order on stop."""

from __future__ import annotations

import logging
import secrets as _secrets
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from funchost import bindings as binding_registry
from funchost import triggers
from funchost.config.host_config import HostConfig
from funchost.config.hostid import host_id as compute_host_id
from funchost.core import pipeline
from funchost.core.backoff import RandomizedBackoff
from funchost.core.clients import ClientCache
from funchost.core.invocation import InputBinding, Invoke, OutputBinding
from funchost.core.lifespan import end_asgi_lifespan
from funchost.core.loader import LoadedApp
from funchost.core.runner import FunctionRunner, InProcess, thread_count
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.core.telemetry import instrument
from funchost.errors import HostError
from funchost.http.admin import AdminApi
from funchost.http.auth import Authorizer
from funchost.http.keys import KeyManager, open_key_manager
from funchost.http.route_table import RouteTable
from funchost.http.server import WebApp, WebServer, bind_socket
from funchost.http.throttle import Throttle

if TYPE_CHECKING:
    from funchost.workers.pool import WorkerPool

log = logging.getLogger("funchost.host")

WORKER_THREAD_PREFIX = "funchost-worker"  # the threads sync functions run in
# After the grace period, how long listeners get to release what was cut short.
SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class HostOptions:
    """How the host runs, beyond host.json and the app settings.

    Attributes:
        auth: enforce function keys (func start does not; Azure does).
        grace_seconds: how long running invocations get to finish on stop.
        wrappers: extra `Invoke -> Invoke` wrappers (for example a test harness's recorder),
            applied inside the retry policy, so each attempt passes through them, with the
            invocation id already in the logging context.
    """

    bind: str = "0.0.0.0"
    port: int = 7071
    auth: bool = True
    grace_seconds: float = 30.0
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False
    wrappers: tuple[Callable[[Invoke], Invoke], ...] = ()
    workers: WorkerPool | None = None


@dataclass
class FunctionState:
    spec: FunctionSpec
    listener: triggers.Listener | None = None
    error: str | None = None
    error_until_reached: bool = False  # the error is a missing source (mark_in_error)


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
        self._listening = pipeline.Gauge()  # listeners still running (the drain waits for them)
        self.functions: dict[str, FunctionState] = {}
        self.keys: KeyManager | None = None
        self.services: HostServices | None = None  # made in serve(), on the event loop
        self._stop = anyio.Event()
        self._tg: TaskGroup | None = None
        self._clients = ClientCache(environ)
        self._executor = ThreadPoolExecutor(
            thread_count(environ), thread_name_prefix=WORKER_THREAD_PREFIX
        )

    # -- HostView (admin API) -------------------------------------------------------------
    def errors(self) -> list[str]:
        """The app's load error (it runs without functions then), each function that could
        not be loaded, and each that could not start."""
        app = [self.app.error] if self.app.error else []
        load = [str(e) for e in self.app.errors]
        started = [f"function '{n}': {s.error}" for n, s in self.functions.items() if s.error]
        return app + load + started

    def mark_in_error(self, name: str, reason: str) -> None:
        """Report a function that listens but cannot work yet (for example, its Service
        Bus queue does not exist at start): the listing and `/admin/host/status` name it
        with the reason, and its listener keeps retrying."""
        state = self.functions.get(name.lower())
        if state is not None and state.error is None:
            state.error = reason
            state.error_until_reached = True

    def _reached(self, name: str) -> None:
        """The function's listener reached its source: a mark_in_error no longer holds."""
        state = self.functions.get(name.lower())
        if state is not None and state.error_until_reached:
            state.error, state.error_until_reached = None, False
            log.info("The '%s' function is no longer in error: it reached its source", name)

    def listener(self, name: str) -> triggers.Listener | None:
        state = self.functions.get(name.lower())
        return state.listener if state else None

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        assert self._tg is not None, "the host is not running"
        self._tg.start_soon(fn)

    def list_functions(self) -> tuple[FunctionSpec, ...]:
        return tuple(s.spec for s in self.functions.values())

    # -- running ----------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start everything, report started, run until `stop()`, then drain and close."""
        self.state = "Starting"
        services = self.services = HostServices(
            self.config,
            self.environ,
            self.host_id,
            self.instance_id,
            self._clients,
            reached=self._reached,
        )
        # The web server serves the table every HTTP trigger registers in.
        services.shared(RouteTable, lambda: self.routes)
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
        web = WebServer(self._asgi(), sock, self.config.http_limits)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self.options.workers is not None:
                    await tg.start(self.options.workers.run, self.environ, services.stopping)
                await tg.start(web.run)
                if self.keys is not None:
                    tg.start_soon(self._prepare_keys)
                for state in self.functions.values():
                    if state.listener is not None and not state.spec.disabled:
                        await tg.start(self._supervise, state)
                self.state = "Running"
                services.ready.set()
                task_status.started()
                await self._stop.wait()
                await self._drain(services, web)
                tg.cancel_scope.cancel()
        finally:
            self.state = "Stopped"
            sock.close()  # the port is free again at once (a restart binds it anew)
            self._executor.shutdown(wait=False, cancel_futures=True)
            with anyio.CancelScope(shield=True):
                await end_asgi_lifespan(self.app.instance)
                await services.per_host.aclose()  # before the clients they may use
                await self._clients.aclose()

    async def serve_started(self, on_started: Callable[[], None]) -> None:
        """`serve()`, calling `on_started` once everything listens."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.serve)
            on_started()

    async def _drain(self, services: HostServices, web: WebServer) -> None:
        """Stop in dependency order (like WebJobs' stopping_wait_time): listeners stop
        taking work; running invocations get the grace period to finish while locks and
        visibility are still renewed; each listener settles what finished and releases
        what did not start, then returns. Past the grace period the rest are cut short and
        released too. The caller then closes the clients."""
        self.state = "Stopping"
        log.info(
            "Stopping the host: waiting up to %.0fs for %d running invocation(s)",
            self.options.grace_seconds,
            self.inflight.count,
        )
        services.stopping.set()
        web.stop()
        with anyio.move_on_after(self.options.grace_seconds):
            await self._quiet()
        if self._listening.count or self.inflight.count:
            log.warning(
                "%d invocation(s) still running after %.0fs; cutting them short",
                self.inflight.count,
                self.options.grace_seconds,
            )
            self.inflight.cancel_all()
            # Settling (release, abandon) is a round trip per message; a listener that
            # still has not returned is cancelled with the task group.
            with anyio.move_on_after(SETTLE_SECONDS):
                await self._quiet()

    async def _quiet(self) -> None:
        """Every listener returned (it settled its messages) and no invocation runs (HTTP
        requests are invocations without a listener to wait for)."""
        await self._listening.wait_zero()
        await self.inflight.wait_idle()

    async def _supervise(
        self, state: FunctionState, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run a listener; if it crashes, log and restart it with backoff (it must not take
        the host down). The host's start waits for the first run's `started()` (or its
        crash); every later run gets a task status that ignores `started()`."""
        assert state.listener is not None
        once = _StartedOnce(task_status)
        backoff = RandomizedBackoff(1.0, 60.0)
        self._listening.up()
        try:
            while True:
                try:
                    await state.listener.run(task_status=once)
                    return
                except Exception:  # a listener's crash must not end the host
                    once.started()
                    delay = backoff.next()
                    log.exception(
                        "The listener for function '%s' failed; restarting in %.0fs",
                        state.spec.name,
                        delay,
                    )
                if self._stop.is_set():
                    return
                with anyio.move_on_after(delay):
                    await self._stop.wait()
        finally:
            self._listening.down()

    def _build(self, spec: FunctionSpec, services: HostServices) -> FunctionState:
        state = FunctionState(spec)
        try:
            factory = triggers.factory_for(spec.trigger.type)
            invoke = self._compose(spec, services, triggers.runtime_retries(factory))
            state.listener = factory(spec, services, invoke)
        except HostError as exc:
            state.error = str(exc)
            log.error("The '%s' function is in error: %s", spec.name, exc)
        return state

    def _compose(self, spec: FunctionSpec, services: HostServices, retries: bool) -> Invoke:
        """The function's invoke, composed once. Inside out: the runner, the timeout of one
        attempt, one Executing/Executed pair per attempt, the options' wrappers, the
        runtime retry policy (when the trigger takes it), the in-flight tracker."""
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
        code = self.options.workers or InProcess(self._executor)
        runner = FunctionRunner(spec, inputs, outputs, code)
        invoke: Invoke = pipeline.with_timeout(runner, self.config.function_timeout)
        invoke = instrument(pipeline.with_logging(invoke), services)
        for wrap in self.options.wrappers:
            invoke = wrap(invoke)
        invoke = pipeline.with_retry(invoke, spec.retry if retries else None, services.stopping)
        return self.inflight.wrap(invoke)

    async def _prepare_keys(self) -> None:
        """Create missing keys at start; storage that is down is retried, not fatal."""
        assert self.keys is not None
        names = [e.function.name for e in self.routes.entries]
        backoff = RandomizedBackoff(1.0, 30.0)
        while True:
            try:
                await self.keys.ensure(names)
                return
            except Exception as exc:  # noqa: BLE001 - storage errors of every kind
                delay = backoff.next()
                log.warning(
                    "Function keys are not available yet (%s); retrying in %.0fs", exc, delay
                )
                await anyio.sleep(delay)

    def _asgi(self) -> Any:
        admin = AdminApi(_AdminView(self))
        app: Any = WebApp(
            self.routes,
            admin,
            Authorizer(self.keys),
            Throttle(
                self.config.http.max_concurrent_requests, self.config.http.max_outstanding_requests
            ),
            homepage_disabled=self.environ.get("AzureWebJobsDisableHomepage", "").lower() == "true",
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


class _StartedOnce:
    """Passes the first `started()` on to the host's start and ignores the rest, so a
    listener that crashed after reporting started can be run again."""

    def __init__(self, inner: TaskStatus[None]) -> None:
        self._inner: TaskStatus[None] | None = inner

    def started(self, value: None = None) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.started(value)


class _AdminView:
    """Adapts Host to the admin API's HostView."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    def functions(self) -> tuple[FunctionSpec, ...]:
        return self._host.list_functions()
