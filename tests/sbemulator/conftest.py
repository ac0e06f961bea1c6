"""Fixtures of the emulator's integration tests.

Each test runs twice, with the sync and with the aio SDK. Opening a client costs the
SDK about half a second (it polls its socket one frame per 50 ms step), so one client per
flavor is shared by the whole session; tests still open their own senders and receivers
and use their own entities (`name("basic")` -> "basic-sync" / "basic-aio").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servicebus_fixtures import ServiceBusEndpoint

from .sdk import FLAVORS, client


@pytest.fixture(scope="session")
def aio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(scope="session")
def sdk_clients(
    servicebus_emulator: ServiceBusEndpoint, aio_loop: asyncio.AbstractEventLoop
) -> Iterator[dict[str, Any]]:
    clients = {f: client(f, servicebus_emulator.connection_string, aio_loop) for f in FLAVORS}
    try:
        yield clients
    finally:
        for c in clients.values():
            c.close()


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sb(flavor: str, sdk_clients: dict[str, Any]) -> Any:
    """The shared ServiceBusClient of the test's flavor (aio behind a blocking view)."""
    return sdk_clients[flavor]


@pytest.fixture
def new_client(
    flavor: str, servicebus_emulator: ServiceBusEndpoint, aio_loop: asyncio.AbstractEventLoop
) -> Callable[..., Any]:
    """A fresh client of the test's flavor, e.g. with other retry settings."""
    return lambda **kwargs: client(
        flavor, servicebus_emulator.connection_string, aio_loop, **kwargs
    )


@pytest.fixture
def name(flavor: str) -> Callable[[str], str]:
    """`name("basic")` -> this flavor's entity from Config.json, e.g. "basic-aio"."""
    return lambda base: f"{base}-{flavor}"
