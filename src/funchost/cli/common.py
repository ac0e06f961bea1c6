"""What every command does first: settings into the environment, host.json, the app."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from funchost.cli.state import STATE_DIR_SETTING, state_dir
from funchost.config.host_config import HostConfig
from funchost.config.local_settings import LocalSettings
from funchost.core import logs
from funchost.core.loader import (
    APP_DIRECTORY_SETTING,
    LoadedApp,
    app_without_functions,
    load_app,
)
from funchost.devservices.azurite import AzuriteEndpoints
from funchost.errors import AppLoadError, HostError
from funchost.workers.pool import WorkerPool

F = TypeVar("F", bound=Callable[..., Any])

# Where the host keeps function keys when they live in files (no storage, or
# AzureWebJobsSecretStorageType=files): the real host's setting, defaulted to the app's
# state folder so keys stay out of the app folder.
SECRETS_PATH_SETTING = "AzureWebJobsSecretStoragePath"
# Azurite's ports, which `UseDevelopmentStorage=true` means.
DEFAULT_PORTS = (10000, 10001, 10002)
_DEV_STORAGE = re.compile(r"(^|;)\s*usedevelopmentstorage\s*=\s*true\s*(;|$)", re.IGNORECASE)


def app_options(fn: F) -> F:
    # Applied innermost first: --app-dir is listed first in --help.
    fn = click.option("--verbose", is_flag=True, help="Debug logs from the host and SDKs.")(fn)
    fn = click.option(
        "--functions",
        "only",
        default="",
        help="Comma-separated function names to load (like func start --functions).",
    )(fn)
    return click.option(
        "--app-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default=True,
        help="Folder with host.json and function_app.py.",
    )(fn)


def state_option(fn: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar=STATE_DIR_SETTING,
        help="Folder for this app's local state: Azurite's data, the Service Bus "
        "emulator's messages, keys kept in files (default: a per-user folder for the "
        f"app's path, outside the app; also ${STATE_DIR_SETTING}).",
    )(fn)


def log_format_option(fn: F) -> F:
    return click.option(
        "--log-format",
        type=click.Choice(sorted(logs.LOG_FORMATS)),
        default="console",
        show_default=True,
        help="console: as func start prints; json: one JSON object per line.",
    )(fn)


@dataclass(frozen=True)
class Prepared:
    settings: LocalSettings
    config: HostConfig
    app: LoadedApp
    state: Path  # the app's local state folder (created by whoever writes to it)
    workers: WorkerPool | None = None  # the worker processes running the app, when started


def prepare(
    app_dir: Path,
    only: str,
    *,
    environment: str | None = None,
    strict: bool = True,
    state: Path | None = None,
    load: bool = True,
    dev: bool = False,
    workers: bool = False,
    reload: bool = False,
    index_in_worker: bool = False,
) -> Prepared:
    """Apply local.settings.json to os.environ (existing variables win), then read
    host.json and import the app: in this process, or (`workers`) in the worker processes
    that will run it (restarted on a change of the app's code with `reload`), or in one
    worker process that only indexes it (`index_in_worker`). Errors end the command with a
    clear message, except an app that cannot be imported when not `strict`: it is logged
    and loads with no functions, so the host runs without them (as the real host does).

    Before the import, the process works in the app folder and FUNCTIONS_APPLICATION_DIRECTORY
    names it, as for the real host's Python worker (H `Workers/Rpc/RpcWorkerProcess.cs`
    `CreateWorkerProcess`: the worker starts in the script root with that variable set), so
    relative paths and that variable mean the same here and on Azure whatever folder
    `--app-dir` was given from. Paths the caller gave (`state`) are resolved first.

    Settings that say `UseDevelopmentStorage=true` are pointed at `Host.AzuritePorts` when
    it names other ports, so every command finds the Azurite `funchost dev` ran there;
    except for `dev` itself, which points them once its Azurite runs."""
    try:
        app_dir = app_dir.resolve()
        if not app_dir.is_dir():
            raise HostError(f"{app_dir}: no such folder")
        chosen_state = None if state is None else state.expanduser().resolve()
        if load:
            _enter(app_dir)
        settings = LocalSettings.load(app_dir)
        settings.apply(os.environ)
        if not dev and settings.azurite_ports and all(settings.azurite_ports):
            point_dev_storage(settings.azurite_ports)
        if environment:
            os.environ["AZURE_FUNCTIONS_ENVIRONMENT"] = environment
        # Like `func start`, local runs are Development unless told otherwise.
        os.environ.setdefault("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
        folder = state_dir(app_dir, chosen_state, os.environ)
        os.environ.setdefault(SECRETS_PATH_SETTING, str(folder / "secrets"))
        config = HostConfig.load(app_dir, os.environ)
        names = [n for n in only.split(",") if n.strip()]
        pool = (
            WorkerPool.for_app(config, os.environ, names, reload=reload)
            if load and workers
            else None
        )
        if not load:  # settings and host.json only: the app is not imported
            app = LoadedApp(app_dir / "function_app.py", (), ())
        else:
            app = _load(config, names, pool, index_in_worker=index_in_worker, strict=strict)
    except HostError as exc:
        fail(str(exc))
    # A pool whose app could not be imported never started (its workers are gone).
    return Prepared(settings, config, app, folder, pool if app.error is None else None)


def _load(
    config: HostConfig,
    names: list[str],
    pool: WorkerPool | None,
    *,
    index_in_worker: bool,
    strict: bool,
) -> LoadedApp:
    """The app indexed in the worker processes that will run it (`pool`), in one worker
    process that only indexes it, or in this process."""
    try:
        if pool is not None:
            return pool.start()
        if index_in_worker:
            return WorkerPool.index(config, os.environ, names)
        return load_app(config, os.environ, names)
    except AppLoadError as exc:
        if strict:
            raise
        return app_without_functions(config, os.environ, exc)


def _enter(app_dir: Path) -> None:
    try:
        os.chdir(app_dir)
    except OSError as exc:
        raise HostError(f"{app_dir}: cannot work in the app folder ({exc.strerror})") from None
    os.environ[APP_DIRECTORY_SETTING] = str(app_dir)


def uses_dev_storage(value: str) -> bool:
    """Whether a connection string says `UseDevelopmentStorage=true`."""
    return bool(_DEV_STORAGE.search(value))


def point_dev_storage(ports: tuple[int, int, int]) -> None:
    """Settings that say `UseDevelopmentStorage=true` (Azurite on 10000-10002) get the
    connection string of the Azurite on `ports` when those are others."""
    if ports == DEFAULT_PORTS:
        return
    connection = AzuriteEndpoints("127.0.0.1", *ports).connection_string
    for name, value in list(os.environ.items()):
        if uses_dev_storage(value):
            os.environ[name] = connection


def fail(message: str) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(1)
