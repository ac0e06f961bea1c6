"""The options `start` and `dev` share, read into one frozen `RunOptions`."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import click

from funchost.cli.common import Prepared
from funchost.host import HostOptions

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


@dataclass(frozen=True)
class RunOptions:
    port: int | None
    bind: str
    auth: bool
    environment: str | None
    grace: float
    cors: str | None
    cors_credentials: bool | None
    strict: bool
    in_process: bool
    reload: bool

    @property
    def restarts(self) -> bool:
        """Whether a change of the app's code may restart the host (`--reload` with worker
        processes: in one process, an imported module cannot be imported afresh)."""
        return self.reload and not self.in_process

    def host_options(self, prepared: Prepared, environ: Mapping[str, str]) -> HostOptions:
        """--cors and --cors-credentials win over local.settings.json `Host.CORS` and
        `Host.CORSCredentials`, as in `func start`."""
        settings = prepared.settings
        cors = (
            tuple(o.strip() for o in self.cors.split(",") if o.strip())
            if self.cors is not None
            else settings.cors
        )
        credentials = (
            self.cors_credentials
            if self.cors_credentials is not None
            else settings.cors_credentials
        )
        return HostOptions(
            bind=self.bind,
            port=resolve_port(self.port, environ, settings.http_port),
            auth=self.auth,
            grace_seconds=self.grace,
            cors=cors,
            cors_credentials=credentials,
            workers=prepared.workers,
        )


_NAMES = tuple(f.name for f in fields(RunOptions))


def _options(auth_default: bool, reload_default: bool) -> list[Callable[[Any], Any]]:
    auth_help = (
        "Enforce function keys as Azure does (default: not enforced, as `func start`)."
        if not auth_default
        else "Enforce function keys (default: enforced, as on Azure; --no-auth is what "
        "`func start` does)."
    )
    return [
        click.option(
            "--port",
            "-p",
            type=click.IntRange(0, 65535),
            default=None,
            help="Port (default: ASPNETCORE_URLS, Host.LocalHttpPort, else 7071; 0: a free one).",
        ),
        click.option(
            "--host", "bind", default="0.0.0.0", show_default=True, help="Address to listen on."
        ),
        click.option("--auth/--no-auth", default=auth_default, help=auth_help),
        click.option(
            "--environment", default=None, help="AZURE_FUNCTIONS_ENVIRONMENT (default Development)."
        ),
        click.option(
            "--grace",
            type=click.FloatRange(0),
            default=30.0,
            show_default=True,
            help="Seconds running invocations get to finish on stop.",
        ),
        click.option(
            "--cors",
            default=None,
            metavar="ORIGINS",
            help="Comma-separated CORS origins, `*` for any (as `func start --cors`; "
            "default: Host.CORS).",
        ),
        click.option(
            "--cors-credentials/--no-cors-credentials",
            default=None,
            help="Allow credentialed cross-origin requests (default: Host.CORSCredentials).",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Exit with code 1 when the app cannot be loaded or any function is in "
            "error or not supported (for CI); without it the host runs what it can.",
        ),
        click.option(
            "--in-process",
            is_flag=True,
            help="Run the app in the host's own process and interpreter, not in worker "
            "processes (to debug it with breakpoints in one process).",
        ),
        click.option(
            "--reload/--no-reload",
            default=reload_default,
            show_default=True,
            help="Restart the worker processes when a Python file of the app changes (the "
            "host, when its functions or host.json change or the app could not be loaded).",
        ),
    ]


def run_options(
    *, auth_default: bool, reload_default: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Adds the shared options; the command receives them as `run: RunOptions`."""

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            run = RunOptions(**{name: kwargs.pop(name) for name in _NAMES})
            fn(run=run, **kwargs)

        for option in reversed(_options(auth_default, reload_default)):
            command = option(command)
        return command

    return decorate
