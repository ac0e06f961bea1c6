"""Blob-lease locks: at most one holder across every instance of the app.

A lock is a lease on an empty blob (``job-locks/<name>``). The holder renews it in the
background every third of the lease, and releases it on exit; a holder that crashes stops
renewing and the lease expires by itself after `lease_seconds` (15-60 s).

Two ways to learn that the lock is held elsewhere:

    async with lock.hold():            # raises LockNotAcquired
        ...
    async with lock.try_hold() as h:   # yields None
        if h is None:
            return

and a decorator for jobs that must run alone (timer jobs on a scaled-out app):

    @app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
    @singleton(BlobLock(account, "hourly-report"))
    async def hourly(timer: func.TimerRequest) -> None: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobLeaseClient

from . import sync
from ._keepalive import stopped_within
from .errors import InvalidArgument, LockLost, LockNotAcquired
from .storage import StorageAccount

log = logging.getLogger(__name__)

DEFAULT_CONTAINER = "job-locks"
F = TypeVar("F", bound=Callable[..., Any])


class LockHandle:
    """A held lock. Renewed in the background until `release`.

    Attributes
    ----------
    name, lease_id:
        The lock and the lease that holds it.
    renewals:
        How many times the lease was renewed.
    """

    def __init__(self, lock: BlobLock, lease: BlobLeaseClient) -> None:
        self.name = lock.name
        self.lease_id = str(lease.id)
        self.renewals = 0
        self._lock = lock
        self._lease = lease
        self._lost: str | None = None
        self._stop = asyncio.Event()
        self._renewer = asyncio.create_task(self._renew_loop(), name=f"lock:{lock.name}")

    @property
    def lost(self) -> bool:
        """True once a renewal failed for good: others may hold the lock now."""
        return self._lost is not None

    def ensure_held(self) -> None:
        """Raise `LockLost` if the lease was lost (call it before irreversible steps)."""
        if self._lost is not None:
            raise LockLost(self.name, self._lost)

    async def release(self) -> None:
        """Stop renewing and release the lease (if it was lost, just stop)."""
        self._stop.set()
        await asyncio.shield(self._renewer)
        if self._lost is None:
            try:
                await self._lease.release()
            except (HttpResponseError, ValueError) as exc:
                # It expires by itself within the lease time anyway.
                log.warning("lock %r: release failed (%s); it expires on its own", self.name, exc)

    async def _renew_loop(self) -> None:
        interval = self._lock.renew_every
        last_ok = time.monotonic()
        while not await stopped_within(self._stop, interval):
            try:
                await self._lease.renew()
                self.renewals += 1
                last_ok = time.monotonic()
            except ResourceExistsError as exc:  # someone else holds a lease on it now
                code = getattr(exc, "error_code", None) or exc.reason
                self._mark_lost(f"lease taken by another holder ({code})")
                return
            except HttpResponseError as exc:
                # Transient (throttling, network): keep trying while the lease may still be
                # ours; past the lease time it surely is not.
                if time.monotonic() - last_ok >= self._lock.lease_seconds:
                    self._mark_lost(
                        f"no successful renewal for {self._lock.lease_seconds}s ({exc})"
                    )
                    return
                log.warning("lock %r: renewal failed, retrying: %s", self.name, exc)

    def _mark_lost(self, why: str) -> None:
        self._lost = why
        log.error("lock %r lost: %s", self.name, why)


class BlobLock:
    """A named lock over a blob lease.

    Parameters
    ----------
    account:
        Where the lock container lives (created on first use).
    name:
        The lock's name (the blob's name); e.g. the function name for a singleton.
    container:
        ``job-locks`` by default.
    lease_seconds:
        15-60: how long a crashed holder blocks others.
    renew_every:
        Seconds between renewals; a third of the lease by default.
    """

    def __init__(
        self,
        account: StorageAccount,
        name: str,
        *,
        container: str = DEFAULT_CONTAINER,
        lease_seconds: int = 30,
        renew_every: float | None = None,
    ) -> None:
        if not 15 <= lease_seconds <= 60:
            raise InvalidArgument(
                f"lease_seconds must be within 15-60 (a blob lease), got {lease_seconds}"
            )
        if not name or len(name) > 1024:
            raise InvalidArgument(f"lock name must be 1-1024 characters, got {name!r}")
        self.account = account
        self.name = name
        self.container = container
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every if renew_every is not None else lease_seconds / 3

    async def acquire(self, *, wait: float = 0.0, poll: float = 1.0) -> LockHandle | None:
        """Take the lock, trying for up to `wait` seconds.

        Returns
        -------
        LockHandle | None
            The handle (release it, or use `hold`), or None if another holder kept it.
        """
        deadline = time.monotonic() + wait
        while True:
            lease = await self._try_lease()
            if lease is not None:
                return LockHandle(self, lease)
            if time.monotonic() + poll > deadline:
                return None
            await asyncio.sleep(poll)

    async def acquire_or_raise(self, *, wait: float = 0.0, poll: float = 1.0) -> LockHandle:
        """Like `acquire`, but raises `LockNotAcquired` instead of returning None."""
        handle = await self.acquire(wait=wait, poll=poll)
        if handle is None:
            raise LockNotAcquired(self.name, wait)
        return handle

    @asynccontextmanager
    async def hold(self, *, wait: float = 0.0, poll: float = 1.0) -> AsyncIterator[LockHandle]:
        """Hold the lock for the block.

        Raises
        ------
        LockNotAcquired
            Another holder kept it for `wait` seconds.
        LockLost
            On exit, if the lease was lost during the block (exclusivity was broken).
        """
        handle = await self.acquire_or_raise(wait=wait, poll=poll)
        async with _released(handle):
            yield handle

    @asynccontextmanager
    async def try_hold(
        self, *, wait: float = 0.0, poll: float = 1.0
    ) -> AsyncIterator[LockHandle | None]:
        """Hold the lock for the block if it can be had; yields None if not."""
        handle = await self.acquire(wait=wait, poll=poll)
        if handle is None:
            yield None
            return
        async with _released(handle):
            yield handle

    async def _try_lease(self) -> BlobLeaseClient | None:
        blob = self.account.container(self.container).get_blob_client(self.name)
        for _ in range(2):
            try:
                return await blob.acquire_lease(lease_duration=self.lease_seconds)
            except ResourceExistsError:
                return None  # LeaseAlreadyPresent: held by someone else
            except ResourceNotFoundError:
                await self.account.ensure_container(self.container)
                # Created (and maybe leased) by a racing instance: fine, try the lease again.
                with contextlib.suppress(ResourceExistsError, HttpResponseError):
                    await blob.upload_blob(b"", overwrite=False)
        return None


@asynccontextmanager
async def _released(handle: LockHandle) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await handle.release()
    handle.ensure_held()


LockSource = BlobLock | Callable[[], BlobLock]


def singleton(
    lock: LockSource, *, on_busy: Literal["skip", "raise"] = "skip", wait: float = 0.0
) -> Callable[[F], F]:
    """Run the decorated function only while holding `lock`.

    Parameters
    ----------
    lock:
        The lock, or a zero-argument factory (resolved at the first call).
    on_busy:
        When another instance holds it: ``"skip"`` returns None (logged at INFO), ``"raise"``
        raises `LockNotAcquired` (the invocation fails, and a queue message is retried).
    wait:
        Seconds to wait for the lock before giving up.

    Returns
    -------
    A decorator keeping the function's name, signature and sync/async nature.
    """
    if on_busy not in ("skip", "raise"):
        raise InvalidArgument(f"on_busy must be 'skip' or 'raise', got {on_busy!r}")

    def decorate(fn: F) -> F:
        def resolve() -> BlobLock:
            return lock if isinstance(lock, BlobLock) else lock()

        def busy(the_lock: BlobLock) -> None:
            if on_busy == "raise":
                raise LockNotAcquired(the_lock.name, wait)
            log.info("%s: skipped, lock %r is held by another instance", fn.__name__, the_lock.name)

        if inspect.iscoroutinefunction(fn):
            return _async_singleton(fn, resolve, busy, wait)  # type: ignore[return-value]  # fn's signature
        return _sync_singleton(fn, resolve, busy, wait)  # type: ignore[return-value]  # fn's signature

    return decorate


def _async_singleton(
    fn: Callable[..., Any],
    resolve: Callable[[], BlobLock],
    busy: Callable[[BlobLock], None],
    wait: float,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        the_lock = resolve()
        async with the_lock.try_hold(wait=wait) as handle:
            if handle is None:
                return busy(the_lock)
            return await fn(*args, **kwargs)

    return wrapper


def _sync_singleton(
    fn: Callable[..., Any],
    resolve: Callable[[], BlobLock],
    busy: Callable[[BlobLock], None],
    wait: float,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        the_lock = resolve()
        handle = sync.run(the_lock.acquire(wait=wait))
        if handle is None:
            return busy(the_lock)
        try:
            result = fn(*args, **kwargs)
        finally:
            sync.run(handle.release())
        handle.ensure_held()
        return result

    return wrapper
