"""`funchost start`: run the app in the current (or given) folder, as on Azure: keys
enforced, nothing started beside it (for containers and production-like runs)."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import anyio
import click
from anyio.abc import TaskGroup

from funchost.cli.common import (
    Prepared,
    app_options,
    fail,
    log_format_option,
    prepare,
    state_option,
)
from funchost.cli.display import announce
from funchost.cli.notes import start_notes
from funchost.cli.options import DEFAULT_PORT, RunOptions, resolve_port, run_options
from funchost.core import logs
from funchost.core.memory import freeze_startup_objects
from funchost.errors import HostError
from funchost.host import WORKER_THREAD_PREFIX, Host, HostOptions
from funchost.workers import watch

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

__all__ = ["DEFAULT_PORT", "Startup", "prepare_startup", "resolve_port", "run_host", "start"]

log = logging.getLogger("funchost.host")


@click.command()
@app_options
@state_option
@run_options(auth_default=True)
@log_format_option
def start(
    run: RunOptions,
    log_format: str,
    state_dir: Path | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """Start the host alone, as on Azure: keys enforced (--no-auth: not), no emulators
    (`funchost dev` starts those)."""
    began = time.monotonic()
    logs.configure(verbose, log_format)
    startup = partial(prepare_startup, run, app_dir, only, state_dir, command="start")
    run_host(startup(), began, strict=run.strict, again=startup if run.restarts else None)


@dataclasses.dataclass(frozen=True)
class Startup:
    """What the host starts with: the app as loaded, the options, the lines to print."""

    prepared: Prepared
    options: HostOptions
    notes: Sequence[str] = ()
    # Functions that listen but cannot work yet (function -> reason): a Service Bus
    # entity missing on an emulator `funchost dev` reused.
    in_error: Mapping[str, str] = dataclasses.field(default_factory=dict)


def prepare_startup(
    run: RunOptions, app_dir: Path, only: str, state_dir: Path | None, *, command: str
) -> Startup:
    """The app loaded (`prepare`), with the options and notes of `command` (start or dev)."""
    prepared = prepare(
        app_dir,
        only,
        environment=run.environment,
        strict=run.strict,
        state=state_dir,
        dev=command == "dev",
        workers=not run.in_process,
        reload=run.reload,
    )
    options = run.host_options(prepared, os.environ)
    return Startup(prepared, options, start_notes(prepared, options, command=command))


def run_host(
    first: Startup,
    began: float,
    *,
    strict: bool = False,
    again: Callable[[], Startup] | None = None,
) -> None:
    """Run the host until a signal. With `strict`, any function in error ends the run
    with exit code 1 once the listing is printed.

    With `again` (`--reload` in worker processes), a change the worker processes cannot
    take by themselves restarts the host with what `again()` prepares, on the same port,
    as Core Tools restarts its host: an app that could not be loaded, once a Python file
    changes; an app whose functions or their triggers and bindings changed; host.json. A
    restart that cannot start (host.json malformed) waits for the next change."""
    current = first
    while port := _serve(current, began, strict=strict, restarts=again is not None):
        assert again is not None
        loaded = _again_until_it_starts(again, current.prepared.config.app_dir)
        if loaded is None:  # Ctrl-C while the app loads again, or waits for a change
            break
        current, began = loaded
        # On the port the host had (`--port 0` picked it).
        current = dataclasses.replace(
            current, options=dataclasses.replace(current.options, port=port)
        )
    _exit_past_stuck_threads()


def _serve(
    startup: Startup,
    began: float,
    *,
    strict: bool,
    restarts: bool,
) -> int | None:
    """Run one host until it stops; its port when it stopped to be restarted."""
    prepared = startup.prepared
    host = Host(prepared.config, os.environ, prepared.app, startup.options)
    failed = restart = False

    def started() -> None:
        nonlocal failed
        freeze_startup_objects()
        for name, reason in startup.in_error.items():
            host.mark_in_error(name, reason)
        announce(host, began, startup.notes, restarts=restarts)
        problems = host.errors()
        if strict and problems:
            failed = True
            click.echo(
                click.style("error: ", fg="red", bold=True)
                + f"--strict: {len(problems)} problem(s) listed above; stopping.",
                err=True,
            )
            host.stop()

    def restart_host(why: str) -> None:
        nonlocal restart
        if not restart and not host.stop_requested:
            restart = True
            log.info("%s: restarting the host", why)
            host.stop()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signals, host, tg.cancel_scope)
            if restarts:
                _restart_on(prepared, tg, restart_host)
            await host.serve_started(started)
            tg.cancel_scope.cancel()

    if not _run_until_stopped(main):
        return None
    if failed:
        sys.exit(1)
    return host.port if restart else None


def _run_until_stopped(main: Callable[[], Awaitable[None]]) -> bool:
    """Run `main` on a new event loop; False when Ctrl-C interrupted it. A HostError ends
    the command with its message."""
    try:
        anyio.run(main)
    except (HostError, BaseExceptionGroup) as exc:
        error = _host_error(exc)
        if error is None:
            raise
        fail(str(error))
    except KeyboardInterrupt:
        return False
    return True


def _restart_on(prepared: Prepared, tg: TaskGroup, restart_host: Callable[[str], None]) -> None:
    """Restart the host on a change its worker processes cannot take by themselves: new
    functions, triggers or bindings, host.json, or a change to an app that could not be
    loaded."""
    if prepared.workers is not None:
        prepared.workers.restart_host = restart_host
    elif prepared.app.error is not None:
        tg.start_soon(_restart_on_change, prepared.config.app_dir, restart_host)


def _again_until_it_starts(
    again: Callable[[], Startup], app_dir: Path
) -> tuple[Startup, float] | None:
    """What `again()` prepares, and when that began; when it cannot (it said why:
    host.json, a setting), the next change of the app is waited for and it is tried
    again. None on Ctrl-C."""
    while True:
        began = time.monotonic()
        try:
            return again(), began
        except SystemExit:  # `prepare` printed the error
            log.error("The host cannot start until the app changes; waiting for the next change")
        except KeyboardInterrupt:
            return None
        if not _run_until_stopped(partial(_next_change, app_dir)):
            return None


async def _next_change(app_dir: Path) -> None:
    async for _ in watch.changes(app_dir):
        return


async def _restart_on_change(app_dir: Path, restart_host: Callable[[str], None]) -> None:
    """The app could not be loaded: restart the host once its code changes."""
    async for changed in watch.changes(app_dir):
        restart_host(f"The app changed ({', '.join(changed)})")
        return


def _host_error(exc: BaseException) -> HostError | None:
    """The HostError inside `exc` (a start-up error comes out of nested task groups), so
    it ends the command in one line (for example a port in use) instead of a traceback."""
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _host_error(inner)
            if found is not None:
                return found
    return None


def _exit_past_stuck_threads() -> None:
    """A sync function cut short by the stop still runs in its thread (Python cannot stop
    a thread), and the interpreter would wait for it at exit: end the process instead,
    as the real host ends its worker process."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        stuck = [t for t in threading.enumerate() if t.name.startswith(WORKER_THREAD_PREFIX)]
        if not any(t.is_alive() for t in stuck):
            return
        time.sleep(0.05)
    click.echo(f"{len(stuck)} function thread(s) still running; exiting without them.", err=True)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _signals(host: Host, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        count = 0
        async for _ in received:
            count += 1
            if count == 1:
                click.echo("Stopping (Ctrl-C again to stop at once)...", err=True)
                host.stop()
            else:
                scope.cancel()
                return
