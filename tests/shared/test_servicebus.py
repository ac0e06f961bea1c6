"""Service Bus paths against the project's emulator: replies to ReplyTo with the correlation
id, completion events on a topic, and ordering by deferral.

The emulator's entities are fixed by tests/sbemulator/Config.json, so these tests use
entities from it and tell their own messages apart by unique ids and keys. Without the
`servicebus_emulator` fixture they are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusMessage

from shared.errors import SequenceGapError
from shared.ordering import GapPolicy, Outcome, Sequencer, ServiceBusOrdering
from shared.results import ReplyAddress, ServiceBusEventPublisher, ServiceBusReplySender
from shared.servicebus import ServiceBusNamespace
from shared.status import StatusStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

# Entities of their own in tests/sbemulator/Config.json, so no other suite sees leftovers.
REQUESTS, REPLIES = "shared-requests", "shared-replies"
ORDERED = "shared-ordered"
TOPIC, SUBSCRIPTION = "shared-events", "sub1"


@pytest.fixture(scope="module")
def servicebus_connection(request: pytest.FixtureRequest) -> str:
    endpoint = request.getfixturevalue("servicebus_emulator")
    return str(endpoint.connection_string)


@pytest.fixture
async def namespace(servicebus_connection: str) -> AsyncIterator[ServiceBusNamespace]:
    ns = ServiceBusNamespace(servicebus_connection)
    try:
        yield ns
    finally:
        await ns.close()


async def receive_matching(
    ns: ServiceBusNamespace,
    entity: str,
    match,
    *,
    count: int = 1,
    subscription: str | None = None,
    timeout: float = 10.0,
) -> list:
    """Receive until `count` messages satisfy `match`; others (left by earlier tests) are
    completed and ignored."""
    client = ns.client()
    receiver = (
        client.get_subscription_receiver(entity, subscription)
        if subscription
        else client.get_queue_receiver(entity)
    )
    found = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with receiver:
        while len(found) < count and loop.time() < deadline:
            for m in await receiver.receive_messages(max_message_count=10, max_wait_time=1):
                await receiver.complete_message(m)
                if match(m):
                    found.append(m)
    return found


async def test_reply_goes_to_reply_to_with_the_request_message_id(account, unique_name, namespace):
    request_id = uuid.uuid4().hex
    # The requester sends a job request naming its reply queue
    async with namespace.client().get_queue_sender(REQUESTS) as sender:
        await sender.send_messages(
            ServiceBusMessage(b'{"job": "resize"}', message_id=request_id, reply_to=REPLIES)
        )
    # The worker receives it, runs the job, answers where the request said
    [request] = await receive_matching(namespace, REQUESTS, lambda m: m.message_id == request_id)
    address = ReplyAddress.from_message(request)
    assert address == ReplyAddress(REPLIES, request_id, None)
    store = StatusStore(account, table=unique_name)
    job = await store.succeed(
        await store.start(await store.create("resize")), result_location="https://blob/r.png"
    )
    await ServiceBusReplySender(namespace).send(job, address)
    # The requester matches the reply by correlation id
    [reply] = await receive_matching(namespace, REPLIES, lambda m: m.correlation_id == request_id)
    body = json.loads(b"".join(reply.body))
    assert body["correlationId"] == request_id and body["status"]["status"] == "Succeeded"
    assert reply.application_properties[b"jobId"] in (job.job_id, job.job_id.encode())


async def test_completion_event_on_a_topic(account, unique_name, namespace):
    store = StatusStore(account, table=unique_name)
    job = await store.fail(await store.start(await store.create("email")), "bounced")
    event_id = await ServiceBusEventPublisher(namespace, TOPIC).publish(job)
    [message] = await receive_matching(
        namespace, TOPIC, lambda m: m.message_id == event_id, subscription=SUBSCRIPTION
    )
    event = json.loads(b"".join(message.body))
    assert event["type"] == "jobs.job.failed" and event["data"]["error"] == "bounced"
    assert str(message.subject) == "jobs.job.failed"


async def send_sequence(ns: ServiceBusNamespace, key: str, numbers: list[int]) -> None:
    async with ns.client().get_queue_sender(ORDERED) as sender:
        for n in numbers:
            await sender.send_messages(
                ServiceBusMessage(
                    json.dumps({"n": n}), application_properties={"orderingKey": key, "sequence": n}
                )
            )


async def consume_ordered(
    ns: ServiceBusNamespace,
    ordering: ServiceBusOrdering,
    key: str,
    handler,
    results: list,
    gaps: list,
    *,
    stop,
    timeout: float = 15.0,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with ns.client().get_queue_receiver(ORDERED) as receiver:
        while not stop() and loop.time() < deadline:
            for m in await receiver.receive_messages(max_message_count=10, max_wait_time=1):
                props = m.application_properties or {}
                if props.get(b"orderingKey", props.get("orderingKey")) not in (key, key.encode()):
                    await receiver.complete_message(m)  # left by another test
                    continue
                try:
                    results.extend(await ordering.handle(receiver, m, handler))
                except SequenceGapError as exc:
                    gaps.append(exc)


async def test_out_of_order_messages_are_applied_in_order_by_deferral(
    account, unique_name, namespace
):
    key = f"order-{uuid.uuid4().hex[:8]}"
    ordering = ServiceBusOrdering(Sequencer(account, table=unique_name))
    applied: list[int] = []

    async def apply(message) -> int:
        n = json.loads(b"".join(message.body))["n"]
        applied.append(n)
        return n

    await send_sequence(namespace, key, [3, 4, 1, 2])
    results: list = []
    gaps: list = []
    await consume_ordered(
        namespace, ordering, key, apply, results, gaps, stop=lambda: len(applied) == 4
    )
    assert applied == [1, 2, 3, 4] and gaps == []
    held = [r.sequence for r in results if r.outcome is Outcome.HELD_BACK]
    assert sorted(held) == [3, 4]  # deferred, then fetched back by sequence number


async def test_a_gap_is_reported_by_the_sweep_and_then_skipped(account, unique_name, namespace):
    key = f"order-{uuid.uuid4().hex[:8]}"
    sequencer = Sequencer(account, table=unique_name, gap_timeout=timedelta(seconds=1))
    ordering = ServiceBusOrdering(sequencer)
    applied: list[int] = []

    async def apply(message) -> None:
        applied.append(json.loads(b"".join(message.body))["n"])

    await send_sequence(namespace, key, [1, 3])  # 2 is lost
    results: list = []
    await consume_ordered(
        namespace, ordering, key, apply, results, [], stop=lambda: len(results) >= 2
    )
    assert applied == [1]
    assert [(r.sequence, r.outcome) for r in results] == [
        (1, Outcome.APPLIED),
        (3, Outcome.HELD_BACK),
    ]
    await asyncio.sleep(1.2)
    async with namespace.client().get_queue_receiver(ORDERED) as receiver:
        report = await ordering.sweep(receiver, apply)
        assert [(g.key, g.expected, g.lowest_waiting) for g in report.gaps] == [(key, 2, 3)]
        skipping = ServiceBusOrdering(sequencer, gap_policy=GapPolicy.SKIP)
        report = await skipping.sweep(receiver, apply)
    assert applied == [1, 3]
    assert [r.sequence for r in report.applied] == [3]
