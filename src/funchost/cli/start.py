"""`funchost start`: run the app in the current (or given) folder, as on Azure: keys
enforced, nothing started beside it (for containers and production-like runs)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import click

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

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

__all__ = ["DEFAULT_PORT", "resolve_port", "run_host", "start"]


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
    prepared = prepare(
        app_dir,
        only,
        environment=run.environment,
        strict=run.strict,
        state=state_dir,
        workers=not run.in_process,
        reload=run.reload,
    )
    options = run.host_options(prepared, os.environ)
    notes = start_notes(prepared, options, command="start")
    run_host(prepared, options, began, strict=run.strict, notes=notes)


def run_host(
    prepared: Prepared,
    options: HostOptions,
    began: float,
    *,
    strict: bool = False,
    notes: Sequence[str] = (),
    in_error: Mapping[str, str] | None = None,
) -> None:
    """Run the host until a signal. `in_error` (function -> reason) marks functions that
    listen but cannot work yet (a missing Service Bus entity). With `strict`, any function
    in error ends the run with exit code 1 once the listing is printed."""
    host = Host(prepared.config, os.environ, prepared.app, options)
    failed = False

    def started() -> None:
        nonlocal failed
        freeze_startup_objects()
        for name, reason in (in_error or {}).items():
            host.mark_in_error(name, reason)
        announce(host, began, notes)
        problems = host.errors()
        if strict and problems:
            failed = True
            click.echo(
                click.style("error: ", fg="red", bold=True)
                + f"--strict: {len(problems)} problem(s) listed above; stopping.",
                err=True,
            )
            host.stop()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signals, host, tg.cancel_scope)
            await host.serve_started(started)
            tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    except (HostError, BaseExceptionGroup) as exc:
        error = _host_error(exc)
        if error is None:
            raise
        fail(str(error))
    except KeyboardInterrupt:
        pass
    if failed:
        sys.exit(1)
    _exit_past_stuck_threads()


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
