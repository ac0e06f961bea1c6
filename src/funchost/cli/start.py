"""`funchost start`: run the app in the current (or given) folder."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import click

from funchost.cli.common import Prepared, app_options, fail, prepare
from funchost.cli.display import announce
from funchost.core import logs
from funchost.errors import HostError
from funchost.host import WORKER_THREAD_PREFIX, Host, HostOptions

DEFAULT_PORT = 7071


def resolve_port(
    cli_port: int | None, environ: Mapping[str, str], settings_port: int | None
) -> int:
    """--port, else the port of ASPNETCORE_URLS (as the real host in a container), else
    local.settings.json Host.LocalHttpPort, else 7071."""
    if cli_port is not None:
        return cli_port
    urls = environ.get("ASPNETCORE_URLS", "")
    for url in urls.split(";"):
        m = re.match(r"^\s*https?://[^:/]+:(\d+)", url)
        if m:
            return int(m.group(1))
    return settings_port or DEFAULT_PORT


@click.command()
@click.option(
    "--port",
    "-p",
    type=int,
    default=None,
    help="Port (default: ASPNETCORE_URLS, Host.LocalHttpPort, else 7071).",
)
@click.option("--host", "bind", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--no-auth", is_flag=True, help="Do not enforce function keys (what `func start` does)."
)
@click.option(
    "--environment", default=None, help="AZURE_FUNCTIONS_ENVIRONMENT (default Development)."
)
@click.option(
    "--grace",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds running invocations get to finish on stop.",
)
@click.option(
    "--log-format",
    type=click.Choice(sorted(logs.LOG_FORMATS)),
    default="console",
    show_default=True,
    help="console: as func start prints; json: one JSON object per line.",
)
@app_options
def start(
    port: int | None,
    bind: str,
    no_auth: bool,
    environment: str | None,
    grace: float,
    log_format: str,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """Start the host with the app in APP_DIR."""
    began = time.monotonic()
    logs.configure(verbose, log_format)
    app_dir = enter_app_dir(app_dir)
    prepared = prepare(app_dir, only, environment=environment)
    run_host(
        prepared,
        HostOptions(
            bind=bind,
            port=resolve_port(port, os.environ, prepared.settings.http_port),
            auth=not no_auth,
            grace_seconds=grace,
            cors=prepared.settings.cors,
            cors_credentials=prepared.settings.cors_credentials,
        ),
        began,
    )


def enter_app_dir(app_dir: Path) -> Path:
    """Work in the app folder (resolved; returned) from before the app's import: the real
    host starts its Python worker there (H `Workers/Rpc/RpcWorkerProcess.cs`, the worker
    context's working directory is the script root), so relative paths in functions
    resolve as they do on Azure whatever folder `--app-dir` was given from."""
    folder = app_dir.resolve()
    if not folder.is_dir():
        fail(f"{folder}: no such folder")
    try:
        os.chdir(folder)
    except OSError as exc:
        fail(f"{folder}: cannot work in the app folder ({exc.strerror})")
    return folder


def run_host(prepared: Prepared, options: HostOptions, began: float) -> None:
    host = Host(prepared.config, os.environ, prepared.app, options)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signals, host, tg.cancel_scope)
            await host.serve_started(lambda: announce(host, began))
            tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    except HostError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    _exit_past_stuck_threads()


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
