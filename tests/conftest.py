"""Session fixtures: real Azurite from npm on free ports.

Missing Azurite skips the integration tests locally with the reason, and fails them under
CI=true, so a CI run never passes by skipping what it should have tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from funchost.devservices.azurite import Azurite, AzuriteEndpoints, find_azurite
from funchost.devservices.process import ServiceStartError

pytest_plugins = ["tests.servicebus_fixtures"]

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: integration services are required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    exe = find_azurite(REPO)
    if exe is None:
        unavailable("Azurite not found: run `npm ci` in the repository (or `make test`)")
    service = Azurite(exe)
    try:
        service.start()
    except ServiceStartError as exc:
        unavailable(f"Azurite could not start: {exc}")
    assert service.endpoints is not None
    try:
        yield service.endpoints
    finally:
        service.stop()


@pytest.fixture(scope="session")
def storage_connection_string(azurite: AzuriteEndpoints) -> str:
    return azurite.connection_string


@pytest.fixture
def unique_name() -> str:
    """A queue/container/table-safe name unique to the test: lower-case letters and digits."""
    return "t" + uuid.uuid4().hex[:20]
