"""`funchost dev`: `start`, plus the local emulators the settings point at.

When AzureWebJobsStorage is unset or `UseDevelopmentStorage=true`, Azurite runs on its
default ports (10000-10002), data under `<app>/.funchost/azurite`, unless something
already listens there (an Azurite you started yourself is used as it is).

Unless every Service Bus connection the app uses points at a namespace, the project's
Service Bus emulator runs on the port of a local `UseDevelopmentEmulator=true` connection
string (5672 by default), with `<app>/servicebus.config.json` (the official emulator's
Config.json shape) when present, else with its built-in entities plus those the bindings
name; unset connections (`AzureWebJobsServiceBus` by default) are pointed at it.

Settings that point at real Azure start nothing. Everything started here stops with the
host.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import click

from funchost.cli.common import app_options, fail, prepare
from funchost.cli.start import enter_app_dir, resolve_port, run_host
from funchost.config.connections import resolve
from funchost.core import logs
from funchost.core.spec import FunctionSpec
from funchost.devservices.azurite import Azurite, find_azurite
from funchost.devservices.process import ServiceStartError
from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.devservices.servicebus_entities import connection_names, emulator_args
from funchost.host import HostOptions

AZURITE_PORTS = (10000, 10001, 10002)


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _uses_dev_storage() -> bool:
    conn = resolve("AzureWebJobsStorage", os.environ)
    if conn is None:
        return True
    value = conn.value or ""
    return "usedevelopmentstorage=true" in value.lower().replace(" ", "")


@contextlib.contextmanager
def storage_emulator(app_dir: Path, caller_dir: Path) -> Iterator[None]:
    """Azurite, unless the settings point elsewhere or it already listens; `caller_dir`
    (the folder `funchost dev` was run from) is searched for it too."""
    if not _uses_dev_storage():
        click.echo("AzureWebJobsStorage points at a storage account: not starting Azurite.")
        yield
        return
    os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    if all(_listening(p) for p in AZURITE_PORTS):
        click.echo("Using the storage emulator already listening on 127.0.0.1:10000-10002.")
        yield
        return
    exe = find_azurite(app_dir, caller_dir, Path(__file__).resolve().parents[3])
    if exe is None:
        fail(
            "Azurite is not installed: run `npm ci` in the repository (or `make run`), or "
            "`npm install -g azurite`, or point AzureWebJobsStorage at a storage account"
        )
    service = Azurite(
        exe,
        location=app_dir / ".funchost" / "azurite",
        blob_port=AZURITE_PORTS[0],
        queue_port=AZURITE_PORTS[1],
        table_port=AZURITE_PORTS[2],
    )
    try:
        service.start()
    except ServiceStartError as exc:
        fail(str(exc))
    click.echo("Azurite started on 127.0.0.1:10000-10002 (data in .funchost/azurite).")
    try:
        yield
    finally:
        service.stop()


SERVICE_BUS_PORT = 5672
SERVICE_BUS_CONFIG = "servicebus.config.json"


def _local_emulator_port(value: str) -> int | None:
    """The port of an emulator connection string on this machine, else None."""
    parts = {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in value.split(";") if "=" in p)
    }
    if parts.get("usedevelopmentemulator", "").lower() != "true":
        return None
    endpoint = parts.get("endpoint", "").removeprefix("sb://").rstrip("/")
    host, _, port = endpoint.partition(":")
    if host not in ("localhost", "127.0.0.1"):
        return None
    return int(port) if port.isdigit() else SERVICE_BUS_PORT


@contextlib.contextmanager
def servicebus_emulator(app_dir: Path, functions: tuple[FunctionSpec, ...]) -> Iterator[None]:
    # Like Azurite, the emulator runs even for an app without Service Bus bindings yet, so
    # a function added later (and tools such as the SDK) find it under AzureWebJobsServiceBus.
    names = connection_names(functions) or {"ServiceBus"}
    unset = sorted(n for n in names if resolve(n, os.environ) is None)
    ports = sorted(
        p
        for n in names
        if (c := resolve(n, os.environ)) is not None
        and c.value
        and (p := _local_emulator_port(c.value)) is not None
    )
    if not unset and not ports:
        yield  # every Service Bus connection points at a namespace
        return
    port = ports[0] if ports else SERVICE_BUS_PORT
    if _listening(port):
        click.echo(f"Using the Service Bus emulator already listening on 127.0.0.1:{port}.")
        service = None
    else:
        config = app_dir / SERVICE_BUS_CONFIG
        service = ServiceBusEmulator(
            config=config if config.exists() else None,
            port=port,
            data_dir=app_dir / ".funchost" / "servicebus",
            extra_args=[] if config.exists() else emulator_args(functions, os.environ),
        )
        try:
            service.start()
        except ServiceStartError as exc:
            fail(str(exc))
        source = config.name if config.exists() else "built-in entities and the app's bindings"
        click.echo(f"Service Bus emulator started on 127.0.0.1:{port} (entities from {source}).")
    connection = (
        f"Endpoint=sb://localhost:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
    )
    for name in unset:
        setting = name if name.lower().startswith("azurewebjobs") else f"AzureWebJobs{name}"
        os.environ[setting] = connection
    try:
        yield
    finally:
        if service is not None:
            service.stop()


@click.command()
@click.option("--port", "-p", type=int, default=None, help="Port (default 7071).")
@click.option("--host", "bind", default="0.0.0.0", show_default=True)
@click.option("--no-auth", is_flag=True, help="Do not enforce function keys.")
@app_options
def dev(
    port: int | None, bind: str, no_auth: bool, app_dir: Path, only: str, verbose: bool
) -> None:
    """Start the local emulators the app needs, then the host."""
    began = time.monotonic()
    logs.configure(verbose)
    caller_dir = Path.cwd()
    app_dir = enter_app_dir(app_dir)
    # Settings and the app first: they decide which emulators are needed.
    prepared = prepare(app_dir, only)
    with (
        storage_emulator(app_dir, caller_dir),
        servicebus_emulator(app_dir, prepared.app.functions),
    ):
        run_host(
            prepared,
            HostOptions(
                bind=bind,
                port=resolve_port(port, os.environ, prepared.settings.http_port),
                auth=not no_auth,
                cors=prepared.settings.cors,
                cors_credentials=prepared.settings.cors_credentials,
            ),
            began,
        )
