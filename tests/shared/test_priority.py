"""Priority queues against real Azurite: names, sending, high-first receiving, the gate."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from shared.errors import InvalidArgument, SettingError
from shared.priority import Priority, PriorityGate, PriorityQueues, PrioritySender

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


async def test_gate_tells_normal_work_to_step_aside_while_high_work_waits(account,
                                                                          unique_name):
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
