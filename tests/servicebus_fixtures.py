"""Session fixtures for the project's Service Bus emulator.

`servicebus_emulator` runs `python -m sbemulator` once per test session on a free port,
with the entities of tests/sbemulator/Config.json (plain queue `funchost-queue`, session
queue `funchost-sessions`, `funchost-poison` with MaxDeliveryCount 3, topic
`funchost-topic` with subscriptions `sub1` and `sub2`, plus the emulator's own test
entities). Entities are fixed: tests that need fresh ones use distinct names from the
config. If it cannot start: skip locally, fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from funchost.devservices.process import ServiceStartError
from funchost.devservices.servicebus import ServiceBusEmulator

SERVICEBUS_CONFIG = Path(__file__).resolve().parent / "sbemulator" / "Config.json"


@dataclass(frozen=True)
class ServiceBusEndpoint:
    connection_string: str
    port: int
    config: Path


@pytest.fixture(scope="session")
def servicebus_emulator() -> Iterator[ServiceBusEndpoint]:
    from tests.conftest import unavailable

    service = ServiceBusEmulator(config=SERVICEBUS_CONFIG)
    try:
        service.start()
    except (ServiceStartError, OSError) as exc:
        unavailable(f"Service Bus emulator could not start: {exc}")
    assert service.connection_string is not None and service.port is not None
    try:
        yield ServiceBusEndpoint(service.connection_string, service.port, SERVICEBUS_CONFIG)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def servicebus_connection_string(servicebus_emulator: ServiceBusEndpoint) -> str:
    return servicebus_emulator.connection_string
