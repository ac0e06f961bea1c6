"""Sessions through the SDK, sync and aio: exclusive session locks, next-available
selection and waiting, session state, lock renewal and expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage
from azure.servicebus.exceptions import (
    OperationTimeoutError,
    SessionCannotBeLockedError,
    SessionLockLostError,
)

from .helpers import body, receive

pytestmark = pytest.mark.integration


def test_exclusive_locks_next_available_and_state(sb, name):
    q = name("sessions")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(
            [
                ServiceBusMessage("a1", session_id="A"),
                ServiceBusMessage("b1", session_id="B"),
                ServiceBusMessage("a2", session_id="A"),
            ]
        )
    with sb.get_queue_receiver(q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2) as r1:
        assert r1.session.session_id == "A"  # the session of the oldest message
        got = receive(r1, 2)
        assert [(body(m), m.session_id) for m in got] == [("a1", "A"), ("a2", "A")]

        with (
            pytest.raises(SessionCannotBeLockedError),
            sb.get_queue_receiver(q, session_id="A") as intruder,
        ):
            intruder.receive_messages(max_wait_time=1)

        with sb.get_queue_receiver(q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2) as r2:
            assert r2.session.session_id == "B"  # A is locked, B is free with a message
            (b1,) = receive(r2, 1)
            assert body(b1) == "b1"
            r2.complete_message(b1)

        assert r1.session.get_state() is None
        r1.session.set_state(b"checkpoint-2")
        assert r1.session.get_state() == b"checkpoint-2"
        before = r1.session.locked_until_utc
        time.sleep(0.05)
        after = r1.session.renew_lock()
        assert after > before and r1.session.locked_until_utc == after
        for m in got:
            r1.complete_message(m)
    # Closing the receiver released the lock: the session can be taken again, state kept.
    with sb.get_queue_receiver(q, session_id="A") as again:
        assert again.session.get_state() == b"checkpoint-2"
        assert again.receive_messages(max_wait_time=0.5) == []
        again.session.set_state(None)


def test_next_available_times_out_then_waits_for_a_new_session(
    sb, name, flavor, aio_loop, new_client
):
    q = name("sessionwait")
    entered: list[str] = []
    # No retries: the SDK retries a timeout like any transient error (four attempts).
    with new_client(retry_total=0) as impatient:
        started = time.monotonic()
        with (
            pytest.raises(OperationTimeoutError),
            impatient.get_queue_receiver(
                q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1
            ) as r,
        ):
            entered.append(r.session.session_id)  # the samples go straight to set_state
            r.session.set_state("OPEN")
        waited = time.monotonic() - started
    # Raised while opening the receiver (no receiver with an empty session id), after
    # the server waited for the timeout.
    assert entered == []
    assert waited >= 1.0

    # A receiver waiting for any session gets the one whose first message arrives.
    if flavor == "sync":
        got: list[tuple[str, str]] = []

        def wait_for_session() -> None:
            with sb.get_queue_receiver(q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=6) as r:
                for m in receive(r, 1):
                    got.append((r.session.session_id, body(m)))
                    r.complete_message(m)

        waiter = threading.Thread(target=wait_for_session)
        waiter.start()
        time.sleep(1.5)
        with sb.get_queue_sender(q) as sender:
            sender.send_messages(ServiceBusMessage("late", session_id="late-session"))
        waiter.join(20)
        assert got == [("late-session", "late")]
        return

    client = sb.target  # the aio client itself: waiting and sending run concurrently

    async def wait_for_session() -> tuple[str, str]:
        async with client.get_queue_receiver(
            q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=6
        ) as r:
            messages = await r.receive_messages(max_wait_time=3)
            await r.complete_message(messages[0])
            return r.session.session_id, body(messages[0])

    async def send_later() -> None:
        await asyncio.sleep(1.5)
        async with client.get_queue_sender(q) as sender:
            await sender.send_messages(ServiceBusMessage("late", session_id="late-session"))

    async def both() -> tuple[str, str]:
        result, _ = await asyncio.gather(wait_for_session(), send_later())
        return result

    assert aio_loop.run_until_complete(both()) == ("late-session", "late")


def test_session_lock_expiry_loses_the_lock(sb, name):
    q = name("sessionlock")  # LockDuration PT2S
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("s1", session_id="x"))
    with sb.get_queue_receiver(q, session_id="x") as first:
        (m,) = receive(first, 1)
        time.sleep(2.3)  # the session lock runs out while `first` is still open
        # The server freed the session: another receiver takes it, and the message comes
        # back counted as a failed delivery.
        with sb.get_queue_receiver(q, session_id="x") as second:
            (again,) = receive(second, 1)
            assert (body(again), again.delivery_count) == ("s1", 1)
            with pytest.raises(SessionLockLostError):
                first.complete_message(m)
            second.complete_message(again)


def _listed(sb, aio_loop, queue, **kwargs) -> set[str]:
    paged = sb.list_queue_sessions(queue, **kwargs)
    if not hasattr(paged, "__aiter__"):
        return set(paged)

    async def collect() -> set[str]:
        return {s async for s in paged}

    return set(aio_loop.run_until_complete(collect()))


def test_list_sessions_with_and_without_updated_after(sb, name, aio_loop):
    q = name("sessionlist")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(
            [ServiceBusMessage("a", session_id="A"), ServiceBusMessage("b", session_id="B")]
        )
    with sb.get_queue_receiver(q, session_id="C") as c:  # state, no messages
        c.session.set_state(b"c-state")
    time.sleep(0.2)
    cut = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.2)
    with sb.get_queue_receiver(q, session_id="B") as b:
        b.session.set_state(b"b-state")

    # Without a time: sessions with active messages or with state.
    assert _listed(sb, aio_loop, q) == {"A", "B", "C"}
    # With one: only sessions whose state was set after it (not A: never set).
    assert _listed(sb, aio_loop, q, state_updated_after=cut) == {"B"}
    past = cut - dt.timedelta(hours=1)
    assert _listed(sb, aio_loop, q, state_updated_after=past) == {"B", "C"}

    with sb.get_queue_receiver(q, session_id="A") as a:
        for m in receive(a, 1):
            a.complete_message(m)
    with sb.get_queue_receiver(q, session_id="B") as b:
        for m in receive(b, 1):
            b.complete_message(m)
        b.session.set_state(None)
    with sb.get_queue_receiver(q, session_id="C") as c:
        c.session.set_state(None)
    assert _listed(sb, aio_loop, q) == set()


def test_closing_a_session_receiver_returns_its_messages_uncounted(sb, name):
    # Service Bus counts a session's unsettled messages only when the session lock runs
    # out, not when the receiver closes the session (message-sessions, "Impact of
    # delivery count").
    q = name("sessionclose")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("m", session_id="S"))
    with sb.get_queue_receiver(q, session_id="S") as first:
        (m,) = receive(first, 1)
        assert m.delivery_count == 0
    with sb.get_queue_receiver(q, session_id="S") as second:
        (again,) = receive(second, 1)
        assert (body(again), again.delivery_count) == ("m", 0)
        second.complete_message(again)
