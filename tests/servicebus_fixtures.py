"""Session fixtures for the project's Service Bus emulator.

`servicebus_emulator` runs `python -m sbemulator` once per test session on a free port,
with the entities of tests/sbemulator/Config.json: for other suites, plain queue
`funchost-queue`, session queue `funchost-sessions`, `funchost-poison` with
MaxDeliveryCount 3 (LockDuration PT5S), topic `funchost-topic` with subscriptions `sub1`
and `sub2`, queues `shared-requests`, `shared-replies`, `shared-ordered` and topic
`shared-events` (`sub1`, `sub2`), and for the poison/dead-letter and delayed-job tests
queues `ops-deadletter`, `ops-deadletter-all`, `ops-host`, `ops-host-b` (MaxDeliveryCount
2, LockDuration PT5S), `ops-scheduled` and topic `ops-topic` (`ops-sub`, `ops-other`); for telemetry, the poison
CLI and the dashboard, `telemetry-hop-1`, `telemetry-hop-2`, `poison-cli` (MaxDeliveryCount
1) and `dashboard-dlq` (MaxDeliveryCount 1). Entities named `*-sync`/`*-aio` belong to the
emulator's own tests, which expect them empty. Entities are fixed (no auto-create): tests
that need fresh ones add distinct names to the config. If the emulator cannot start: skip
locally, fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def running_emulator(config: Path) -> Iterator[ServiceBusEndpoint]:
    """An emulator with `config`'s entities for the duration of the block; when it cannot
    start, skip locally and fail under CI=true."""
    from tests.conftest import unavailable

    service = ServiceBusEmulator(config=config)
    try:
        service.start()
    except (ServiceStartError, OSError) as exc:
        unavailable(f"Service Bus emulator could not start: {exc}")
    assert service.connection_string is not None and service.port is not None
    try:
        yield ServiceBusEndpoint(service.connection_string, service.port, config)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def servicebus_emulator() -> Iterator[ServiceBusEndpoint]:
    with running_emulator(SERVICEBUS_CONFIG) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def servicebus_connection_string(servicebus_emulator: ServiceBusEndpoint) -> str:
    return servicebus_emulator.connection_string
