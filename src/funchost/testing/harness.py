"""A host running in the test's own process, driven from synchronous test code.

The host runs on its own event loop in a background thread (an anyio blocking portal),
listening on a free loopback port, exactly as `funchost start` runs it: the same loader,
listeners, bindings, HTTP server and settlement. The test drives it through the methods
below, each of which runs on the host's loop and returns when done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from funchost.config.host_config import HostConfig
from funchost.config.local_settings import LocalSettings
from funchost.core.invocation import Outcome
from funchost.core.loader import LoadedApp, load_app
from funchost.host import Host, HostOptions
from funchost.storage.blobs import blob_container_key
from funchost.storage.notify import QueueNotifier
from funchost.storage.queues import Codec
from funchost.testing.recorder import InvocationRecord, Recorder
from funchost.triggers import Backlog

T = TypeVar("T")

# Settings a test's host must not inherit from the machine it runs on.
_HOST_SETTINGS = ("AzureWebJobs", "AzureFunctionsJobHost", "FUNCTIONS_", "WEBSITE_")


class Harness:
    """One in-process host for the app in `app_dir`.

    Parameters:
        app_dir: the folder with host.json and function_app.py.
        settings: app settings (environment variables) for this host; they win over
            local.settings.json `Values`, which win over the test process's environment.
        functions: load only these functions (`--functions`).
        auth: enforce function keys (off by default, as `func start`).
        grace: seconds running invocations get on `stop()`.

    Start it with `start()` (or use it as a context manager); `stop()` drains it.
    """

    def __init__(
        self,
        app_dir: str | Path,
        *,
        settings: Mapping[str, str] | None = None,
        functions: tuple[str, ...] = (),
        auth: bool = False,
        grace: float = 10.0,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.environ = _environment(self.app_dir, settings or {})
        self._functions = functions
        self._options = HostOptions(bind="127.0.0.1", port=0, auth=auth, grace_seconds=grace)
        self.recorder = Recorder()
        self.host: Host | None = None
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._serving: Any = None
        self._restore: Callable[[], None] = lambda: None
        # Called with the loaded app before the host starts; the settings it returns are
        # added (the pytest plugin points the app's Service Bus connections this way).
        self.on_load: Callable[[LoadedApp, Mapping[str, str]], Mapping[str, str]] | None = None

    # -- life -------------------------------------------------------------------------------
    def start(self) -> Harness:
        """Import the app, start every listener and the web server; return once serving.
        Raises the host's own errors (AppLoadError, ConfigError) as `funchost start` would
        report them."""
        self._restore = _apply(self.environ, self.recorder)
        try:
            config = HostConfig.load(self.app_dir, self.environ)
            with _app_modules(self.app_dir) as forget:
                self._restore = _then(self._restore, forget)
                app = load_app(config, self.environ, list(self._functions) or None)
            if self.on_load is not None:
                extra = dict(self.on_load(app, self.environ))
                self.environ.update(extra)
                self._restore = _then(self._restore, _set_environ(extra))
            options = dataclasses.replace(self._options, wrappers=(self.recorder.wrap,))
            self.host = Host(config, self.environ, app, options)
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
            self._serving, _ = self._portal.start_task(self.host.serve)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Drain (running invocations get the grace period) and stop; undo the settings."""
        try:
            if self._portal is not None and self.host is not None:
                with contextlib.suppress(RuntimeError):  # the loop already ended
                    self._portal.call(self.host.stop)
                if self._serving is not None:
                    self._serving.result(self._options.grace_seconds + 30)
        finally:
            if self._portal_cm is not None:
                self._portal_cm.__exit__(None, None, None)
            self._portal_cm = self._portal = self._serving = None
            self._restore()
            self._restore = lambda: None

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
        """Every line the host and the app logged since the start (without timestamps)."""
        return list(self.recorder.handler.lines)

    def invocations(self, function: str | None = None) -> list[InvocationRecord]:
        """Finished invocations (each attempt once), oldest first."""
        return self.recorder.records(function)

    def wait_for(
        self, function: str, count: int = 1, *, timeout: float = 30.0, ok: bool | None = None
    ) -> list[InvocationRecord]:
        """Block until `function` finished `count` times (only successes or only failures
        with `ok`); its records. AssertionError names what was seen on timeout."""

        def mine(records: list[InvocationRecord]) -> list[InvocationRecord]:
            return [r for r in records if r.function == function and ok in (None, r.ok)]

        seen = mine(self.recorder.wait(lambda rs: len(mine(rs)) >= count, timeout))
        if len(seen) < count:
            raise AssertionError(
                f"'{function}' finished {len(seen)} time(s) within {timeout}s, expected "
                f"{count}; outcomes: {[_brief(r) for r in self.invocations(function)]}"
            )
        return seen

    def wait_idle(self, *, timeout: float = 30.0, settle: float = 0.1) -> None:
        """Block until no invocation runs and no trigger has visible work waiting, twice
        in a row `settle` seconds apart. AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise AssertionError(f"the host was not idle within {timeout}s")
            quiet = quiet + 1 if self._call(self._busy) == 0 else 0
            time.sleep(settle)

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
        self, queue: str, body: str | bytes | Mapping[str, Any], *, connection: str | None = None
    ) -> None:
        """Put a message on a storage queue, encoded as the host encodes queue outputs
        (host.json `messageEncoding`), and wake this host's listener on it."""
        self._call(self._send_queue, queue.lower(), _bytes(body), connection)

    def send_servicebus(
        self,
        entity: str,
        body: str | bytes | Mapping[str, Any],
        *,
        connection: str | None = None,
        **properties: Any,
    ) -> None:
        """Send a Service Bus message to a queue or topic (`properties` are
        `ServiceBusMessage` keyword arguments: session_id, application_properties, ...)."""
        self._call(self._send_servicebus, entity, _bytes(body), connection, properties)

    def upload_blob(
        self, path: str, data: str | bytes, *, connection: str | None = None, scan: bool = True
    ) -> None:
        """Upload `container/name` and, with `scan`, have this host's blob scanner sweep
        now and wait for that sweep (when this host holds the scanner lease)."""
        self._call(self._upload_blob, path, _bytes(data), connection, scan)

    def call(self, function: str, input: str | None = None) -> Outcome:
        """Run a non-HTTP function now, as `POST /admin/functions/{name}` does (a timer
        fires with IsPastDue false; a queue function gets a message with this body)."""
        listener = self._running().listener(function)
        if listener is None:
            raise LookupError(f"no running function named '{function}'")
        outcome: Outcome = self._call(listener.call, input)
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

    async def _send_queue(self, queue: str, body: bytes, connection: str | None) -> None:
        services = self._services()
        client = services.clients.queue_service(connection).get_queue_client(queue)
        with contextlib.suppress(Exception):  # exists
            await client.create_queue()
        await client.send_message(Codec(services.config.queues.message_encoding).encode(body))
        QueueNotifier.of(services).notify(queue)

    async def _send_servicebus(
        self, entity: str, body: bytes, connection: str | None, properties: dict[str, Any]
    ) -> None:
        from azure.servicebus import ServiceBusMessage

        if connection is None:
            connection = self._servicebus_connection(entity)
        client = self._services().clients.service_bus(connection)
        async with client.get_queue_sender(entity) as sender:
            await sender.send_messages(ServiceBusMessage(body, **properties))

    async def _upload_blob(
        self, path: str, data: bytes, connection: str | None, scan: bool
    ) -> None:
        from funchost.triggers.blob import BlobTriggerHub

        container, _, name = path.strip("/").partition("/")
        services = self._services()
        service = services.clients.blob_service(connection)
        client = service.get_container_client(container)
        with contextlib.suppress(Exception):  # exists
            await client.create_container()
        await client.upload_blob(name, data, overwrite=True)
        hub = services.per_host.find(BlobTriggerHub)
        if not scan or hub is None:
            return
        swept = hub.next_sweep()
        QueueNotifier.of(services).notify(blob_container_key(container))
        with anyio.move_on_after(15):  # a sweep takes milliseconds; the lease may be elsewhere
            await swept.wait()

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

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._running()
        assert self._portal is not None
        return self._portal.call(fn, *args)


def _brief(record: InvocationRecord) -> str:
    return "Succeeded" if record.ok else f"Failed({type(record.error).__name__}: {record.error})"


def _bytes(body: str | bytes | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _environment(app_dir: Path, settings: Mapping[str, str]) -> dict[str, str]:
    """The host's settings: the test process's environment without host settings, then
    local.settings.json `Values`, then `settings`; Development unless told otherwise."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_SETTINGS)}
    LocalSettings.load(app_dir).apply(environ)
    environ.update(settings)
    environ.setdefault("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
    return environ


def _set_environ(values: Mapping[str, str]) -> Callable[[], None]:
    """Set `values` in os.environ; the undo."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)

    def undo() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    return undo


def _apply(environ: Mapping[str, str], recorder: Recorder) -> Callable[[], None]:
    """Give the app its settings in os.environ (as a worker has them) and route log
    records to the recorder; the undo."""
    restore_environ = _set_environ(environ)
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(recorder.handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    quiet = _quiet_sdk_loggers()

    def undo() -> None:
        root.removeHandler(recorder.handler)
        root.setLevel(saved_level)
        quiet()
        restore_environ()

    return undo


@contextlib.contextmanager
def _app_modules(app_dir: Path) -> Iterator[Callable[[], None]]:
    """Around the app's import: yields the undo that forgets the modules the import
    brought in from the app folder (and the folder on sys.path, if the loader added it),
    so the next app with its own `function_app.py` or `functions` package imports its own."""
    before = dict(sys.modules)
    had_path = str(app_dir) in sys.path
    added: list[str] = []

    def forget() -> None:
        for name in added:
            sys.modules.pop(name, None)
        if not had_path:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(app_dir))

    try:
        yield forget
    finally:
        # New names, and names now bound to another module (a `function_app` of an app
        # loaded before replaced by this one).
        added.extend(
            name
            for name, module in list(sys.modules.items())
            if before.get(name) is not module
            and _is_under(getattr(module, "__file__", None), app_dir)
        )


def _then(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        try:
            second()
        finally:
            first()

    return both


def _quiet_sdk_loggers() -> Callable[[], None]:
    """The SDKs log every request at INFO; keep them at WARNING while a host runs."""
    loggers = [logging.getLogger(n) for n in ("azure", "uamqp", "uvicorn", "uvicorn.error")]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)

    def undo() -> None:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)

    return undo


def _is_under(path: str | None, root: Path) -> bool:
    if not path:
        return False
    with contextlib.suppress(ValueError):
        Path(path).resolve().relative_to(root)
        return True
    return False


@contextlib.contextmanager
def running_host(app_dir: str | Path, **options: Any) -> Iterator[Harness]:
    """`with running_host(app_dir, settings={...}) as host: ...`"""
    harness = Harness(app_dir, **options)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()
