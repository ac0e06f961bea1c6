"""What every command does first: settings into the environment, host.json, the app."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from funchost.config.host_config import HostConfig
from funchost.config.local_settings import LocalSettings
from funchost.core.loader import LoadedApp, load_app
from funchost.errors import HostError
from funchost.workers.pool import WorkerPool

F = TypeVar("F", bound=Callable[..., Any])


def app_options(fn: F) -> F:
    fn = click.option(
        "--app-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default=True,
        help="Folder with host.json and function_app.py.",
    )(fn)
    fn = click.option(
        "--functions",
        "only",
        default="",
        help="Comma-separated function names to load (like func start --functions).",
    )(fn)
    return click.option("--verbose", is_flag=True, help="Debug logs from the host and SDKs.")(fn)


def in_process_option(fn: F) -> F:
    return click.option(
        "--in-process",
        is_flag=True,
        help="Run the app in the host's own process and interpreter, not in worker "
        "processes (to debug it with breakpoints in one process).",
    )(fn)


@dataclass(frozen=True)
class Prepared:
    settings: LocalSettings
    config: HostConfig
    app: LoadedApp
    workers: WorkerPool | None = None  # the worker processes running the app, when started


def prepare(
    app_dir: Path,
    only: str,
    *,
    environment: str | None = None,
    load: bool = True,
    workers: bool = False,
    reload: bool = False,
    index_in_worker: bool = False,
) -> Prepared:
    """Apply local.settings.json to os.environ (existing variables win), then read
    host.json and import the app: in this process, or (`workers`) in the worker processes
    that will run it (restarted on a change of the app's code with `reload`), or in one
    worker process that only indexes it (`index_in_worker`). Errors end the command with a
    clear message."""
    try:
        app_dir = app_dir.resolve()
        if not app_dir.is_dir():
            raise HostError(f"{app_dir}: no such folder")
        settings = LocalSettings.load(app_dir)
        settings.apply(os.environ)
        if environment:
            os.environ["AZURE_FUNCTIONS_ENVIRONMENT"] = environment
        # Like `func start`, local runs are Development unless told otherwise.
        os.environ.setdefault("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
        config = HostConfig.load(app_dir, os.environ)
        names = [n for n in only.split(",") if n.strip()]
        pool = (
            WorkerPool.for_app(config, os.environ, names, reload=reload)
            if load and workers
            else None
        )
        if pool is not None:
            app = pool.start()
        elif load and index_in_worker:
            app = WorkerPool.index(config, os.environ, names)
        elif load:
            app = load_app(config, os.environ, names)
        else:
            app = LoadedApp(app_dir / "function_app.py", (), ())
    except HostError as exc:
        fail(str(exc))
    return Prepared(settings, config, app, pool)


def fail(message: str) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(1)
