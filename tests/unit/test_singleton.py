"""The listener singleton's state machine (semantics §4.7), on a fake lease; the blob
lease itself is exercised against Azurite in tests/integration/test_timer_trigger.py."""

from __future__ import annotations

from datetime import timedelta

import anyio
from azure.core.exceptions import ServiceRequestError

from funchost.config.host_config import SingletonOptions
from funchost.storage.singleton import LeaseLost, ListenerSingleton

FAST = SingletonOptions(listener_lock_recovery_polling_interval=timedelta(seconds=0.05))


class FakeLease:
    """A lease of `seconds` that other instances own for the first `busy` attempts."""

    lock_id = "host/Host.Functions.tick.Listener"

    def __init__(self, seconds: float = 2.0, busy: int = 0) -> None:
        self.seconds = seconds
        self.busy = busy
        self.attempts = 0
        self.renewals = 0
        self.releases = 0
        self.held = False
        self.renew_error: BaseException | None = None

    async def try_acquire(self) -> bool:
        self.attempts += 1
        if self.attempts <= self.busy:
            return False
        self.held = True
        return True

    async def renew(self) -> None:
        self.renewals += 1
        if self.renew_error is not None:
            error, self.renew_error = self.renew_error, None
            if isinstance(error, LeaseLost):
                self.held = False
            raise error

    async def release(self) -> None:
        self.releases += 1
        self.held = False


def _singleton(lease: FakeLease) -> ListenerSingleton:
    return ListenerSingleton(lease, FAST, "timer 'tick'")  # type: ignore[arg-type]


def test_non_owner_polls_until_the_lease_is_free_then_runs_and_releases() -> None:
    lease = FakeLease(busy=3)
    ran: list[int] = []

    async def main() -> None:
        async def body() -> None:
            ran.append(lease.attempts)
        await _singleton(lease).run(body, anyio.Event())
    anyio.run(main)
    assert ran == [4] and lease.releases == 1 and not lease.held


def test_lease_renewed_every_half_period_while_the_listener_runs() -> None:
    lease = FakeLease(seconds=0.4)
    stopping = anyio.Event()

    async def main() -> None:
        async def body() -> None:
            await anyio.sleep(0.9)
            stopping.set()
        await _singleton(lease).run(body, stopping)
    anyio.run(main)
    assert 3 <= lease.renewals <= 5 and lease.releases == 1


def test_a_lost_lease_stops_the_listener_and_acquiring_starts_over() -> None:
    lease = FakeLease(seconds=0.4)
    lease.renew_error = LeaseLost("409 LeaseIdMismatchWithLeaseOperation")
    starts: list[float] = []
    stopping = anyio.Event()

    async def main() -> None:
        async def body() -> None:
            starts.append(anyio.current_time())
            if len(starts) == 2:
                stopping.set()
                return
            await anyio.sleep(10)  # cancelled when the lease is lost
        with anyio.fail_after(5):
            await _singleton(lease).run(body, stopping)
    anyio.run(main)
    assert len(starts) == 2 and lease.attempts == 2


def test_transient_renewal_failures_are_retried_sooner() -> None:
    lease = FakeLease(seconds=2.0)
    lease.renew_error = ServiceRequestError("connection refused")
    stopping = anyio.Event()

    async def main() -> None:
        async def body() -> None:
            await anyio.sleep(1.8)  # renewal at 1 s fails, retried 0.5 s later
            stopping.set()
        await _singleton(lease).run(body, stopping)
    anyio.run(main)
    assert lease.renewals == 2 and lease.attempts == 1


def test_stopping_while_waiting_for_the_lease_returns_at_once() -> None:
    lease = FakeLease(busy=1000)
    stopping = anyio.Event()

    async def main() -> None:
        async def stop_soon() -> None:
            await anyio.sleep(0.2)
            stopping.set()

        async def body() -> None:
            raise AssertionError("never owner")
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_soon)
            with anyio.fail_after(2):
                await _singleton(lease).run(body, stopping)
    anyio.run(main)
    assert lease.attempts >= 2 and lease.releases == 0


def test_cancellation_releases_the_lease() -> None:
    lease = FakeLease()

    async def main() -> None:
        async def body() -> None:
            await anyio.sleep(10)
        with anyio.move_on_after(0.2):
            await _singleton(lease).run(body, anyio.Event())
    anyio.run(main)
    assert lease.releases == 1 and not lease.held
