"""The worker processes of one host: started with the host, each invocation sent to the
least busy one, a dead one restarted, all stopped with the host.

Like the real host (H `Workers/Rpc/FunctionRegistration/RpcFunctionInvocationDispatcher.cs`):
a worker that exits fails the invocations it was running (their triggers retry them as any
failure: a queue message becomes visible again) and is restarted; an invocation that runs
past functionTimeout restarts the worker running it, which is the only way to stop it
(H `WebScriptHostExceptionHandler.cs` `OnTimeoutExceptionAsync`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus
from azure.functions.meta import Datum

import funchost
from funchost.config.host_config import HostConfig
from funchost.core.backoff import RandomizedBackoff
from funchost.core.failures import to_worker_exception
from funchost.core.invocation import Invocation
from funchost.core.loader import LoadedApp
from funchost.core.pipeline import timeout_deadline
from funchost.core.spec import FunctionSpec
from funchost.core.unsupported import load_error
from funchost.errors import HostError
from funchost.workers import frames, watch
from funchost.workers.interpreter import (
    COUNT_SETTING,
    Interpreter,
    app_interpreter,
    process_count,
)
from funchost.workers.process import Hello, Launch, WorkerExited, WorkerProcess, handshake, spawn

log = logging.getLogger("funchost.workers")

# Binding data the worker needs: a Service Bus message's properties carry the caller's
# trace context (funchost.core.tracing); the rest stays in the host.
_CARRIED = ("ApplicationProperties",)
STOP_SECONDS = 5.0  # how long a worker gets to exit once its socket is closed
RETIRE_SECONDS = 300.0  # how long a worker replaced by a reload may finish its invocations


@dataclass(frozen=True)
class PoolSettings:
    interpreter: Interpreter
    count: int
    config: HostConfig
    only: str
    log_level: int
    environ: Mapping[str, str]
    load_timeout: float = 120.0
    reload: bool = False  # restart the workers when the app's code changes (`--reload`)


class WorkerUnavailable(Exception):
    """No worker process runs: the last restart failed (the app no longer loads)."""


class WorkerPool:
    """`start()` (blocking, before the event loop) indexes the app in every worker; the
    host runs `run()` in its task group and calls the pool to run user code (it is the
    host's `RunsCode`)."""

    def __init__(self, settings: PoolSettings) -> None:
        self.settings = settings
        self._path = str(funchost_path(settings.environ))
        self._launch = Launch(
            settings.interpreter,
            settings.config,
            settings.only,
            settings.log_level,
            settings.environ,
            self._path,
        )
        self._workers: list[WorkerProcess] = []
        self._retiring: set[WorkerProcess] = set()  # replaced by a reload, finishing their work
        self._signature: object = None  # the functions and bindings the host listens for
        self._changed: anyio.Event | None = None  # set when a worker starts or cannot
        self._broken: str | None = None
        self._stopping: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        # Called (with the reason) when a change needs a new host: host.json changed, or a
        # reload found other functions, triggers or bindings than the host listens for. The
        # CLI restarts the host; None: the reload runs the new code of the functions the
        # host has, and says so.
        self.restart_host: Callable[[str], None] | None = None

    @classmethod
    def for_app(
        cls, config: HostConfig, environ: Mapping[str, str], only: list[str], reload: bool = False
    ) -> WorkerPool:
        """The pool the settings ask for (interpreter, process count), not started yet.
        Raises ConfigError for a bad setting."""
        return cls(
            PoolSettings(
                app_interpreter(config.app_dir, environ),
                process_count(environ),
                config,
                ",".join(only),
                logging.getLogger().getEffectiveLevel(),
                dict(environ),
                reload=reload,
            )
        )

    @classmethod
    def index(cls, config: HostConfig, environ: Mapping[str, str], only: list[str]) -> LoadedApp:
        """The app as one worker process indexes it in the app's interpreter, for commands
        that list it without running it (`funchost list`, `keys`)."""
        pool = cls.for_app(config, {**environ, COUNT_SETTING: "1"}, only)
        try:
            return pool.start()
        finally:
            pool.discard()

    def discard(self) -> None:
        """Stop workers that were started but never run (blocking)."""
        for worker in self._workers:
            worker.close()
        for worker in self._workers:
            try:
                worker.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.proc.wait()
        self._workers = []

    # -- starting, before the event loop -------------------------------------------------------
    def start(self) -> LoadedApp:
        """Start every worker and wait for their index of the app. Raises AppLoadError
        (the app cannot be imported in its interpreter, or that interpreter cannot run it)."""
        started = [spawn(self._launch) for _ in range(self.settings.count)]
        try:
            hellos = [handshake(sock, self.settings.load_timeout) for _, sock in started]
        except HostError:
            for proc, sock in started:
                sock.close()
                proc.kill()
                proc.wait()
            raise
        self._workers = [WorkerProcess(p, s, h) for (p, s), h in zip(started, hellos, strict=True)]
        first = hellos[0]
        self._signature = _signature(first)
        interpreter = self.settings.interpreter
        log.info(
            "The app runs in %d worker process(es) with %s (Python %s, %s)",
            self.settings.count,
            interpreter.path,
            first.python_version,
            interpreter.origin,
        )
        script = self.settings.config.app_dir / self.settings.environ.get(
            "PYTHON_SCRIPT_FILE_NAME", "function_app.py"
        )
        errors = tuple(load_error(name, reason) for name, reason in first.errors)
        return LoadedApp(script, first.specs, errors)

    # -- running, on the host's event loop -----------------------------------------------------
    async def run(
        self,
        environ: Mapping[str, str],
        stopping: anyio.Event,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Watch the workers (restarting one that exits) until cancelled, then stop them.
        `environ`: the app settings as the host runs with them, which may have changed
        since the workers started."""
        self._stopping = stopping
        self._changed = anyio.Event()
        started, current = self._launch.environ, dict(environ)
        changed = {k: v for k, v in current.items() if started.get(k) != v and k != "PYTHONPATH"}
        removed = [k for k in started if k not in current and k != "PYTHONPATH"]
        self._launch = dataclasses.replace(self._launch, environ=current)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for slot, worker in enumerate(self._workers):
                    await worker.attach()
                    if changed or removed:
                        worker.send((frames.ENV, changed, removed))
                    tg.start_soon(self._watch, slot, worker)
                if self.settings.reload:
                    tg.start_soon(self._reload_on_changes)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop_all()

    async def __call__(
        self, spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
    ) -> dict[str, Datum]:
        retry = invocation.retry
        error = None if retry.exception is None else to_worker_exception(retry.exception)
        carried = {k: invocation.binding_data[k] for k in _CARRIED if k in invocation.binding_data}
        message = (
            frames.INVOKE,
            spec.name,
            invocation.id,
            invocation.reason,
            invocation.trigger,
            dict(invocation.metadata),
            carried,
            (retry.retry_count, retry.max_retry_count, error),
            dict(inputs),
        )
        worker = await self._pick()
        try:
            return await worker.call(message)
        except anyio.get_cancelled_exc_class():
            # functionTimeout or the end of the host's grace period cut it short: the only
            # way to stop user code is to end its process. Another cancellation leaves it
            # running (its result is dropped).
            deadline = timeout_deadline.get()
            if deadline is not None and anyio.current_time() >= deadline:
                # After the timeout's own line, as the real host logs them.
                asyncio.get_running_loop().call_soon(self._timed_out, worker, invocation.id)
            elif self._is_stopping():
                worker.kill()
            raise

    def _timed_out(self, worker: WorkerProcess, invocation_id: str) -> None:
        if worker.alive and not self._is_stopping():
            log.warning(
                "A function timeout has occurred. Restarting worker process executing "
                "invocationId '%s'.",
                invocation_id,
            )
        worker.kill()

    # -- internals -----------------------------------------------------------------------------
    def _is_stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def _pick(self) -> WorkerProcess:
        while True:
            live = [w for w in self._workers if w.alive]
            if live:
                return min(live, key=lambda w: w.busy)
            if self._broken is not None:
                raise WorkerUnavailable(f"no worker process runs the app: {self._broken}")
            assert self._changed is not None, "the pool is not running"
            await self._changed.wait()

    def _notify(self) -> None:
        assert self._changed is not None
        self._changed.set()
        self._changed = anyio.Event()

    async def _watch(self, slot: int, worker: WorkerProcess) -> None:
        await worker.read()
        how = await anyio.to_thread.run_sync(worker.how_it_ended)
        worker.fail_all(WorkerExited(f"the worker process (pid {worker.pid}) running it {how}"))
        if self._is_stopping() or worker.retired:
            self._retiring.discard(worker)
            return
        log.warning("The worker process (pid %d) %s; restarting it", worker.pid, how)
        await self._restart(slot, worker)

    async def _restart(self, slot: int, dead: WorkerProcess) -> None:
        backoff = RandomizedBackoff(1.0, 30.0)
        while not self._is_stopping():
            try:
                worker = await self._start_one()
            except (HostError, OSError) as exc:
                self._broken = str(exc)
                self._notify()  # callers waiting for a worker fail now
                delay = backoff.next()
                log.error(
                    "A worker process cannot load the app (retrying in %.0fs): %s", delay, exc
                )
                await anyio.sleep(delay)
                continue
            if self._workers[slot] is not dead:  # a reload replaced it meanwhile
                worker.retired = True
                worker.close()
                return
            self._workers[slot] = worker
            self._broken = None
            self._notify()
            log.info("Restart of language worker process(es) completed (pid %d).", worker.pid)
            assert self._tg is not None
            self._tg.start_soon(self._watch, slot, worker)
            return

    # -- reloading -------------------------------------------------------------------------------
    async def _reload_on_changes(self) -> None:
        async for changed in watch.changes(self.settings.config.app_dir):
            files = ", ".join(changed)
            if self.restart_host is not None and set(changed) & set(watch.HOST_FILES):
                self.restart_host(f"The app changed ({files})")
                return
            log.info("The app changed (%s): reloading the worker processes", files)
            await self.reload()

    async def reload(self) -> bool:
        """Start new workers with the app as it is now and send them the invocations from
        now on; the old ones finish what they run, then stop. An app that no longer loads
        is reported, and the old workers keep running the previous version."""
        started: list[WorkerProcess] = []
        try:
            while len(started) < self.settings.count:
                started.append(await self._start_one())
        except (HostError, OSError) as exc:
            _close_unused(started)
            log.error(
                "The app cannot be reloaded; the previous version keeps running until the "
                "next change: %s",
                exc,
            )
            return False
        hello = started[0].hello
        new_functions = _signature(hello) != self._signature
        if new_functions and self.restart_host is not None:
            _close_unused(started)  # the restarted host starts its own
            self.restart_host("The app's functions or their triggers and bindings changed")
            return True
        for name, reason in hello.errors:
            log.error("The '%s' function is in error: %s", name, load_error(name, reason))
        if new_functions:
            log.warning(
                "The app's functions or their triggers and bindings changed: restart the "
                "host to listen for them (the reload runs the new code of the functions "
                "the host already has)"
            )
        old, self._workers = self._workers, started
        assert self._tg is not None
        for slot, worker in enumerate(started):
            self._tg.start_soon(self._watch, slot, worker)
        for worker in old:
            worker.retired = True
            self._retiring.add(worker)
            self._tg.start_soon(self._retire, worker)
        self._notify()
        log.info("Reloaded the app in %d worker process(es)", len(started))
        return True

    async def _retire(self, worker: WorkerProcess) -> None:
        """Stop a replaced worker once it finished what it was running."""
        with anyio.move_on_after(RETIRE_SECONDS):
            await worker.wait_idle()
        worker.close()

    async def _start_one(self) -> WorkerProcess:
        # Started from this (the main) thread: a worker ends with the thread that started it.
        proc, sock = spawn(self._launch)
        try:
            hello = await anyio.to_thread.run_sync(handshake, sock, self.settings.load_timeout)
        except BaseException:
            sock.close()
            proc.kill()
            await anyio.to_thread.run_sync(proc.wait)
            raise
        worker = WorkerProcess(proc, sock, hello)
        await worker.attach()
        return worker

    async def _stop_all(self) -> None:
        workers = [*self._workers, *self._retiring]
        for worker in workers:
            worker.close()

        def wait_all() -> None:
            for worker in workers:
                try:
                    worker.proc.wait(timeout=STOP_SECONDS)
                except Exception:  # noqa: BLE001 - it did not exit: end it
                    worker.kill()
                    worker.proc.wait()

        await anyio.to_thread.run_sync(wait_all)


def _close_unused(workers: list[WorkerProcess]) -> None:
    """Stop workers a reload started but will not use (not restarted when they exit)."""
    for worker in workers:
        worker.retired = True
        worker.close()


def _signature(hello: Hello) -> object:
    """What the host built its listeners from: each function's name and bindings."""
    return sorted((s.name, repr(sorted(s.function_json.items()))) for s in hello.specs)


def funchost_path(environ: Mapping[str, str]) -> Path:
    """A folder holding only funchost (a link to its package), put first on a worker's
    PYTHONPATH: the app's interpreter finds funchost there and nothing else of funchost's
    environment. One per funchost install in the user's cache folder, made once and kept
    (nothing to clean up after a host that was killed); a new temporary folder when the
    cache folder cannot be written."""
    package = Path(funchost.__file__).resolve().parent
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:16]
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "funchost" / "worker-path" / digest
    link = folder / "funchost"
    try:
        if link.is_symlink() and link.resolve() == package:
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".funchost-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(package)
        temporary.replace(link)  # atomic: another host may be making the same link
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="funchost-worker-"))
        (folder / "funchost").symlink_to(package)
    return folder
