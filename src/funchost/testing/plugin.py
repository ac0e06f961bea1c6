"""The pytest plugin (entry point `pytest11`: `funchost`).

Fixtures:

- `funchost`: starts in-process hosts for app folders and stops them after the test:
  `host = funchost.start()` (the app in the `funchost_app_dir` ini option, else the rootdir),
  or `funchost.start("path/to/app", settings={...})`. Storage settings that are unset or
  `UseDevelopmentStorage=true` point at the session's Azurite; Service Bus connections the
  app's bindings use, when unset or pointing at a local emulator, point at the session's
  Service Bus emulator. Returns a `funchost.testing.Harness`.
- `funchost_azurite`: Azurite from npm on free ports, once per session (its
  `AzuriteEndpoints`). Found in `node_modules/.bin` under the rootdir, else on PATH.
- `funchost_servicebus`: the project's Service Bus emulator, once per session (its
  connection string), with the entities of the `funchost_servicebus_config` ini option
  (the official emulator's Config.json shape) or creating entities on first use.

Either session fixture may be overridden in a conftest.py. When Azurite or the emulator
cannot start, the test is skipped with the reason, or fails when the CI variable is true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from funchost.config.connections import resolve
from funchost.core.loader import LoadedApp
from funchost.testing.harness import Harness

STORAGE = "AzureWebJobsStorage"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("funchost_app_dir", "Default app folder for the funchost fixture.", default="")
    parser.addini(
        "funchost_servicebus_config",
        "Config.json (official emulator shape) for the session's Service Bus emulator.",
        default="",
    )


def unavailable(reason: str) -> None:
    """Skip locally; fail when CI is true, so CI never passes by skipping."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: integration services are required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def funchost_azurite(pytestconfig: pytest.Config) -> Iterator[Any]:
    from funchost.devservices.azurite import Azurite, find_azurite
    from funchost.devservices.process import ServiceStartError

    exe = find_azurite(pytestconfig.rootpath, Path.cwd())
    if exe is None:
        unavailable("Azurite not found: `npm install azurite` (or `npm install -g azurite`)")
    assert exe is not None
    service = Azurite(exe)
    try:
        service.start()
    except ServiceStartError as exc:
        unavailable(f"Azurite could not start: {exc}")
    try:
        yield service.endpoints
    finally:
        service.stop()


@pytest.fixture(scope="session")
def funchost_servicebus(pytestconfig: pytest.Config) -> Iterator[str]:
    from funchost.devservices.process import ServiceStartError
    from funchost.devservices.servicebus import ServiceBusEmulator

    configured = str(pytestconfig.getini("funchost_servicebus_config") or "")
    config = pytestconfig.rootpath / configured if configured else None
    service = ServiceBusEmulator(config=config, extra_args=[] if config else ["--auto-create"])
    try:
        service.start()
    except (ServiceStartError, OSError) as exc:
        unavailable(f"Service Bus emulator could not start: {exc}")
    assert service.connection_string is not None
    try:
        yield service.connection_string
    finally:
        service.stop()


class HostFactory:
    """What the `funchost` fixture gives a test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._hosts: list[Harness] = []

    def start(
        self,
        app_dir: str | Path | None = None,
        *,
        settings: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Harness:
        """A started host for `app_dir` (see `Harness` for the options)."""
        folder = Path(app_dir) if app_dir is not None else self._default_app_dir()
        harness = Harness(folder, settings=settings, **options)
        harness.environ.update(self._storage(harness.environ))
        harness.on_load = self._servicebus
        self._hosts.append(harness)
        return harness.start()

    def stop_all(self) -> None:
        while self._hosts:
            self._hosts.pop().stop()

    def _default_app_dir(self) -> Path:
        config = self._request.config
        configured = str(config.getini("funchost_app_dir") or "")
        return config.rootpath / configured if configured else config.rootpath

    def _storage(self, environ: Mapping[str, str]) -> dict[str, str]:
        conn = resolve(STORAGE, environ)
        if conn is not None and "usedevelopmentstorage=true" not in (conn.value or "").lower():
            return {}  # points at a real account (or an identity): leave it
        endpoints = self._request.getfixturevalue("funchost_azurite")
        return {STORAGE: endpoints.connection_string}

    def _servicebus(self, app: LoadedApp, environ: Mapping[str, str]) -> dict[str, str]:
        from funchost.devservices.servicebus_entities import connection_names

        names = connection_names(app.functions)
        local = [n for n in names if _local_or_unset(n, environ)]
        if not local:
            return {}
        connection = self._request.getfixturevalue("funchost_servicebus")
        return {_setting_name(n): connection for n in local}


def _local_or_unset(name: str, environ: Mapping[str, str]) -> bool:
    conn = resolve(name, environ)
    return conn is None or "usedevelopmentemulator=true" in (conn.value or "").lower()


def _setting_name(connection: str) -> str:
    # The name the host looks up first (semantics §9): AzureWebJobs<name>.
    low = connection.lower()
    return connection if low.startswith("azurewebjobs") else f"AzureWebJobs{connection}"


@pytest.fixture
def funchost(request: pytest.FixtureRequest) -> Iterator[HostFactory]:
    factory = HostFactory(request)
    try:
        yield factory
    finally:
        factory.stop_all()
