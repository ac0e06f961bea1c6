"""Listener singletons across host instances, on blob leases (semantics §4.7).

The real timer listener is `[Singleton(Mode = Listener)]`: an instance runs it only while
it holds a lease on the blob `azure-webjobs-hosts/locks/{hostId}/Host.Functions.<name>.Listener`
(W `SingletonListener.cs`, `SingletonManager.cs`, `BlobLeaseDistributedLockManager.cs`):

- acquire: read the blob's lease state first (so a held lease costs a read, not a 409),
  creating the blob (and the container) when missing; a 409 means someone else won;
- hold: the lease lasts `singleton.listenerLockPeriod` (60 s) and is renewed every half
  period; a failed renewal is retried sooner (half the interval, at least 1 s);
- not the owner: try again every `singleton.listenerLockRecoveryPollingInterval` (60 s);
- stop: stop the listener first, then release the lease, so another instance takes over
  at its next poll instead of after the lease expires.

Where we differ: a lease lost while listening (another instance took the blob, or renewal
failed for a whole period) stops the listener and goes back to acquiring, where the real
host fails the process; and the recovery interval may be shorter than 15 s so tests run
fast (the real host rejects that; Azure's own 15-60 s limit applies to the lease itself).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobLeaseClient

from funchost.config.host_config import SingletonOptions
from funchost.core.backoff import RandomizedBackoff
from funchost.core.logs import brief

log = logging.getLogger("funchost.singleton")

HOSTS_CONTAINER = "azure-webjobs-hosts"
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 15, 60  # what Azure Storage accepts
STORAGE_ERRORS = (AzureError, OSError)
# Who holds a lock, as the real host writes it on the lock blob when it knows the owner
# (W `BlobLeaseDistributedLockManager.WriteLeaseBlobMetadata`): a hint for operators.
OWNER_METADATA = "FunctionInstance"


def listener_lock_id(host_id: str, function_name: str) -> str:
    return f"{host_id}/Host.Functions.{function_name}.Listener"


class LeaseLost(Exception):
    """Another instance holds the lease now, or the blob is gone."""


class BlobLease:
    """One lease on `locks/{lock_id}` in the hosts container."""

    def __init__(
        self, container: Any, lock_id: str, seconds: float, *, owner: str | None = None
    ) -> None:
        self.lock_id = lock_id
        self.owner = owner
        self.seconds = int(min(max(seconds, MIN_LEASE_SECONDS), MAX_LEASE_SECONDS))
        if self.seconds != seconds:
            log.warning(
                "singleton.listenerLockPeriod must be 15 to 60 seconds for a blob "
                "lease; using %ds for %s",
                self.seconds,
                lock_id,
            )
        self._container = container
        self._blob = container.get_blob_client(f"locks/{lock_id}")
        self._lease: BlobLeaseClient | None = None

    @property
    def held(self) -> bool:
        return self._lease is not None

    async def try_acquire(self) -> bool:
        """True if we hold the lease now; False if another instance does. Storage errors
        propagate."""
        try:
            props = await self._blob.get_blob_properties()
            if props.lease.state not in (None, "available", "expired", "broken"):
                return False
        except ResourceNotFoundError:
            await self._create()
        lease = BlobLeaseClient(self._blob)
        try:
            await lease.acquire(lease_duration=self.seconds)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return False
            raise
        self._lease = lease
        if self.owner:
            await self._write_owner(lease)
        return True

    async def _write_owner(self, lease: BlobLeaseClient) -> None:
        """Name this instance on the lock blob; best effort, it is only a hint."""
        try:
            await self._blob.set_blob_metadata({OWNER_METADATA: self.owner or ""}, lease=lease)
        except STORAGE_ERRORS as exc:
            log.debug("Could not name the owner of %s: %s", self.lock_id, exc)

    async def _create(self) -> None:
        for attempt in range(2):
            try:
                await self._blob.upload_blob(b"", overwrite=False)
                return
            except ResourceExistsError:
                return  # created meanwhile
            except ResourceNotFoundError:
                if attempt:
                    raise
                with contextlib.suppress(ResourceExistsError):
                    await self._container.create_container()
            except HttpResponseError as exc:
                if exc.status_code == 412:  # leased by someone else: it exists
                    return
                raise

    async def renew(self) -> None:
        """LeaseLost when the lease is no longer ours; other storage errors propagate."""
        assert self._lease is not None, "renew() without the lease"
        try:
            await self._lease.renew()
        except HttpResponseError as exc:
            if exc.status_code in (404, 409, 412):
                self._lease = None
                raise LeaseLost(
                    f"{exc.status_code} {getattr(exc, 'error_code', None) or ''}".strip()
                ) from None
            raise

    async def release(self) -> None:
        """Best effort: a lease that expired or moved on needs no release."""
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await lease.release()
        except HttpResponseError as exc:
            if exc.status_code not in (404, 409, 412):
                log.warning("Releasing the singleton lock %s failed: %s", self.lock_id, exc)
        except STORAGE_ERRORS as exc:
            log.warning("Releasing the singleton lock %s failed: %s", self.lock_id, exc)


async def sleep_unless(stopping: anyio.Event, seconds: float) -> bool:
    """Sleep; True if `stopping` was set meanwhile (returns at once then)."""
    with anyio.move_on_after(seconds):
        await stopping.wait()
    return stopping.is_set()


class ListenerSingleton:
    """Runs a listener body on at most one instance at a time."""

    def __init__(self, lease: BlobLease, options: SingletonOptions, what: str) -> None:
        self.lease = lease
        self.what = what
        self.recovery_seconds = options.listener_lock_recovery_polling_interval.total_seconds()
        self._backoff = RandomizedBackoff(1.0, 60.0)  # storage errors while acquiring
        self._failures = RandomizedBackoff(1.0, 60.0)  # the listener failing while held

    async def run(self, body: Callable[[], Awaitable[None]], stopping: anyio.Event) -> None:
        """Acquire the lease and run `body` while holding it, until `body` returns (the host
        is stopping) or `stopping` is set. Storage trouble is logged and retried; the lease
        is released on the way out, cancellation included."""
        waiting_logged = False
        try:
            while not stopping.is_set():
                try:
                    acquired = await self.lease.try_acquire()
                except STORAGE_ERRORS as exc:
                    delay = self._backoff.next()
                    log.warning(
                        "The singleton lock for %s is unavailable (%s); retrying in %.1fs",
                        self.what,
                        brief(exc),
                        delay,
                    )
                    await sleep_unless(stopping, delay)
                    continue
                self._backoff.reset()
                if not acquired:
                    if not waiting_logged:
                        log.info(
                            "Unable to acquire Singleton lock (%s): another instance is "
                            "running %s; checking again every %gs",
                            self.lease.lock_id,
                            self.what,
                            self.recovery_seconds,
                        )
                        waiting_logged = True
                    await sleep_unless(stopping, self.recovery_seconds)
                    continue
                waiting_logged = False
                log.info("Singleton lock acquired (%s)", self.lease.lock_id)
                outcome = await self._hold(body)
                if outcome == "finished":
                    return
                if outcome == "failed":
                    await sleep_unless(stopping, self._failures.next())
                else:
                    self._failures.reset()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                if self.lease.held:
                    await self.lease.release()
                    log.info("Singleton lock released (%s)", self.lease.lock_id)

    async def _hold(self, body: Callable[[], Awaitable[None]]) -> str:
        """Run `body` while renewing: "finished" when it returned, "lost" when the lease
        was lost, "failed" when it raised (the lease is then given up, and acquiring starts
        over after a backoff)."""
        lost = False
        error: Exception | None = None
        async with anyio.create_task_group() as tg:

            async def renew() -> None:
                nonlocal lost
                await self._renew_until_lost()
                lost = True
                tg.cancel_scope.cancel()

            tg.start_soon(renew)
            try:
                await body()
            except Exception as exc:  # noqa: BLE001 - a listener failure must not end the host
                error = exc
            tg.cancel_scope.cancel()
        if lost:
            return "lost"
        if error is None:
            return "finished"
        if isinstance(error, STORAGE_ERRORS):  # expected when storage comes and goes
            log.warning(
                "The listener for %s lost its storage (%s); releasing its lock and retrying",
                self.what,
                brief(error),
            )
        else:
            log.error(
                "The listener for %s failed; releasing its lock and retrying",
                self.what,
                exc_info=error,
            )
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await self.lease.release()
        return "failed"

    async def _renew_until_lost(self) -> None:
        normal = self.lease.seconds / 2
        margin = min(1.0, self.lease.seconds / 4)  # renew before the lease could expire
        interval = normal
        last_ok = time.monotonic()
        while True:
            left = self.lease.seconds - (time.monotonic() - last_ok)
            await anyio.sleep(max(0.0, min(interval, left - margin)))
            try:
                await self.lease.renew()
            except LeaseLost as exc:
                log.error(
                    "Singleton lock %s was lost (%s); %s stops until it is acquired again",
                    self.lease.lock_id,
                    exc,
                    self.what,
                )
                return
            except STORAGE_ERRORS as exc:
                if time.monotonic() - last_ok >= self.lease.seconds - margin:
                    log.error(
                        "Singleton lock %s could not be renewed within its %ds lease "
                        "(%s); %s stops until it is acquired again",
                        self.lease.lock_id,
                        self.lease.seconds,
                        brief(exc),
                        self.what,
                    )
                    await self.lease.release()
                    return
                interval = max(interval / 2, min(1.0, margin))
                log.warning(
                    "Singleton lock renewal failed for %s (%s); retrying in %.0fs",
                    self.lease.lock_id,
                    brief(exc),
                    interval,
                )
                continue
            last_ok = time.monotonic()
            interval = normal
