"""Per-key ordering against real Azurite: the sequencer's verdicts, out-of-order queue
messages applied in order by concurrent consumers, and gap timeouts (raise and skip)."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from datetime import timedelta

import azure.functions as func
import pytest

from shared.errors import SequenceGapError, TurnLost
from shared.ordering import GapPolicy, Outcome, QueueOrdering, Sequencer, Verdict

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_sequencer_verdicts(account, unique_name):
    seq = Sequencer(account, table=unique_name, gap_timeout=timedelta(hours=1))
    early = await seq.begin("k", 2)
    assert early.verdict is Verdict.EARLY and early.gap.expected == 1
    assert early.gap.lowest_waiting == 2 and not early.gap_expired
    turn = await seq.begin("k", 1)
    assert turn.verdict is Verdict.APPLY
    assert (await seq.begin("k", 1)).verdict is Verdict.BUSY  # a duplicate while applying
    await seq.commit(turn)
    assert (await seq.begin("k", 1)).verdict is Verdict.STALE  # a replay after applying
    assert await seq.expected("k") == 2
    # A turn whose handler failed is given back and taken again
    turn2 = await seq.begin("k", 2)
    await seq.abort(turn2)
    turn2 = await seq.begin("k", 2)
    assert turn2.verdict is Verdict.APPLY
    await seq.commit(turn2)
    assert await seq.expected("k") == 3


async def test_an_expired_turn_is_taken_over_and_the_old_holder_cannot_commit(account, unique_name):
    seq = Sequencer(account, table=unique_name, turn_lease=timedelta(seconds=0.5))
    crashed = await seq.begin("k", 1)
    await asyncio.sleep(0.7)
    retry = await seq.begin("k", 1)
    assert retry.verdict is Verdict.APPLY
    with pytest.raises(TurnLost):
        await seq.commit(crashed)
    await seq.commit(retry)
    assert await seq.expected("k") == 2


async def test_only_one_of_many_racing_workers_gets_the_turn(account, unique_name):
    seq = Sequencer(account, table=unique_name)
    await seq.expected("k")
    turns = await asyncio.gather(*(seq.begin("k", 1) for _ in range(8)))
    assert [t.verdict for t in turns].count(Verdict.APPLY) == 1
    assert all(t.verdict in (Verdict.APPLY, Verdict.BUSY) for t in turns)


def encode(event: dict) -> str:
    return base64.b64encode(json.dumps(event).encode()).decode()


class Consumer:
    """A queue-trigger stand-in: receive, wrap as func.QueueMessage, handle, delete."""

    def __init__(self, ordering: QueueOrdering, account, queue: str, handler) -> None:
        self.ordering, self.client, self.handler = ordering, account.queue(queue), handler
        self.results: list = []
        self.gap_errors: list[SequenceGapError] = []

    async def run(self, stop, timeout: float = 25.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not stop() and loop.time() < deadline:
            got = False
            async for m in self.client.receive_messages(
                messages_per_page=4, max_messages=4, visibility_timeout=30
            ):
                got = True
                await self.deliver(m)
            if not got:
                await asyncio.sleep(0.1)

    async def deliver(self, m) -> None:
        body = base64.b64decode(m.content)
        event = json.loads(body)
        msg = func.QueueMessage(id=m.id, body=body)
        try:
            self.results.append(
                await self.ordering.handle(
                    msg,
                    key=event["key"],
                    sequence=event["seq"],
                    handler=lambda: self.handler(event),
                )
            )
        except SequenceGapError as exc:
            # On the real host the function fails: retried, then poison after 5 dequeues
            self.gap_errors.append(exc)
        await self.client.delete_message(m)


async def test_out_of_order_messages_are_applied_in_order(account, unique_name):
    queue = await account.ensure_queue(unique_name)
    ordering = QueueOrdering(
        Sequencer(account, table=unique_name), account, unique_name, hold_for=timedelta(seconds=1)
    )
    events = [{"key": "A", "seq": n} for n in (1, 2, 3, 4, 5)] + [
        {"key": "B", "seq": n} for n in (1, 2, 3)
    ]
    random.Random(7).shuffle(events)
    # make sure the first message seen is early
    events.sort(key=lambda e: e == {"key": "A", "seq": 1})
    for event in events:
        await queue.send_message(encode(event))
    applied: dict[str, list[int]] = {"A": [], "B": []}

    async def apply(event: dict) -> int:
        applied[event["key"]].append(event["seq"])
        await asyncio.sleep(0.02)
        return event["seq"]

    def done() -> bool:
        return len(applied["A"]) == 5 and len(applied["B"]) == 3

    # Two competing consumers, as two host instances would be
    c1, c2 = (Consumer(ordering, account, unique_name, apply) for _ in range(2))
    await asyncio.gather(c1.run(stop=done), c2.run(stop=done))
    assert applied == {"A": [1, 2, 3, 4, 5], "B": [1, 2, 3]}
    outcomes = [r.outcome for r in c1.results + c2.results]
    assert outcomes.count(Outcome.APPLIED) == 8 and Outcome.HELD_BACK in outcomes
    assert c1.gap_errors == c2.gap_errors == []


async def test_a_gap_that_outlives_the_timeout_is_reported(account, unique_name):
    queue = await account.ensure_queue(unique_name)
    sequencer = Sequencer(account, table=unique_name, gap_timeout=timedelta(seconds=2))
    ordering = QueueOrdering(sequencer, account, unique_name, hold_for=timedelta(seconds=1))
    for n in (1, 3):  # 2 never comes
        await queue.send_message(encode({"key": "K", "seq": n}))
    applied: list[int] = []

    async def apply(event: dict) -> None:
        applied.append(event["seq"])

    consumer = Consumer(ordering, account, unique_name, apply)
    await consumer.run(stop=lambda: bool(consumer.gap_errors), timeout=15)
    assert applied == [1]
    [gap] = consumer.gap_errors
    assert (gap.key, gap.expected, gap.received) == ("K", 2, 3)
    assert gap.waited >= timedelta(seconds=2)
    held = [r for r in consumer.results if r.outcome is Outcome.HELD_BACK]
    assert held and all(r.gap.expected == 2 for r in held)


async def test_a_gap_can_be_skipped_after_the_timeout(account, unique_name):
    queue = await account.ensure_queue(unique_name)
    sequencer = Sequencer(account, table=unique_name, gap_timeout=timedelta(seconds=1.5))
    ordering = QueueOrdering(
        sequencer, account, unique_name, hold_for=timedelta(seconds=1), gap_policy=GapPolicy.SKIP
    )
    for n in (4, 1, 3):  # 2 is lost
        await queue.send_message(encode({"key": "K", "seq": n}))
    applied: list[int] = []

    async def apply(event: dict) -> None:
        applied.append(event["seq"])

    consumer = Consumer(ordering, account, unique_name, apply)
    await consumer.run(stop=lambda: len(applied) == 3, timeout=15)
    assert applied == [1, 3, 4]
    [report] = [r.skipped_gap for r in consumer.results if r.skipped_gap is not None]
    assert (report.key, report.expected, report.lowest_waiting) == ("K", 2, 3)
    assert report.waited >= timedelta(seconds=1.5)
    # The lost message turning up late is dropped, not applied out of order
    late = await ordering.handle(
        b'{"key":"K","seq":2}', key="K", sequence=2, handler=lambda: apply({"seq": 2})
    )
    assert late.outcome is Outcome.STALE and applied == [1, 3, 4]


async def test_a_failing_handler_gives_the_turn_back(account, unique_name):
    ordering = QueueOrdering(Sequencer(account, table=unique_name), account, unique_name)
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("db down")
        return "ok"

    with pytest.raises(RuntimeError):
        await ordering.handle(b"{}", key="k", sequence=1, handler=flaky)
    result = await ordering.handle(b"{}", key="k", sequence=1, handler=flaky)
    assert result.outcome is Outcome.APPLIED and result.value == "ok"
