"""What the SDK is known to get slightly wrong, the emulator forgives as Service Bus does:
concurrent lock renewals (the aio SDK gives two management requests one delivery-id)
keep the connection open, and every lock stays renewed."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.servicebus import AutoLockRenewer, ServiceBusMessage
from azure.servicebus.aio import AutoLockRenewer as AsyncAutoLockRenewer

from .helpers import body, receive

pytestmark = pytest.mark.integration

# LockDuration of the renewmany-* queues: 10 s, so a renewal delayed by a busy machine (two
# suites at once on 2 cores lost a 5 s lock) still comes in time.
LOCK = 10.0


def test_auto_lock_renewer_over_many_messages(sb, name, flavor, aio_loop):
    q = name("renewmany")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(10)])
    failures: list[str] = []
    with sb.get_queue_receiver(q) as receiver:
        messages = receive(receiver, 10)
        first = [m.locked_until_utc for m in messages]
        if flavor == "sync":
            renewer = AutoLockRenewer(
                max_lock_renewal_duration=30,
                on_lock_renew_failure=lambda _, exc: failures.append(repr(exc)),
            )
            for m in messages:
                renewer.register(receiver, m)
            time.sleep(LOCK + 2)  # past the first locks: only renewals keep them
        else:

            async def failed(_: object, exc: Exception | None) -> None:
                failures.append(repr(exc))

            renewer = AsyncAutoLockRenewer(
                max_lock_renewal_duration=30, on_lock_renew_failure=failed
            )

            async def renew_for_a_while() -> None:
                # Registered on the running loop: ten renewals at once on one AMQP session.
                for m in messages:
                    renewer.register(receiver.target, m)
                await asyncio.sleep(LOCK + 2)

            aio_loop.run_until_complete(renew_for_a_while())
        assert failures == []
        assert all(m.locked_until_utc > f for m, f in zip(messages, first, strict=True))
        for m in messages:
            receiver.complete_message(m)  # the connection is still there, every lock held
        assert sorted(body(m) for m in messages) == sorted(f"m{i}" for i in range(10))
        assert receiver.peek_messages(20, sequence_number=1) == []
        close = renewer.close()
        if close is not None:
            aio_loop.run_until_complete(close)


def test_concurrent_renewals_on_one_session(sdk_clients, aio_loop):
    # The aio SDK's race at its most direct: ten renew-lock requests at once.
    client = sdk_clients["aio"].target

    async def scenario() -> list[object]:
        async with client.get_queue_sender("renewmany-aio") as sender:
            await sender.send_messages([ServiceBusMessage(f"c{i}") for i in range(10)])
        async with client.get_queue_receiver("renewmany-aio") as receiver:
            got: list[object] = []
            while len(got) < 10:
                got += await receiver.receive_messages(max_message_count=10, max_wait_time=5)
            renewed = await asyncio.gather(*(receiver.renew_message_lock(m) for m in got))
            for m in got:
                await receiver.complete_message(m)
            return renewed

    assert len(aio_loop.run_until_complete(scenario())) == 10
