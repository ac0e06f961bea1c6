"""Blob-lease locks against real Azurite: exclusivity, renewal past the lease, release,
loss, and the singleton decorator."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.storage.blob.aio import BlobLeaseClient

from shared.errors import InvalidArgument, LockLost, LockNotAcquired
from shared.locks import BlobLock, singleton

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def lock_for(account, container: str, name: str = "nightly", **kw) -> BlobLock:
    return BlobLock(account, name, container=container, lease_seconds=15, **kw)


async def test_held_by_one_renewed_past_its_lease_then_released(account, unique_name):
    a = lock_for(account, unique_name)
    b = lock_for(account, unique_name)
    async with a.hold() as held:
        # The other instance cannot have it, in either style
        async with b.try_hold() as none:
            assert none is None
        with pytest.raises(LockNotAcquired) as info:
            async with b.hold():
                pass
        assert info.value.name == "nightly"
        # Hold it past the 15 s lease: only the background renewal keeps it ours
        await asyncio.sleep(16.5)
        assert held.renewals >= 2 and not held.lost
        assert await b.acquire() is None
    # Released on exit: the other instance gets it at once, not after the lease
    started = time.monotonic()
    handle = await b.acquire()
    assert handle is not None and time.monotonic() - started < 2
    await handle.release()


async def test_waiting_acquire_gets_the_lock_when_it_is_released(account, unique_name):
    a = lock_for(account, unique_name)
    b = lock_for(account, unique_name)
    first = await a.acquire()

    async def release_soon() -> None:
        await asyncio.sleep(0.8)
        await first.release()

    releaser = asyncio.create_task(release_soon())
    second = await b.acquire_or_raise(wait=5, poll=0.2)
    assert second.lease_id != first.lease_id
    await releaser
    await second.release()
    held = await a.acquire_or_raise()
    with pytest.raises(LockNotAcquired, match="waited"):
        await b.acquire_or_raise(wait=0.5, poll=0.2)
    await held.release()


async def test_lost_lease_is_reported(account, unique_name):
    a = lock_for(account, unique_name, renew_every=0.3)
    with pytest.raises(LockLost, match="lost"):
        async with a.hold() as held:
            # An operator (or a buggy peer) breaks the lease; someone else takes the lock
            blob = account.container(unique_name).get_blob_client("nightly")
            await BlobLeaseClient(blob).break_lease(lease_break_period=0)
            other = await lock_for(account, unique_name).acquire_or_raise()
            await asyncio.sleep(1.0)
            assert held.lost
            with pytest.raises(LockLost):
                held.ensure_held()
    await other.release()


async def test_singleton_runs_one_of_two_overlapping_invocations(account, unique_name):
    runs = []

    @singleton(lock_for(account, unique_name, "report"))
    async def report(n: int) -> str:
        runs.append(n)
        await asyncio.sleep(0.5)
        return f"ran {n}"

    results = await asyncio.gather(report(1), report(2))
    assert len(runs) == 1
    assert results.count(None) == 1 and f"ran {runs[0]}" in results
    # Not overlapping: both run
    assert await report(3) == "ran 3"


async def test_singleton_raise_mode_and_sync_functions(account, unique_name):
    holder = await lock_for(account, unique_name, "sync-job").acquire_or_raise()

    @singleton(lambda: lock_for(account, unique_name, "sync-job"), on_busy="raise")
    def job() -> str:
        return "done"

    with pytest.raises(LockNotAcquired):
        await asyncio.to_thread(job)
    await holder.release()
    assert await asyncio.to_thread(job) == "done"
    from shared import sync

    await asyncio.to_thread(sync.run, account.close())


def test_lease_bounds_are_checked(storage_connection_string):
    from shared.storage import StorageAccount

    acc = StorageAccount(storage_connection_string)
    with pytest.raises(InvalidArgument, match="15-60"):
        BlobLock(acc, "x", lease_seconds=5)
