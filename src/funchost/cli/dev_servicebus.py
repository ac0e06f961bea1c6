"""The Service Bus emulator for `funchost dev`.

Unless every Service Bus connection the app uses points at a namespace, the project's
emulator runs on 5672 (or `--servicebus-port` / `Host.ServiceBusPort`, else the port of a
local `UseDevelopmentEmulator=true` connection string), with the app's
`servicebus.config.json` (the official emulator's Config.json shape) or its built-in
entities, plus every queue, topic and subscription the bindings name, and its messages in
the app's state folder. Unset connections (`AzureWebJobsServiceBus` by default) and local
emulator connection strings point at it.

An emulator already on the port is reused once it answered AMQP 1.0's protocol header; the
entities it lacks make their functions "in error" with the reason (their listeners retry).
Anything else on the port is named with the option that chooses another. When `--reload`
restarts the host for new functions, the emulator started here gets their entities through
its administration API (`DevServiceBus.restarting`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Set
from dataclasses import dataclass
from pathlib import Path

import anyio

from funchost.cli.common import fail
from funchost.cli.state import claim
from funchost.config.connections import resolve
from funchost.core.logs import fault
from funchost.core.spec import FunctionSpec
from funchost.devservices.probe import in_use_port, listening, speaks_amqp
from funchost.devservices.process import ServiceStartError
from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.devservices.servicebus_check import missing_entities
from funchost.devservices.servicebus_entities import (
    AppEntities,
    EntityUse,
    app_entities,
    connection_names,
    emulator_config,
    read_user_config,
)
from funchost.devservices.servicebus_provision import admin_port, create_missing

# Lines about the emulators, in the host's log format (--log-format json too).
log = logging.getLogger("funchost.dev")

SERVICE_BUS_PORT = 5672
SERVICE_BUS_CONFIG = "servicebus.config.json"
PORT_HINT = "choose another with --servicebus-port (or Host.ServiceBusPort in local.settings.json)"


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


def connection_string(port: int) -> str:
    return (
        f"Endpoint=sb://localhost:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
    )


def _emulator_port_of(name: str) -> int | None:
    """The port of the local emulator the connection `name` points at, else None."""
    found = resolve(name, os.environ)
    return _local_emulator_port(found.value) if found is not None and found.value else None


def _point_settings(unset: list[str], connection: str) -> None:
    """Unset connections, and every local emulator connection string, name this one."""
    for name, value in list(os.environ.items()):
        if _local_emulator_port(value) is not None:
            os.environ[name] = connection
    for name in unset:
        setting = name if name.lower().startswith("azurewebjobs") else f"AzureWebJobs{name}"
        os.environ[setting] = connection


def _missing_reason(use: EntityUse, port: int) -> str:
    return (
        f"the Service Bus {use.description} does not exist on the emulator at "
        f"localhost:{port}, which funchost dev did not start: create it there, or stop that "
        f"emulator, or give dev a free --servicebus-port so it starts one with the app's "
        f"entities; the listener retries meanwhile"
    )


def _reused(port: int, entities: AppEntities, local: Set[str]) -> dict[str, str]:
    """Check the entities on an emulator found on `port`; function -> reason for each
    whose entity is missing."""
    if not speaks_amqp(port):
        fail(
            f"port {port} is in use by a program that is not a Service Bus emulator (it "
            f"does not answer AMQP 1.0): stop it, or {PORT_HINT}"
        )
    log.info(
        "Reusing the Service Bus emulator already listening on 127.0.0.1:%d: it was not "
        "started here, so it has its own entities and data; to run one of this app's own, %s.",
        port,
        PORT_HINT,
    )
    return _missing_on(port, entities, local)


def _missing_on(port: int, entities: AppEntities, local: Set[str]) -> dict[str, str]:
    """Function -> reason for each whose entity the emulator on `port` lacks."""
    uses = AppEntities(tuple(u for u in entities.uses if u.connection in local), False)
    missing = anyio.run(missing_entities, connection_string(port), uses)
    return {u.function: _missing_reason(u, port) for u in missing}


def _start(app_dir: Path, state: Path, port: int, entities: AppEntities) -> ServiceBusEmulator:
    claim(state, app_dir)
    folder = state / "servicebus"
    folder.mkdir(parents=True, exist_ok=True)
    user_file = app_dir / SERVICE_BUS_CONFIG
    user = read_user_config(user_file) if user_file.exists() else None
    if user_file.exists() and user is None:
        config = user_file  # not a shape to add to: the emulator names what is wrong
    else:
        config = folder / "config.json"
        config.write_text(json.dumps(emulator_config(entities, user), indent=2), "utf-8")
    service = ServiceBusEmulator(
        config=config, port=port, data_dir=folder / "data", auto_create=entities.dynamic
    )
    try:
        service.start()
    except ServiceStartError as exc:
        in_use = in_use_port(str(exc))
        fail(f"port {in_use} is in use: stop what uses it, or {PORT_HINT}" if in_use else str(exc))
    source = user_file.name if user_file.exists() else "built-in entities"
    log.info(
        "Service Bus emulator started on 127.0.0.1:%d (entities: %s and the app's bindings; "
        "data in %s).",
        service.port,
        source,
        folder / "data",
    )
    return service


@dataclass(frozen=True)
class DevServiceBus:
    """The Service Bus `funchost dev` runs the host against."""

    in_error: dict[str, str]  # at start: functions whose entity a reused emulator lacks
    port: int | None = None  # the emulator's (None: every connection points at a namespace)
    admin_port: int | None = None  # its administration API, when started here

    def restarting(self, functions: tuple[FunctionSpec, ...]) -> dict[str, str]:
        """Before the host restarts with `functions` (`--reload`): a connection they name
        that is not set points at the emulator, as at start; the emulator started here
        gets the entities they name on it; on a reused one, the functions whose entity
        is missing are in error (function -> reason), as at start."""
        if self.port is None:
            return {}
        names = connection_names(functions)
        _point_settings(sorted(n for n in names if resolve(n, os.environ) is None),
                        connection_string(self.port))  # fmt: skip
        local = {n for n in names if _emulator_port_of(n) is not None}
        entities = app_entities(functions, os.environ)
        if self.admin_port is None:
            return _missing_on(self.port, entities, local)
        ours = AppEntities(tuple(u for u in entities.uses if u.connection in local), False)
        try:
            created = anyio.run(create_missing, self.admin_port, ours)
        except Exception as exc:  # noqa: BLE001 - the listeners then say what is missing
            fault(log, "Cannot create the app's entities on the Service Bus emulator", error=exc)
            return {}
        if created:
            log.info("Created on the Service Bus emulator for the app: %s.", ", ".join(created))
        return {}


@contextlib.contextmanager
def servicebus_emulator(
    app_dir: Path, state: Path, functions: tuple[FunctionSpec, ...], chosen_port: int | None
) -> Iterator[DevServiceBus]:
    """The emulator the app's Service Bus connections point at, started or reused; or
    none when they all point at a namespace."""
    # Like Azurite, the emulator runs even for an app without Service Bus bindings yet, so
    # a function added later (and tools such as the SDK) find it under AzureWebJobsServiceBus.
    names = connection_names(functions) or {"ServiceBus"}
    unset = sorted(n for n in names if resolve(n, os.environ) is None)
    ports = {n: p for n in names if (p := _emulator_port_of(n)) is not None}
    if not unset and not ports:
        yield DevServiceBus({})  # every Service Bus connection points at a namespace
        return
    port = chosen_port if chosen_port is not None else min(ports.values(), default=SERVICE_BUS_PORT)
    entities = app_entities(functions, os.environ)
    local = set(unset) | set(ports)
    if port and listening(port):
        in_error = _reused(port, entities, local)
        _point_settings(unset, connection_string(port))
        yield DevServiceBus(in_error, port)
        return
    service = _start(app_dir, state, port, entities)
    assert service.port is not None
    _point_settings(unset, connection_string(service.port))
    try:
        yield DevServiceBus({}, service.port, admin_port(service.output()))
    finally:
        service.stop()
