"""Azurite for `funchost dev`, when the app's storage is the development storage.

When AzureWebJobsStorage is unset or `UseDevelopmentStorage=true`, Azurite runs on its
default ports (10000-10002) or those of `--azurite-ports` / `Host.AzuritePorts`, with its
data in the app's state folder. An emulator already answering on all three ports is reused
once a request proved it is one (its `Server` header), and said so; anything else on them
is named with the option that chooses other ports. On other ports, every setting that says
`UseDevelopmentStorage=true` (which means the default ports) is pointed at this Azurite.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from funchost.cli.common import fail, point_dev_storage, uses_dev_storage
from funchost.cli.state import claim
from funchost.config.connections import resolve
from funchost.devservices.azurite import Azurite, AzuriteEndpoints, find_azurite
from funchost.devservices.probe import in_use_port, listening, storage_server
from funchost.devservices.process import ServiceStartError

# Lines about the emulators, in the host's log format (--log-format json too).
log = logging.getLogger("funchost.dev")

PORTS_HINT = "choose others with --azurite-ports (or Host.AzuritePorts in local.settings.json)"
INSTALL_HINT = (
    "Azurite (the Azure Storage emulator) is not installed: install it with "
    "`npm install -g azurite` (Node.js 18 or newer), or point AzureWebJobsStorage at a "
    "storage account in local.settings.json"
)


def _uses_dev_storage() -> bool:
    conn = resolve("AzureWebJobsStorage", os.environ)
    return conn is None or uses_dev_storage(conn.value or "")


def point_settings_at(endpoints: AzuriteEndpoints) -> None:
    point_dev_storage((endpoints.blob_port, endpoints.queue_port, endpoints.table_port))


def _ports_text(ports: tuple[int, int, int]) -> str:
    if ports[1:] == (ports[0] + 1, ports[0] + 2):
        return f"127.0.0.1:{ports[0]}-{ports[2]}"
    return "127.0.0.1:" + ",".join(str(p) for p in ports)


def _reuse_or_refuse(ports: tuple[int, int, int]) -> bool:
    """True when an emulator answers on all three ports (reuse it); exits naming the port
    when something else holds one of them; False when they are free."""
    busy = [p for p in ports if p and listening(p)]
    if not busy:
        return False
    servers = {p: storage_server(p) for p in busy}
    if len(busy) != len(ports) or not all(servers.values()):
        port = next((p for p in busy if not servers[p]), busy[0])
        what = "another program" if not servers[port] else "a storage emulator missing the others"
        fail(f"port {port} is in use by {what}, not Azurite: stop it, or {PORTS_HINT}")
    log.info(
        "Reusing the storage emulator already listening on %s (%s): it was not started "
        "here, so its data is not in this app's state folder; to run one of this app's "
        "own, %s.",
        _ports_text(ports),
        servers[ports[0]],
        PORTS_HINT,
    )
    return True


@contextlib.contextmanager
def storage_emulator(
    app_dir: Path, caller_dir: Path, state: Path, ports: tuple[int, int, int]
) -> Iterator[None]:
    """Azurite, unless the settings point elsewhere or one already listens; `caller_dir`
    (the folder `funchost dev` was run from) is searched for it too."""
    if not _uses_dev_storage():
        log.info("AzureWebJobsStorage points at a storage account: not starting Azurite.")
        yield
        return
    os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    if _reuse_or_refuse(ports):
        point_settings_at(AzuriteEndpoints("127.0.0.1", *ports))
        yield
        return
    # The app's node_modules, the caller's folder's, then this project's (a checkout runs
    # the Azurite its package.json pins), then PATH.
    exe = find_azurite(app_dir, caller_dir, Path(__file__).resolve().parents[3])
    if exe is None:
        fail(INSTALL_HINT)
    claim(state, app_dir)
    service = Azurite(
        exe,
        location=state / "azurite",
        blob_port=ports[0],
        queue_port=ports[1],
        table_port=ports[2],
    )
    try:
        service.start()
    except ServiceStartError as exc:
        port = in_use_port(str(exc))
        fail(f"port {port} is in use: stop what uses it, or {PORTS_HINT}" if port else str(exc))
    endpoints = service.endpoints
    assert endpoints is not None
    point_settings_at(endpoints)
    actual = (endpoints.blob_port, endpoints.queue_port, endpoints.table_port)
    log.info("Azurite started on %s (data in %s).", _ports_text(actual), state / "azurite")
    try:
        yield
    finally:
        service.stop()
