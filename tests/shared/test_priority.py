"""Priority queues against real Azurite: names, sending, high-first receiving, the gate."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import azure.functions as func
import pytest

from shared._tables import utcnow
from shared.errors import InvalidArgument, SettingError
from shared.idempotency import IdempotencyLedger, idempotent, json_field
from shared.priority import HELD_SINCE, Priority, PriorityGate, PriorityQueues, PrioritySender

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def test_queue_names_derive_from_the_base_name():
    assert (PriorityQueues().high, PriorityQueues().normal) == ("jobs-high", "jobs-normal")
    queues = PriorityQueues("reports", {Priority.HIGH: "-p0", Priority.NORMAL: "-p1"})
    assert queues.name(Priority.HIGH) == "reports-p0" and queues.normal == "reports-p1"
    assert PriorityQueues.from_settings(environ={"JOBS_QUEUE": "thumbs"}).high == "thumbs-high"
    assert PriorityQueues.from_settings(environ={}).normal == "jobs-normal"
    with pytest.raises(SettingError, match="MISSING"):
        PriorityQueues.from_settings("MISSING", default=None, environ={})


async def test_send_puts_jobs_on_the_queue_of_their_priority(account, unique_name):
    sender = PrioritySender(account, PriorityQueues(unique_name))
    urgent = await sender.send({"job": "urgent"}, Priority.HIGH)
    await sender.send(b"raw bytes")
    await sender.send("text", Priority.NORMAL)
    assert urgent.queue == f"{unique_name}-high" and urgent.priority is Priority.HIGH
    assert await sender.backlog() == {Priority.HIGH: 1, Priority.NORMAL: 2}
    [m] = [m async for m in account.queue(f"{unique_name}-high").receive_messages()]
    # base64, as the Functions queue trigger decodes it by default
    assert json.loads(base64.b64decode(m.content)) == {"job": "urgent"}
    with pytest.raises(InvalidArgument):
        await sender.send({"not": {1, 2}})


async def test_receive_takes_high_priority_first(account, unique_name):
    sender = PrioritySender(account, PriorityQueues(unique_name))
    for n in range(3):
        await sender.send({"n": n})
    for n in range(2):
        await sender.send({"h": n}, Priority.HIGH)
    first = await sender.receive(3, visibility_timeout=timedelta(seconds=30))
    assert [p for p, _ in first] == [Priority.HIGH, Priority.HIGH, Priority.NORMAL]
    rest = await sender.receive(10, visibility_timeout=timedelta(seconds=30))
    assert [p for p, _ in rest] == [Priority.NORMAL, Priority.NORMAL]


async def test_gate_tells_normal_work_to_step_aside_while_high_work_waits(account, unique_name):
    queues = PriorityQueues(unique_name)
    gate = PriorityGate(account, queues)
    assert not await gate.should_yield()
    await PrioritySender(account, queues).send("x", Priority.HIGH)
    assert await gate.should_yield()
    assert not await PriorityGate(account, queues, threshold=5).should_yield()


async def test_delayed_send_stays_invisible(account, unique_name):
    sender = PrioritySender(account, PriorityQueues(unique_name))
    await sender.send("later", delay=timedelta(seconds=30))
    assert await sender.receive(5) == []


async def test_invisible_high_messages_do_not_hold_normal_work_back(account, unique_name):
    # A high-priority message some worker is running (invisible) is not waiting work: after
    # a host crash such messages made one normal job yield 137 times over 7.5 minutes.
    queues = PriorityQueues(unique_name)
    await PrioritySender(account, queues).send("running", Priority.HIGH)
    high = await account.ensure_queue(queues.high)
    [_ async for _ in high.receive_messages(max_messages=1, visibility_timeout=60)]
    assert not await PriorityGate(account, queues).should_yield()


async def test_normal_work_is_held_back_at_most_max_hold(account, unique_name):
    queues = PriorityQueues(unique_name)
    await PrioritySender(account, queues).send("waiting", Priority.HIGH)
    gate = PriorityGate(account, queues, delay=timedelta(seconds=1), max_hold=timedelta(seconds=60))
    assert await gate.step_aside(json.dumps({"job": 1}))
    normal = await account.ensure_queue(queues.normal)
    await asyncio.sleep(1.5)
    held = [m async for m in normal.receive_messages(max_messages=1)]
    body = json.loads(base64.b64decode(held[0].content))
    assert body["job"] == 1 and HELD_SINCE in body
    # Held since long ago: it runs now, high work or not.
    long_ago = {**body, HELD_SINCE: (utcnow() - timedelta(minutes=5)).isoformat()}
    assert not await gate.step_aside(long_ago)
    assert not await gate.step_aside("not a JSON object: never held")


@pytest.mark.parametrize("gate_outside", [True, False])
async def test_stepping_aside_composes_with_idempotent_in_either_order(
    account, unique_name, gate_outside
):
    # "Resend and return" used to be recorded as done by @idempotent, so the re-sent copy
    # was dropped as a duplicate: all 7 normal jobs were lost. Now the run is postponed.
    queues = PriorityQueues(unique_name)
    gate = PriorityGate(account, queues, delay=timedelta(seconds=1))
    ledger = IdempotencyLedger(account, table=unique_name + "l")
    ran: list[int] = []

    async def body(msg: func.QueueMessage) -> None:
        ran.append(msg.get_json()["job"])

    if gate_outside:

        async def gated(msg: func.QueueMessage) -> None:
            if await gate.step_aside(msg.get_body()):
                return
            await guarded(msg)

        guarded = idempotent(ledger, key=json_field("job"))(body)
        handle = gated
    else:

        @idempotent(ledger, key=json_field("job"))
        async def handle(msg: func.QueueMessage) -> None:
            if await gate.step_aside(msg.get_body()):
                return
            await body(msg)

    await PrioritySender(account, queues).send("urgent", Priority.HIGH)
    msg = func.QueueMessage(id="n1", body=json.dumps({"job": 7}).encode())
    await handle(msg)  # steps aside: put back, not done
    assert (
        ran == []
        and await ledger.get("7", scope=handle.__name__ if not gate_outside else "body") is None
    )
    high = await account.ensure_queue(queues.high)
    async for m in high.receive_messages():
        await high.delete_message(m)  # the high work is done
    await asyncio.sleep(1.5)
    normal = await account.ensure_queue(queues.normal)
    (copy,) = [m async for m in normal.receive_messages(max_messages=1)]
    await handle(func.QueueMessage(id=copy.id, body=base64.b64decode(copy.content)))
    assert ran == [7]  # the re-sent copy ran: not dropped as a duplicate


async def test_a_delay_past_the_7_day_cap_is_refused_by_name(account, unique_name):
    sender = PrioritySender(account, PriorityQueues(unique_name))
    with pytest.raises(InvalidArgument, match="shared.delayed"):
        await sender.send({"job": 1}, delay=timedelta(days=8))
