"""`funchost dev`: `start`, plus the local emulators the settings point at.

When AzureWebJobsStorage is unset or `UseDevelopmentStorage=true`, Azurite runs on its
default ports (10000-10002), data under `<app>/.funchost/azurite`, unless something
already listens there (an Azurite you started yourself is used as it is). Settings that
point at real Azure start nothing. Everything started here stops with the host.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import click

from .. import logs
from ..connections import resolve
from ..devservices.azurite import Azurite, find_azurite
from ..devservices.process import ServiceStartError
from ..host import HostOptions
from .common import app_options, fail, prepare
from .start import resolve_port, run_host

AZURITE_PORTS = (10000, 10001, 10002)


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _uses_dev_storage() -> bool:
    conn = resolve("AzureWebJobsStorage", os.environ)
    if conn is None:
        return True
    return bool(conn.value) and "usedevelopmentstorage=true" in conn.value.lower().replace(" ", "")


@contextlib.contextmanager
def storage_emulator(app_dir: Path) -> Iterator[None]:
    if not _uses_dev_storage():
        click.echo("AzureWebJobsStorage points at a storage account: not starting Azurite.")
        yield
        return
    os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    if all(_listening(p) for p in AZURITE_PORTS):
        click.echo("Using the storage emulator already listening on 127.0.0.1:10000-10002.")
        yield
        return
    exe = find_azurite(app_dir, Path.cwd(), Path(__file__).resolve().parents[3])
    if exe is None:
        fail("Azurite is not installed: run `npm ci` in the repository (or `make run`), or "
             "`npm install -g azurite`, or point AzureWebJobsStorage at a storage account")
    service = Azurite(exe, location=app_dir / ".funchost" / "azurite",
                      blob_port=AZURITE_PORTS[0], queue_port=AZURITE_PORTS[1],
                      table_port=AZURITE_PORTS[2])
    try:
        service.start()
    except ServiceStartError as exc:
        fail(str(exc))
    click.echo("Azurite started on 127.0.0.1:10000-10002 (data in .funchost/azurite).")
    try:
        yield
    finally:
        service.stop()


@click.command()
@click.option("--port", "-p", type=int, default=None, help="Port (default 7071).")
@click.option("--host", "bind", default="0.0.0.0", show_default=True)
@click.option("--no-auth", is_flag=True, help="Do not enforce function keys.")
@app_options
def dev(port: int | None, bind: str, no_auth: bool, app_dir: Path, only: str,
        verbose: bool) -> None:
    """Start the local emulators the app needs, then the host."""
    began = time.monotonic()
    logs.configure(verbose)
    app_dir = app_dir.resolve()
    # Settings first: they decide which emulators are needed.
    prepared = prepare(app_dir, only, load=False)
    with storage_emulator(app_dir):
        prepared = prepare(app_dir, only)
        run_host(prepared, HostOptions(
            bind=bind, port=resolve_port(port, os.environ, prepared.settings.http_port),
            auth=not no_auth, cors=prepared.settings.cors,
            cors_credentials=prepared.settings.cors_credentials), began)
