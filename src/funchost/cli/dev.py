"""`funchost dev`: local development, as `func start` is: keys not enforced unless
`--auth`, and the local emulators the settings point at started beside the host.

Azurite (`funchost.cli.dev_storage`) when the storage is the development storage; the
Service Bus emulator (`funchost.cli.dev_servicebus`) unless every Service Bus connection
points at a namespace. Their data lives in the app's state folder, outside the app folder.
Settings that point at real Azure start nothing. Everything started here stops with the
host.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import time
from pathlib import Path

import click

from funchost.cli.common import (
    DEFAULT_PORTS,
    app_options,
    fail,
    log_format_option,
    state_option,
)
from funchost.cli.dev_servicebus import servicebus_emulator
from funchost.cli.dev_storage import storage_emulator
from funchost.cli.options import RunOptions, run_options
from funchost.cli.start import Startup, prepare_startup, run_host
from funchost.config.local_settings import parse_azurite_ports
from funchost.core import logs


def _azurite_ports(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[int, int, int] | None:
    if value is None:
        return None
    try:
        return parse_azurite_ports(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_free(bind: str, port: int) -> None:
    """The host's own port, before the emulators take seconds to start: one line naming
    the port and the option."""
    if port == 0:
        return
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return  # the host reports anything else when it binds
            fail(
                f"port {port} is in use: stop what uses it, or choose another with --port "
                f"(or Host.LocalHttpPort in local.settings.json)"
            )


@click.command()
@app_options
@state_option
@run_options(auth_default=False, reload_default=True)
@click.option(
    "--azurite-ports",
    callback=_azurite_ports,
    default=None,
    metavar="BLOB[,QUEUE,TABLE]",
    help="Azurite's ports: one (the next two follow) or three; 0 picks free ones "
    "(default: Host.AzuritePorts, else 10000-10002).",
)
@click.option(
    "--servicebus-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="The Service Bus emulator's port; 0 picks a free one (default: Host.ServiceBusPort, "
    "else a local emulator connection string's, else 5672).",
)
@log_format_option
def dev(
    run: RunOptions,
    log_format: str,
    azurite_ports: tuple[int, int, int] | None,
    servicebus_port: int | None,
    state_dir: Path | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """Start the local emulators the app needs, then the host (keys not enforced, as
    `func start`; --auth enforces them)."""
    began = time.monotonic()
    logs.configure(verbose, log_format)
    caller_dir = Path.cwd()  # searched for Azurite too; `prepare` moves to the app folder
    app_dir = app_dir.resolve()

    # Settings and the app first: they decide which emulators are needed.
    first = prepare_startup(run, app_dir, only, state_dir, command="dev")
    prepared = first.prepared
    settings = prepared.settings
    _check_free(first.options.bind, first.options.port)
    storage_ports = azurite_ports or settings.azurite_ports or DEFAULT_PORTS
    bus_port = servicebus_port if servicebus_port is not None else settings.servicebus_port
    with (
        storage_emulator(app_dir, caller_dir, prepared.state, storage_ports),
        servicebus_emulator(app_dir, prepared.state, prepared.app.functions, bus_port) as bus,
    ):
        # A restart (--reload) keeps the emulators; the Service Bus one gets the entities
        # of functions the app has gained.
        def restart() -> Startup:
            again = prepare_startup(run, app_dir, only, state_dir, command="dev")
            in_error = bus.restarting(again.prepared.app.functions)
            return dataclasses.replace(again, in_error=in_error)

        first = dataclasses.replace(first, in_error=bus.in_error)
        run_host(first, began, strict=run.strict, again=restart if run.restarts else None)
