"""Clients cached per loop are closed when their loop ends (no "Unclosed client session")."""

from __future__ import annotations

import asyncio
import gc
import logging

import anyio
import pytest

from shared._loopcache import LoopCache
from shared.storage import StorageAccount


class _Client:
    def __init__(self, closed: list[str], name: str) -> None:
        self.closed, self.name = closed, name

    async def close(self) -> None:
        self.closed.append(self.name)


@pytest.mark.parametrize(
    "run", [lambda fn: asyncio.run(fn()), anyio.run], ids=["asyncio.run", "anyio.run"]
)
def test_a_loops_clients_are_closed_when_it_ends(run) -> None:
    closed: list[str] = []
    cache = LoopCache()

    async def use() -> None:
        cache.get("a", lambda: _Client(closed, "a"))
        cache.get("b", lambda: _Client(closed, "b"))
        await asyncio.sleep(0)

    run(use)
    assert sorted(closed) == ["a", "b"]
    run(use)  # a new loop gets clients of its own, closed at its end too
    assert sorted(closed) == ["a", "a", "b", "b"]


@pytest.mark.integration
def test_real_sdk_clients_leave_no_unclosed_session(storage_connection_string, caplog) -> None:
    account = StorageAccount.from_connection_string(storage_connection_string)

    async def use(acc: StorageAccount) -> None:
        await acc.ensure_queue("loopend")
        await acc.ensure_table("loopend")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(use(account))
        del account  # its clients are collected now: unclosed ones would say so
        gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
