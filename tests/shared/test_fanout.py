"""Fan-out/fan-in on Azurite: parts in parallel, progress, and exactly one reduce."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from shared.coordination import FanOut, Part
from shared.idempotency import IdempotencyLedger
from shared.status import JobState, StatusStore
from shared.transport import StorageQueues

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

PARTS = 24


def _fanout(account, name: str) -> tuple[FanOut, StatusStore]:
    status = StatusStore(account, table=name + "s")
    ledger = IdempotencyLedger(account, table=name + "l")
    return FanOut(
        account, StorageQueues(account), ledger=ledger, status=status, table=name + "f"
    ), status


async def _drain(account, queue: str, handle, *, workers: int) -> int:
    """Competing consumers: `workers` tasks take part messages until the queue is empty."""
    client = await account.ensure_queue(queue)
    handled = 0

    async def worker() -> None:
        nonlocal handled
        while True:
            got = [m async for m in client.receive_messages(max_messages=1, visibility_timeout=60)]
            if not got:
                return
            await handle(Part.from_message(json.loads(base64.b64decode(got[0].content))))
            await client.delete_message(got[0])
            handled += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return handled


async def test_parts_in_parallel_reduce_once_and_progress(account, unique_name):
    fanout, status = _fanout(account, unique_name)
    job = await status.start(await status.create("batch", input={"rows": 240}))
    reduced: list[list[int]] = []

    async def summarize(results: list[int]) -> dict[str, int]:
        reduced.append(results)
        final = await status.get(job.job_id)
        await status.succeed(final, result={"total": sum(results)})
        return {"total": sum(results)}

    async def handle(part: Part) -> None:
        await asyncio.sleep(0.01)
        fan_in = await fanout.finish_part(part, part.input * 10)
        if fan_in.complete:
            await fanout.reduce(part.job_id, summarize)

    assert await fanout.start(job.job_id, list(range(PARTS)), unique_name + "q") == PARTS
    assert await _drain(account, unique_name + "q", handle, workers=8) == PARTS
    assert len(reduced) == 1 and reduced[0] == [i * 10 for i in range(PARTS)]
    final = await status.get(job.job_id)
    assert final.state is JobState.SUCCEEDED and final.result == {"total": 2760}
    assert (final.done, final.total) == (PARTS, PARTS)
    assert await fanout.progress(job.job_id) == (PARTS, PARTS)
    # A part delivered again after the job is final changes nothing and reduces nothing.
    again = await fanout.finish_part(Part(job.job_id, 3, PARTS, 3), 999)
    assert again.duplicate and again.complete
    assert await fanout.reduce(job.job_id, summarize) == {"total": 2760}
    assert len(reduced) == 1 and (await fanout.results(job.job_id))[3] == 30


async def test_two_last_parts_finishing_together_reduce_once(account, unique_name):
    fanout, status = _fanout(account, unique_name)
    job = await status.start(await status.create("batch"))
    await fanout.start(job.job_id, ["a", "b"], unique_name + "q")
    calls = 0

    async def slow_reduce(results: list[str]) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)
        return "".join(results)

    async def finish(i: int, value: str) -> object:
        fan_in = await fanout.finish_part(Part(job.job_id, i, 2, value), value)
        # Both may see the job complete: the reduce still runs once.
        return await fanout.reduce(job.job_id, slow_reduce) if fan_in.complete else None

    outcomes = await asyncio.gather(finish(0, "a"), finish(1, "b"))
    assert calls == 1 and "ab" in outcomes


async def test_starting_again_keeps_finished_parts_and_resends_the_rest(account, unique_name):
    fanout, status = _fanout(account, unique_name)
    job = await status.create("batch")
    await fanout.start(job.job_id, [1, 2, 3], unique_name + "q")
    await fanout.finish_part(Part(job.job_id, 1, 3, 2), "two")
    queue = await account.ensure_queue(unique_name + "q")
    [await queue.delete_message(m) async for m in queue.receive_messages(max_messages=10)]
    # A redelivered "start" (its function crashed after sending): parts 0 and 2 again.
    assert await fanout.start(job.job_id, [1, 2, 3], unique_name + "q") == 3
    sent = sorted(
        [
            json.loads(base64.b64decode(m.content))["part"]
            async for m in queue.receive_messages(max_messages=10)
        ]
    )
    assert sent == [0, 2]
    assert await fanout.progress(job.job_id) == (1, 3)
