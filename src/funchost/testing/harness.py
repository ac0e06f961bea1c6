"""A host running in the test's own process, driven from synchronous test code.

The host runs on its own event loop in a background thread (an anyio blocking portal),
listening on a free loopback port, exactly as `funchost start` runs it: the same loader,
listeners, bindings, HTTP server and settlement. The test drives it through the methods
below, each of which runs on the host's loop and returns when done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal, start_blocking_portal

from funchost import bindings, triggers
from funchost.config.host_config import HostConfig
from funchost.config.local_settings import LocalSettings
from funchost.core.invocation import Outcome
from funchost.core.loader import APP_DIRECTORY_SETTING, LoadedApp, load_app
from funchost.host import Host, HostOptions
from funchost.storage.blobs import blob_container_key
from funchost.storage.notify import QueueNotifier
from funchost.storage.queues import Codec
from funchost.testing import process_state
from funchost.testing.recorder import CURRENT, InvocationRecord, Recorder
from funchost.triggers import Backlog
from funchost.workers.interpreter import app_interpreter
from funchost.workers.pool import PoolSettings, WorkerPool

T = TypeVar("T")


def _import_plugins_here() -> None:
    """Import the built-in trigger and binding plug-ins in the caller's thread, not lazily
    in the portal's. Under pytest funchost's modules are assertion-rewritten when imported,
    which parses them with `ast`, and Python 3.11's AST builder is not thread-safe (CPython
    gh-106905): a plug-in import in the portal racing a parse in another thread failed with
    "AST constructor recursion depth mismatch"."""
    for ref in (*triggers.BUILTIN.values(), *bindings.INPUTS.values(), *bindings.OUTPUTS.values()):
        module = ref.partition(":")[0]
        importlib.import_module(module, bindings.__name__)


# Settings a test's host must not inherit from the machine it runs on.
_HOST_SETTINGS = (
    "AzureWebJobs",
    "AzureFunctionsJobHost",
    "AzureFunctionsWebHost",
    "FUNCTIONS_",
    "WEBSITE_",
)
Body = str | bytes | Mapping[str, Any]


class Harness:
    """One in-process host for the app in `app_dir`.

    Parameters:
        app_dir: the folder with host.json and function_app.py.
        settings: app settings (environment variables) for this host; they win over
            local.settings.json `Values`, which win over the test process's environment.
        functions: load only these functions (`--functions`).
        auth: enforce function keys (off by default, as `func start`).
        grace: seconds running invocations get on `stop()`.
        working_dir: make `app_dir` the process's working directory while the host runs
            (from before the app's import), as the real worker and `funchost start` run
            in the app folder, so relative paths in functions resolve the same. Off by
            default: it is global to the test process, so only one app folder can hold
            it at a time (another harness asking for another folder gets RuntimeError).
        workers: run the app in that many worker processes, in the app's interpreter, as
            `funchost start` does (a crash or functionTimeout restarts a worker); 0, the
            default, runs it in the test's own process (fast, breakpoints work).

    Start it with `start()` (or use it as a context manager); `stop()` drains it. Several
    harnesses may run at once: each records only its own host's invocations and lines.
    """

    def __init__(
        self,
        app_dir: str | Path,
        *,
        settings: Mapping[str, str] | None = None,
        functions: tuple[str, ...] = (),
        auth: bool = False,
        grace: float = 10.0,
        working_dir: bool = False,
        workers: int = 0,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self._workers = workers
        self._working_dir = working_dir
        self.environ = _environment(self.app_dir, settings or {})
        self._functions = functions
        self._options = HostOptions(bind="127.0.0.1", port=0, auth=auth, grace_seconds=grace)
        self.recorder = Recorder()
        self.host: Host | None = None
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._serving: Any = None
        self._undo: list[Callable[[], None]] = []
        self._senders: dict[tuple[str | None, str], Any] = {}
        # Called with the loaded app before the host starts; the settings it returns are
        # added (the pytest plugin points the app's Service Bus connections this way).
        self.on_load: Callable[[LoadedApp, Mapping[str, str]], Mapping[str, str]] | None = None

    # -- life -------------------------------------------------------------------------------
    def start(self) -> Harness:
        """Import the app, start every listener and the web server; return once serving.
        Raises the host's own errors (AppLoadError, ConfigError) as `funchost start` would
        report them."""
        if self._working_dir:  # first: when refused, nothing else has changed yet
            self._undo.append(process_state.enter_directory(self.app_dir))
        self._undo.append(process_state.set_environ(self.environ))
        self._undo.append(process_state.capture_logs(self.recorder.handler))
        try:
            config = HostConfig.load(self.app_dir, self.environ)
            pool: WorkerPool | None = None
            if self._workers:
                pool = _worker_pool(config, self.environ, self._workers, self._functions)
                app = pool.start()
            else:
                with process_state.app_modules(self.app_dir) as forget:
                    self._undo.append(forget)
                    app = load_app(config, self.environ, list(self._functions) or None)
            if self.on_load is not None:
                extra = dict(self.on_load(app, self.environ))
                self.environ.update(extra)
                self._undo.append(process_state.set_environ(extra))
            options = dataclasses.replace(
                self._options, wrappers=(self.recorder.wrap,), workers=pool
            )
            self.host = Host(config, self.environ, app, options)
            _import_plugins_here()
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
            self._serving, _ = self._portal.start_task(self._serve)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Drain (running invocations get the grace period) and stop; undo what `start`
        changed in the process (settings, log capture, the app's modules, the working
        directory)."""
        try:
            if self._portal is not None and self.host is not None:
                with contextlib.suppress(Exception):  # the loop already ended
                    self._portal.call(self._close_senders)
                with contextlib.suppress(RuntimeError):
                    self._portal.call(self.host.stop)
                if self._serving is not None:
                    self._serving.result(self._options.grace_seconds + 30)
        finally:
            if self._portal_cm is not None:
                self._portal_cm.__exit__(None, None, None)
            self._portal_cm = self._portal = self._serving = None
            while self._undo:
                self._undo.pop()()

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # Everything the host runs inherits this: its log lines come to this recorder.
        CURRENT.set(self.recorder)
        await self._running().serve(task_status=task_status)

    # -- what it runs -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, where the host's HTTP functions and admin API answer."""
        return f"http://127.0.0.1:{self._running().port}"

    @property
    def app(self) -> LoadedApp:
        return self._running().app

    @property
    def logs(self) -> list[str]:
        """Every line this host and its app logged since the start (without timestamps)."""
        return list(self.recorder.handler.lines)

    def invocations(self, function: str | None = None) -> list[InvocationRecord]:
        """Finished invocations (each attempt once), oldest first."""
        return self.recorder.records(function)

    def wait_for(
        self,
        function: str,
        count: int = 1,
        *,
        timeout: float = 30.0,
        ok: bool | None = None,
        where: Callable[[InvocationRecord], bool] | None = None,
    ) -> list[InvocationRecord]:
        """Block until `function` finished `count` times (only successes or only failures
        with `ok`; only records `where` accepts); those records. AssertionError names what
        was seen on timeout."""

        def mine(records: list[InvocationRecord]) -> list[InvocationRecord]:
            return [
                r
                for r in records
                if r.function == function and ok in (None, r.ok) and (where is None or where(r))
            ]

        seen = mine(self.recorder.wait(lambda rs: len(mine(rs)) >= count, timeout))
        if len(seen) < count:
            raise AssertionError(
                f"'{function}' finished {len(seen)} matching time(s) within {timeout}s, "
                f"expected {count}; outcomes: {[_brief(r) for r in self.invocations(function)]}"
            )
        return seen

    def wait_for_log(self, pattern: str, *, timeout: float = 30.0) -> re.Match[str]:
        """Block until a line of this host matches `pattern` (a regex); the match."""
        regex = re.compile(pattern)
        found = self.recorder.wait_for_line(regex, timeout)
        if found is None:
            raise AssertionError(f"no line matching {pattern!r} within {timeout}s")
        return found

    def wait_idle(self, *, timeout: float = 30.0, settle: float = 0.1) -> None:
        """Block until no invocation runs and no trigger has visible work waiting, twice
        in a row `settle` seconds apart. AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise AssertionError(f"the host was not idle within {timeout}s")
            quiet = quiet + 1 if self.run(self._busy) == 0 else 0
            time.sleep(settle)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn(*args)` (async or not) on the host's event loop, in the host's logging
        context; its result."""
        self._running()
        assert self._portal is not None
        return self._portal.call(self._in_context, fn, *args)

    async def _in_context(self, fn: Callable[..., Any], *args: Any) -> Any:
        CURRENT.set(self.recorder)
        result = fn(*args)
        return await result if hasattr(result, "__await__") else result

    # -- driving triggers -------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """An HTTP request to the host (httpx); `path` is relative to the host's URL."""
        import httpx

        return httpx.request(method, self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def send_queue(
        self, queue: str, body: Body, *, connection: str | None = None, raw: bool = False
    ) -> None:
        """Put a message on a storage queue, encoded as the host encodes queue outputs
        (host.json `messageEncoding`; `raw=True` stores the text as given), and wake this
        host's listener on it."""
        self.run(self._send_queue, queue.lower(), _bytes(body), connection, raw)

    def wake(self, queue: str) -> None:
        """Wake this host's listeners on `queue` now (for a message sent another way)."""
        self.run(lambda: QueueNotifier.of(self._services()).notify(queue.lower()))

    def send_servicebus(
        self,
        entity: str,
        body: Body | Sequence[Body],
        *,
        connection: str | None = None,
        **properties: Any,
    ) -> None:
        """Send Service Bus messages to a queue or topic: one body, or a list of bodies
        sent together (`properties` are `ServiceBusMessage` keyword arguments: session_id,
        application_properties, ...). The sender is kept for the next send."""
        self.run(self._send_servicebus, entity, _all_bytes(body), connection, properties)

    def upload_blob(
        self,
        path: str,
        data: str | bytes,
        *,
        connection: str | None = None,
        scan: bool = True,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Upload `container/name` and, with `scan`, have this host's blob scanner sweep
        now and wait for that sweep (when this host holds the scanner lease)."""
        self.run(
            self._upload_blob, path, _bytes(data), connection, dict(metadata or {}), content_type
        )
        if scan:
            self.scan_now(path.strip("/").split("/", 1)[0])

    def scan_now(self, container: str) -> bool:
        """Have this host's blob scanner sweep now and wait for it; False when another
        instance holds the scanner lease (its next scan is up to the scan interval away)."""
        return bool(self.run(self._scan_now, container))

    def call(self, function: str, input: str | None = None) -> Outcome:
        """Run a non-HTTP function now, as `POST /admin/functions/{name}` does (a timer
        fires with IsPastDue false; a queue function gets a message with this body)."""
        listener = self._running().listener(function)
        if listener is None:
            raise LookupError(f"no running function named '{function}'")
        outcome: Outcome = self.run(listener.call, input)
        return outcome

    def fire_timer(self, function: str) -> Outcome:
        """Fire a timer function now."""
        return self.call(function, None)

    # -- on the host's loop -----------------------------------------------------------------
    async def _busy(self) -> int:
        host = self._running()
        waiting = host.inflight.count
        for state in host.functions.values():
            if isinstance(state.listener, Backlog) and not state.spec.disabled:
                with contextlib.suppress(Exception):  # storage briefly unreachable: not idle
                    waiting += await state.listener.backlog()
        return waiting

    async def _send_queue(self, queue: str, body: bytes, connection: str | None, raw: bool) -> None:
        services = self._services()
        client = services.clients.queue_service(connection).get_queue_client(queue)
        with contextlib.suppress(Exception):  # exists
            await client.create_queue()
        codec = Codec(services.config.queues.message_encoding)
        await client.send_message(body.decode("utf-8") if raw else codec.encode(body))
        QueueNotifier.of(services).notify(queue)

    async def _send_servicebus(
        self, entity: str, bodies: list[bytes], connection: str | None, properties: dict[str, Any]
    ) -> None:
        from azure.servicebus import ServiceBusMessage

        if connection is None:
            connection = self._servicebus_connection(entity)
        key = (connection, entity)
        sender = self._senders.get(key)
        if sender is None:
            client = self._services().clients.service_bus(connection)
            sender = self._senders[key] = client.get_queue_sender(entity)
        await sender.send_messages([ServiceBusMessage(b, **properties) for b in bodies])

    async def _close_senders(self) -> None:
        senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            with contextlib.suppress(Exception):
                await sender.close()

    async def _upload_blob(
        self,
        path: str,
        data: bytes,
        connection: str | None,
        metadata: dict[str, str],
        content_type: str | None,
    ) -> None:
        from azure.storage.blob import ContentSettings

        container, _, name = path.strip("/").partition("/")
        client = self._services().clients.blob_service(connection).get_container_client(container)
        with contextlib.suppress(Exception):  # exists
            await client.create_container()
        settings = ContentSettings(content_type=content_type) if content_type else None
        await client.upload_blob(
            name, data, overwrite=True, metadata=metadata or None, content_settings=settings
        )

    async def _scan_now(self, container: str) -> bool:
        from funchost.triggers.blob import BlobTriggerHub

        services = self._services()
        hub = services.per_host.find(BlobTriggerHub)
        if hub is None or not hub.scanning:
            return False
        swept = hub.next_sweep()
        QueueNotifier.of(services).notify(blob_container_key(container))
        with anyio.fail_after(30):  # a sweep takes milliseconds
            await swept.wait()
        return True

    def _servicebus_connection(self, entity: str) -> str | None:
        """The connection of the app's Service Bus binding on `entity`, else the app's one
        Service Bus connection, else the default (`AzureWebJobsServiceBus`)."""
        used: dict[str, str | None] = {}
        for spec in self._running().app.functions:
            for b in spec.bindings:
                if b.type.lower() in ("servicebus", "servicebustrigger"):
                    name = b.text("queueName") or b.text("topicName") or ""
                    used[name.lower()] = b.text("connection")
        if entity.lower() in used:
            return used[entity.lower()]
        return next(iter(set(used.values()))) if len(set(used.values())) == 1 else None

    # -- plumbing ---------------------------------------------------------------------------
    def _running(self) -> Host:
        if self.host is None or self._portal is None:
            raise RuntimeError("the host is not running: call start() first")
        return self.host

    def _services(self) -> Any:
        services = self._running().services
        assert services is not None, "the host has not started"
        return services


def _brief(record: InvocationRecord) -> str:
    return "Succeeded" if record.ok else f"Failed({type(record.error).__name__}: {record.error})"


def _all_bytes(body: Body | Sequence[Body]) -> list[bytes]:
    if isinstance(body, (list, tuple)):
        return [_bytes(b) for b in body]
    return [_bytes(body)]  # type: ignore[arg-type]  # one body: str, bytes or a mapping


def _bytes(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _environment(app_dir: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """The host's settings: the test process's environment without host settings, then
    local.settings.json `Values`, the app folder as the worker gets it, then `settings`;
    Development unless told otherwise."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_SETTINGS)}
    LocalSettings.load(app_dir).apply(environ)
    environ[APP_DIRECTORY_SETTING] = str(app_dir)
    environ.update(settings)
    environ.setdefault("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
    return environ


@contextlib.contextmanager
def running_host(app_dir: str | Path, **options: Any) -> Iterator[Harness]:
    """`with running_host(app_dir, settings={...}) as host: ...`"""
    harness = Harness(app_dir, **options)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


__all__ = ["Harness", "running_host"]


def _worker_pool(
    config: HostConfig, environ: Mapping[str, str], count: int, functions: tuple[str, ...]
) -> WorkerPool:
    interpreter = app_interpreter(config.app_dir, environ)
    settings = PoolSettings(interpreter, count, config, ",".join(functions), logging.INFO, environ)
    return WorkerPool(settings)
