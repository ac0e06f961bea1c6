"""Service Bus dead-letter queues against the project's emulator: list and show with the
broker's reason, replay (body and properties copied, the job retried), purge, for a queue
and a topic subscription.

Entities (tests/sbemulator/Config.json): ``ops-deadletter`` (shared by these tests, which
tell their messages apart by id), ``ops-deadletter-all`` (only the replay-all test) and
topic ``ops-topic`` with subscriptions ``ops-sub`` and ``ops-other``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.exceptions import ServiceBusError

from shared import sync
from shared.deadletters import REPLAYED_FROM, ServiceBusDeadLetters
from shared.errors import DeadLetterNotFound, InvalidArgument
from shared.servicebus import ServiceBusNamespace
from shared.status import JobState, StatusStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

QUEUE, QUEUE_ALL = "ops-deadletter", "ops-deadletter-all"
TOPIC, SUB, OTHER = "ops-topic", "ops-sub", "ops-other"


@pytest.fixture
async def namespace(servicebus_connection_string: str) -> AsyncIterator[ServiceBusNamespace]:
    ns = ServiceBusNamespace(servicebus_connection_string)
    try:
        yield ns
    finally:
        await ns.close()


def receiver_for(ns: ServiceBusNamespace, entity: str, subscription: str | None = None):
    client = ns.client()
    if subscription:
        return client.get_subscription_receiver(entity, subscription)
    return client.get_queue_receiver(entity)


async def receive_ids(
    ns: ServiceBusNamespace,
    entity: str,
    wanted: Callable[[ServiceBusReceivedMessage], bool],
    count: int,
    *,
    subscription: str | None = None,
    settle: str = "complete",
    reason: str | None = None,
) -> list[ServiceBusReceivedMessage]:
    """Receive until `count` wanted messages came; settle those as told (others, left by
    earlier tests, are completed)."""
    found: list[ServiceBusReceivedMessage] = []
    deadline = asyncio.get_running_loop().time() + 30
    async with receiver_for(ns, entity, subscription) as receiver:
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for m in await receiver.receive_messages(max_message_count=10, max_wait_time=1):
                if not wanted(m):
                    await receiver.complete_message(m)
                elif settle == "dead-letter":
                    await receiver.dead_letter_message(m, reason=reason, error_description="why")
                    found.append(m)
                elif settle == "abandon":
                    await receiver.abandon_message(m)
                    found.append(m)
                else:
                    await receiver.complete_message(m)
                    found.append(m)
    return found


async def send(ns: ServiceBusNamespace, entity: str, *messages: ServiceBusMessage) -> None:
    client = ns.client()
    sender = client.get_topic_sender(entity) if entity == TOPIC else client.get_queue_sender(entity)
    async with sender:
        await sender.send_messages(list(messages))


async def failed_job(store: StatusStore) -> str:
    job = await store.start(await store.create("order"))
    return (await store.fail(job, "boom")).job_id


def ids(*names: str) -> Callable[[ServiceBusReceivedMessage], bool]:
    return lambda m: m.message_id in names


async def test_list_show_and_replay_a_dead_lettered_message(namespace, account, unique_name):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store)
    auto, explicit = f"auto-{unique_name}", f"expl-{unique_name}"
    body = b"\x00\xff" + json.dumps({"n": 1}).encode()
    # One dead-lettered explicitly; the other after MaxDeliveryCount (2) failed deliveries.
    await send(namespace, QUEUE, ServiceBusMessage(b'{"jobId": "nope"}', message_id=explicit))
    await receive_ids(namespace, QUEUE, ids(explicit), 1, settle="dead-letter", reason="BadSku")
    await send(
        namespace,
        QUEUE,
        ServiceBusMessage(
            body,
            message_id=auto,
            application_properties={"jobId": job_id, "n": 3},
            content_type="application/octet-stream",
            subject="order",
            correlation_id="corr-1",
        ),
    )
    await receive_ids(namespace, QUEUE, ids(auto), 2, settle="abandon")
    dlq = ServiceBusDeadLetters(namespace, queue=QUEUE, statuses=store)
    mine = [m for m in await dlq.list(limit=1000) if m.message_id in (auto, explicit)]
    assert [m.message_id for m in mine] == [explicit, auto]  # by sequence number
    second, first = mine
    assert first.body == body and first.job_id == job_id
    assert first.reason == "MaxDeliveryCountExceeded" and first.delivery_count == 2
    assert first.properties == {"jobId": job_id, "n": 3}  # without the dead-letter ones
    assert (second.reason, second.description) == ("BadSku", "why")
    assert first.source == f"{QUEUE}/$DeadLetterQueue" and first.target == QUEUE
    assert await dlq.show(explicit) == second

    [replayed] = await dlq.replay(auto)
    assert (replayed.job_id, replayed.job_state) == (job_id, "Pending")
    [copy] = await receive_ids(namespace, QUEUE, ids(replayed.new_message_id), 1)
    assert b"".join(copy.body) == body
    props = {k.decode(): v for k, v in copy.application_properties.items()}
    assert props == {"jobId": job_id.encode(), "n": 3, REPLAYED_FROM: auto.encode()}
    assert (copy.content_type, copy.subject, copy.correlation_id) == (
        "application/octet-stream",
        "order",
        "corr-1",
    )
    assert (await store.get(job_id)).state is JobState.PENDING
    remaining = [m.message_id for m in await dlq.list(limit=1000)]
    assert auto not in remaining and explicit in remaining
    with pytest.raises(DeadLetterNotFound):
        await dlq.show(auto)
    assert await dlq.purge(explicit) == 1
    assert explicit not in [m.message_id for m in await dlq.list(limit=1000)]


async def test_replay_all_and_purge_all(namespace):
    dlq = ServiceBusDeadLetters(namespace, queue=QUEUE_ALL, keep_message_id=True)
    await dlq.purge()
    names = [f"all-{i}-{uuid.uuid4().hex[:6]}" for i in range(12)]
    await send(namespace, QUEUE_ALL, *(ServiceBusMessage(n.encode(), message_id=n) for n in names))
    await receive_ids(namespace, QUEUE_ALL, ids(*names), 12, settle="dead-letter", reason="R")
    # A replay of a few messages in the middle locks the ones before them, then lets go.
    [one] = await dlq.replay(names[5])
    assert one.new_message_id == names[5]  # kept
    assert len(await dlq.list()) == 11
    replayed = await dlq.replay()
    assert sorted(r.message_id for r in replayed) == sorted(set(names) - {names[5]})
    copies = await receive_ids(namespace, QUEUE_ALL, ids(*names), 12)
    assert sorted(b"".join(m.body).decode() for m in copies) == sorted(names)
    assert await dlq.list() == []
    await send(namespace, QUEUE_ALL, ServiceBusMessage(b"x", message_id="gone"))
    await receive_ids(namespace, QUEUE_ALL, ids("gone"), 1, settle="dead-letter", reason="R")
    assert await dlq.purge() == 1 and await dlq.list() == []


async def test_a_subscriptions_dead_letters_replay_to_the_topic_or_a_named_queue(namespace):
    tag = uuid.uuid4().hex[:8]
    await send(namespace, TOPIC, ServiceBusMessage(b"t1", message_id=f"t1-{tag}"))
    await receive_ids(namespace, TOPIC, ids(f"t1-{tag}"), 1, subscription=OTHER)
    await receive_ids(
        namespace, TOPIC, ids(f"t1-{tag}"), 1, subscription=SUB, settle="dead-letter", reason="R"
    )
    dlq = ServiceBusDeadLetters(namespace, topic=TOPIC, subscription=SUB)
    assert dlq.source == f"{TOPIC}/Subscriptions/{SUB}/$DeadLetterQueue"
    letter = await dlq.show(f"t1-{tag}")
    assert letter.body == b"t1" and letter.target == TOPIC
    [replayed] = await dlq.replay(f"t1-{tag}")
    # The topic fans the copy out to every subscription, not only the one it failed in.
    again = ids(replayed.new_message_id)
    assert len(await receive_ids(namespace, TOPIC, again, 1, subscription=SUB)) == 1
    assert len(await receive_ids(namespace, TOPIC, again, 1, subscription=OTHER)) == 1
    # Or to a queue of one's choosing.
    await send(namespace, TOPIC, ServiceBusMessage(b"t2", message_id=f"t2-{tag}"))
    await receive_ids(namespace, TOPIC, ids(f"t2-{tag}"), 1, subscription=OTHER)
    await receive_ids(
        namespace, TOPIC, ids(f"t2-{tag}"), 1, subscription=SUB, settle="dead-letter", reason="R"
    )
    to_queue = ServiceBusDeadLetters(namespace, topic=TOPIC, subscription=SUB, replay_to=QUEUE)
    [replayed] = await to_queue.replay(f"t2-{tag}")
    [copy] = await receive_ids(namespace, QUEUE, ids(replayed.new_message_id), 1)
    assert b"".join(copy.body) == b"t2"


async def test_a_replay_that_cannot_send_leaves_the_job_failed_and_the_message(
    namespace, account, unique_name
):
    store = StatusStore(account, table=unique_name)
    job_id = await failed_job(store)
    name = f"nosend-{unique_name}"
    await send(
        namespace,
        QUEUE,
        ServiceBusMessage(b"{}", message_id=name, application_properties={"jobId": job_id}),
    )
    await receive_ids(namespace, QUEUE, ids(name), 1, settle="dead-letter", reason="R")
    dlq = ServiceBusDeadLetters(namespace, queue=QUEUE, statuses=store, replay_to="ops-missing")
    with pytest.raises(ServiceBusError):
        await dlq.replay(name)
    job = await store.get(job_id)
    assert (job.state, job.error) == (JobState.FAILED, "boom")
    assert (await dlq.show(name)).reason == "R"
    assert await dlq.purge(name) == 1


async def test_entity_arguments_are_checked(namespace):
    with pytest.raises(InvalidArgument):
        ServiceBusDeadLetters(namespace)
    with pytest.raises(InvalidArgument):
        ServiceBusDeadLetters(namespace, queue=QUEUE, topic=TOPIC, subscription=SUB)
    with pytest.raises(InvalidArgument):
        ServiceBusDeadLetters(namespace, topic=TOPIC)
    with pytest.raises(DeadLetterNotFound):
        await ServiceBusDeadLetters(namespace, queue=QUEUE).replay("no-such-message")


def test_the_sync_path(servicebus_connection_string):
    namespace = ServiceBusNamespace(servicebus_connection_string)
    name = f"sync-{uuid.uuid4().hex[:8]}"
    try:
        sync.run(send(namespace, QUEUE, ServiceBusMessage(b"s", message_id=name)))
        sync.run(receive_ids(namespace, QUEUE, ids(name), 1, settle="dead-letter", reason="R"))
        dlq = ServiceBusDeadLetters(namespace, queue=QUEUE)
        assert sync.run(dlq.show(name)).reason == "R"
        assert sync.run(dlq.purge(name)) == 1
    finally:
        sync.run(namespace.close())
