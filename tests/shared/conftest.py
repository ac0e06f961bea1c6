"""Fixtures for the jobs library tests: an account on the session's Azurite, anyio on asyncio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.storage import StorageAccount


@pytest.fixture
def anyio_backend() -> str:
    # The library uses asyncio primitives (tasks, events); the Functions worker runs asyncio.
    return "asyncio"


@pytest.fixture
async def account(storage_connection_string: str) -> AsyncIterator[StorageAccount]:
    acc = StorageAccount.from_connection_string(storage_connection_string)
    try:
        yield acc
    finally:
        await acc.close()
