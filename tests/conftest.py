"""Session fixtures: real Azurite from npm on free ports.

Missing Azurite skips the integration tests locally with the reason, and fails them under
CI=true, so a CI run never passes by skipping what it should have tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from funchost.devservices.azurite import AzuriteEndpoints

if TYPE_CHECKING:
    from tests.servicebus_fixtures import ServiceBusEndpoint

pytest_plugins = ["tests.servicebus_fixtures"]

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: integration services are required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def azurite(funchost_azurite: AzuriteEndpoints) -> AzuriteEndpoints:
    """The session's Azurite (funchost.testing's fixture, shared with the `funchost`
    fixture's hosts)."""
    return funchost_azurite


@pytest.fixture(scope="session")
def funchost_servicebus(servicebus_emulator: ServiceBusEndpoint) -> str:
    """Hosts started by the `funchost` fixture use the suite's one emulator."""
    return servicebus_emulator.connection_string


@pytest.fixture(scope="session")
def storage_connection_string(azurite: AzuriteEndpoints) -> str:
    return azurite.connection_string


# A test that uses any of these needs Azurite or the Service Bus emulator.
SERVICE_FIXTURES = {
    "azurite",
    "storage_connection_string",
    "servicebus_emulator",
    "servicebus_connection_string",
    "funchost",
    "funchost_azurite",
    "funchost_servicebus",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that needs Azurite or the emulator carries the `integration` marker, so
    `-m "not integration"` runs exactly the tests that need neither."""
    unmarked = [
        item.nodeid
        for item in items
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use Azurite or the Service Bus emulator but are not marked "
            "`integration`: " + ", ".join(unmarked)
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the reliability scenarios record (`report` fixture), printed at the end;
    with pytest-xdist they travel with each test's report."""
    lines = [
        value
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", ())
        if name == "reliability"
    ]
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.line(str(line))


@pytest.fixture
def unique_name() -> str:
    """A queue/container/table-safe name unique to the test: lower-case letters and digits."""
    return "t" + uuid.uuid4().hex[:20]
