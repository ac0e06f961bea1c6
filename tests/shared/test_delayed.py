"""Delayed one-off jobs against real Azurite and the Service Bus emulator: hidden until due,
hops past the visibility cap (with a short cap, so the test does not wait a week), the 7-day
cap itself, no early arrival, cancellation; Service Bus scheduled messages and their
cancellation (entity ``ops-scheduled``).

Due times are a few seconds out and arrivals are awaited with generous deadlines; the only
timing asserted is that nothing arrives before it is due.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageState

from shared import sync
from shared.delayed import MAX_VISIBILITY, DelayedQueue, ScheduledSender
from shared.errors import InvalidArgument
from shared.servicebus import ServiceBusNamespace
from shared.storage import StorageAccount

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SCHEDULED = "ops-scheduled"


def now() -> datetime:
    return datetime.now(timezone.utc)


async def consume(delayed: DelayedQueue, deadline: float = 30.0) -> tuple[bytes, datetime, int]:
    """Play the queue-triggered function: receive, call `arrived`, delete; until a body is
    due. Returns it, when it came, and how many hops were re-enqueued before."""
    client = delayed.account.queue(delayed.queue)
    hops = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        async for message in client.receive_messages(messages_per_page=1, max_messages=1):
            body = await delayed.arrived(base64.b64decode(message.content))
            await client.delete_message(message)
            if body is not None:
                return body, now(), hops
            hops += 1
        await asyncio.sleep(0.2)
    raise AssertionError(f"nothing due arrived within {deadline}s")


async def test_a_job_stays_hidden_until_it_is_due(account, unique_name):
    delayed = DelayedQueue(account, unique_name)
    due = now() + timedelta(seconds=2)
    sent = await delayed.send({"report": 7}, at=due)
    assert sent.hops == 0 and sent.due_at == due
    assert await account.queue(unique_name).peek_messages() == []  # invisible
    body, arrived, hops = await consume(delayed)
    assert json.loads(body) == {"report": 7} and hops == 0
    assert arrived >= due - timedelta(milliseconds=100)


async def test_beyond_the_cap_the_envelope_hops_until_due(account, unique_name):
    delayed = DelayedQueue(account, unique_name, max_delay=timedelta(seconds=2))
    due = now() + timedelta(seconds=5)
    sent = await delayed.send(b"\x00\xffraw", at=due)
    assert sent.hops == 2  # 2 s, 2 s, then the job itself for the last second
    body, arrived, hops = await consume(delayed)
    assert (body, hops) == (b"\x00\xffraw", 2)
    assert arrived >= due - timedelta(milliseconds=100)


async def test_the_real_cap_a_cancellation_and_a_time_to_live(account, unique_name):
    delayed = DelayedQueue(account, unique_name)
    sent = await delayed.send("in ten days", delay=timedelta(days=10))
    assert sent.hops == 1  # sent as an envelope hidden for 7 days
    queue = account.queue(unique_name)
    assert (await queue.get_queue_properties()).approximate_message_count == 1
    assert await delayed.cancel(sent) is True
    assert await delayed.cancel(sent) is False
    assert (await queue.get_queue_properties()).approximate_message_count == 0
    await delayed.send("forever", delay=timedelta(seconds=1))
    await delayed.send("an hour", delay=timedelta(seconds=1), time_to_live=timedelta(hours=1))
    await asyncio.sleep(2.5)
    expiries = {
        base64.b64decode(m.content): m.expires_on
        async for m in queue.receive_messages(messages_per_page=32)
    }
    assert expiries[b"forever"].year == 9999  # Storage's 7-day default would drop it
    assert now() + timedelta(minutes=55) < expiries[b"an hour"] < now() + timedelta(minutes=65)


async def test_plain_bodies_pass_through_and_arguments_are_checked(account, unique_name):
    delayed = DelayedQueue(account, unique_name)
    assert await delayed.arrived(b'{"$jobsDelayedUntil": "not a time"}') == (
        b'{"$jobsDelayedUntil": "not a time"}'
    )
    assert await delayed.arrived(b"plain") == b"plain"
    with pytest.raises(InvalidArgument):
        await delayed.send("x")
    with pytest.raises(InvalidArgument):
        await delayed.send("x", at=now(), delay=timedelta(1))
    with pytest.raises(InvalidArgument):
        await delayed.send("x", at=datetime(2030, 1, 1))
    with pytest.raises(InvalidArgument):
        DelayedQueue(account, unique_name, max_delay=MAX_VISIBILITY + timedelta(seconds=1))


def test_the_sync_path_for_storage(storage_connection_string, unique_name):
    account = StorageAccount.from_connection_string(storage_connection_string)
    try:
        delayed = DelayedQueue(account, unique_name, encoding="none")
        sent = sync.run(delayed.send("later", delay=timedelta(hours=1)))
        assert sync.run(delayed.cancel(sent))
    finally:
        sync.run(account.close())


# --- Service Bus ------------------------------------------------------------------------------


@pytest.fixture
async def namespace(servicebus_connection_string: str) -> AsyncIterator[ServiceBusNamespace]:
    ns = ServiceBusNamespace(servicebus_connection_string)
    try:
        yield ns
    finally:
        await ns.close()


async def receive_one(ns: ServiceBusNamespace, message_id: str, deadline: float = 30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with ns.client().get_queue_receiver(SCHEDULED) as receiver:
        while loop.time() < end:
            for m in await receiver.receive_messages(max_message_count=10, max_wait_time=1):
                await receiver.complete_message(m)
                if m.message_id == message_id:
                    return m, now()
    return None, now()


async def test_a_scheduled_message_arrives_when_due(namespace):
    scheduler = ScheduledSender(namespace, SCHEDULED)
    message_id = uuid.uuid4().hex
    due = now() + timedelta(seconds=3)
    number = await scheduler.schedule(
        {"report": 7}, at=due, message_id=message_id, application_properties={"jobId": "j"}
    )
    assert isinstance(number, int)
    message, arrived = await receive_one(namespace, message_id)
    assert message is not None and arrived >= due - timedelta(milliseconds=100)
    assert json.loads(b"".join(message.body)) == {"report": 7}
    assert message.application_properties[b"jobId"] == b"j"


async def scheduled_numbers(ns: ServiceBusNamespace, entity: str, number: int) -> list[int]:
    """Sequence numbers from `number` on that are still scheduled (a peek shows them)."""
    async with ns.client().get_queue_receiver(entity) as receiver:
        peeked = await receiver.peek_messages(max_message_count=10, sequence_number=number)
    return [m.sequence_number for m in peeked if m.state == ServiceBusMessageState.SCHEDULED]


async def test_a_cancelled_message_is_no_longer_scheduled(namespace):
    scheduler = ScheduledSender(namespace, SCHEDULED)
    own = ServiceBusMessage(b"cancel me", message_id=uuid.uuid4().hex)
    number = await scheduler.schedule(own, delay=timedelta(minutes=10))
    assert number in await scheduled_numbers(namespace, SCHEDULED, number)
    assert await scheduler.cancel(number) is True
    assert number not in await scheduled_numbers(namespace, SCHEDULED, number)
    # No longer scheduled: False (after the SDK's retries of message-not-found, ~11 s).
    assert await scheduler.cancel(number) is False
    topic = ScheduledSender(namespace, "ops-topic", topic=True)
    assert await topic.cancel(await topic.schedule("t", delay=timedelta(hours=1)))


def test_the_sync_path_for_service_bus(servicebus_connection_string):
    namespace = ServiceBusNamespace(servicebus_connection_string)
    try:
        scheduler = ScheduledSender(namespace, SCHEDULED)
        number = sync.run(scheduler.schedule("x", delay=timedelta(hours=1)))
        assert sync.run(scheduler.cancel(number)) is True
        with pytest.raises(InvalidArgument):
            sync.run(scheduler.schedule("x"))
    finally:
        sync.run(namespace.close())
