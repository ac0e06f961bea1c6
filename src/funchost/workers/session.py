"""The worker process's side once its interpreter is fit: index the app, then run
invocations as the host sends them, with the runner funchost uses in-process
(`funchost.core.runner.call_function`: the library's converters, async functions on the
loop, sync ones in a `PYTHON_THREADPOOL_THREAD_COUNT` thread pool, PW `dispatcher.py`;
that pool is funchost.workers.sync_pool's, which wakes fewer threads for short functions).

User log records go to the host as LOG frames, with the invocation they belong to; the
host prints them as its own (H `GrpcWorkerChannel.cs` `Log`). Imports only what an app's
interpreter has: the standard library, `azure.functions`, and funchost's core.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.functions.meta import Datum

from funchost.config.host_config import HostConfig
from funchost.core import failures
from funchost.core.converters import SDK_PREFIX, http_extension
from funchost.core.invocation import Invocation, RetryState
from funchost.core.loader import load_app
from funchost.core.logs import current_function, current_invocation
from funchost.core.runner import call_function, call_sync_function, thread_count
from funchost.core.spec import FunctionSpec, ParamSpec
from funchost.workers import frames
from funchost.workers.sync_pool import CallTimes, SyncPool

frames.pickle_compactly(Datum)

# The SDKs' INFO records (every HTTP request) are for --verbose, as in the host.
_QUIET = ("azure", "urllib3")


@dataclass
class Indexed:
    """The app as this worker indexed it."""

    specs: dict[str, FunctionSpec]  # by name, with the user's functions
    errors: list[tuple[str, str]]  # (function, reason) of those that cannot load here
    log: _HostHandler

    @property
    def portable(self) -> list[FunctionSpec]:
        """The functions as the host can hold them."""
        return [portable(s) for s in self.specs.values()]


def index(config: HostConfig, only: str, level: int, sock: socket.socket) -> Indexed:
    """Import and index the app (with the host's config). Log records go to the host
    from now on."""
    handler = _log_to_host(level, sock.sendall)
    loaded = load_app(config, os.environ, [n for n in only.split(",") if n.strip()])
    specs: list[FunctionSpec] = []
    errors = [(e.function, e.reason) for e in loaded.errors]
    for spec in loaded.functions:
        reason = _in_process_only(spec)
        if reason is None:
            specs.append(spec)
        else:
            errors.append((spec.name, reason))
    return Indexed({s.name: s for s in specs}, errors, handler)


def _in_process_only(spec: FunctionSpec) -> str | None:
    """Why the function cannot run in a worker process yet (None when it can): HTTP
    streaming hands the function the live request, and SDK-type bindings a client object,
    both made in the host."""
    how = "for now; start the host with --in-process to run it"
    base = http_extension()
    trigger = spec.trigger_param
    if (
        base is not None
        and trigger.pytype is not None
        and base.RequestTrackerMeta.check_type(trigger.pytype)
    ):
        return f"HTTP streaming runs only in the host's process {how}"
    if any(p.converter.startswith(SDK_PREFIX) for p in spec.inputs):
        return f"SDK-type bindings run only in the host's process {how}"
    return None


def portable(spec: FunctionSpec) -> FunctionSpec:
    """The spec without what only this interpreter has: the function itself, and
    annotations of types the host may not import (the app's own, its packages')."""

    def param(p: ParamSpec) -> ParamSpec:
        return dataclasses.replace(p, pytype=_portable_type(p.pytype))

    return dataclasses.replace(
        spec,
        func=frames.in_worker,
        inputs=tuple(map(param, spec.inputs)),
        outputs=tuple(map(param, spec.outputs)),
        returns=None if spec.returns is None else param(spec.returns),
    )


def _portable_type(pytype: Any) -> Any:
    module = getattr(pytype, "__module__", "")
    if isinstance(pytype, type) and (module == "builtins" or module.startswith("azure.functions")):
        return pytype
    return None


class _HostHandler(logging.Handler):
    """Sends each record to the host: its message, with the traceback it carries."""

    def __init__(self, send: Callable[[bytes | memoryview], Any]) -> None:
        super().__init__()
        self.send = send
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            frame = frames.encode(
                (
                    frames.LOG,
                    record.levelno,
                    record.name,
                    self.format(record),
                    current_invocation.get(),
                    current_function.get(),
                    record.created,
                )
            )
            self.send(frame)
        except Exception:  # noqa: BLE001 - logging must never raise into user code
            self.handleError(record)


def _log_to_host(level: int, send: Callable[[bytes | memoryview], Any]) -> _HostHandler:
    handler = _HostHandler(send)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler


class Session:
    """Serves invocations on the socket until the host closes it.

    The event loop reads the messages; every frame (a result, a log record from any
    thread) is written to the socket at once under a lock, so the last lines a function
    logged reach the host even when its process dies next.
    """

    def __init__(self, sock: socket.socket, app: Indexed) -> None:
        self._sock = sock
        self._app = app
        self._executor = SyncPool(thread_count(os.environ), "funchost-worker")
        self._call_times = CallTimes()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    def serve(self) -> None:
        asyncio.run(self._serve())

    def _write(self, frame: bytes | memoryview) -> None:
        with self._lock:
            frames.send_all(self._sock, frame)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()
        self._app.log.send = self._write
        # The loop reads; frames are written straight to the socket (any thread, in order).
        await loop.connect_accepted_socket(
            lambda: frames.FrameProtocol(self._received, lambda _: closed.set()), self._sock
        )
        await closed.wait()  # the host closed the socket: it stops this worker

    def _received(self, message: tuple[Any, ...]) -> None:
        if message[0] == frames.INVOKE:
            spec = self._app.specs.get(message[2])
            if spec is not None and not spec.is_async:
                # Start to end in a pool thread, its result written from there: a no-op's
                # round trip took 2.0 ms (p50) when the thread handed it back to a busy
                # event loop, 0.67 ms for an async one on the loop (bench/).
                # A function whose calls are short waits for a thread about to be free
                # rather than waking one more (funchost.workers.sync_pool).
                context = contextvars.copy_context()
                short = self._call_times.short(spec.name)
                submit = self._executor.submit_short if short else self._executor.submit
                submit(context.run, self._invoke_sync, spec, message)
                return
            task = asyncio.create_task(self._invoke(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif message[0] == frames.ENV:
            _, changed, removed = message
            os.environ.update(changed)
            for name in removed:
                os.environ.pop(name, None)

    async def _invoke(self, message: tuple[Any, ...]) -> None:
        call_id, name = message[1], message[2]
        try:
            spec = self._app.specs.get(name)
            if spec is None:  # the host runs functions of an app this worker did not index
                raise LookupError(f"the function '{name}' is not in the app this worker loaded")
            results = await call_function(
                spec, _invocation(spec, message), message[9], self._executor
            )
            frame = frames.encode((frames.DONE, call_id, results))
        except BaseException as exc:  # noqa: BLE001 - sys.exit() in a function fails it too
            frame = frames.encode((frames.FAILED, call_id, failures.to_worker_exception(exc)))
        self._write(frame)

    def _invoke_sync(self, spec: FunctionSpec, message: tuple[Any, ...]) -> None:
        call_id = message[1]
        began = time.perf_counter()
        try:
            results = call_sync_function(spec, _invocation(spec, message), message[9])
            frame = frames.encode((frames.DONE, call_id, results))
        except BaseException as exc:  # noqa: BLE001 - sys.exit() in a function fails it too
            frame = frames.encode((frames.FAILED, call_id, failures.to_worker_exception(exc)))
        self._call_times.record(spec.name, time.perf_counter() - began)
        self._write(frame)


def _invocation(spec: FunctionSpec, message: tuple[Any, ...]) -> Invocation:
    """The INVOKE message's invocation; its id and function name are set as the current
    ones in the caller's context (a task's or a thread's own), for its log records."""
    _, _, name, inv_id, reason, trigger, metadata, carried, retry, _ = message
    current_invocation.set(inv_id)
    current_function.set(name)
    return Invocation(spec, trigger, reason, metadata, carried, inv_id, RetryState(*retry))
