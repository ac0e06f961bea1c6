"""Sagas on Azurite: steps through a queue, each once; compensation in reverse, once."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from shared.coordination import Saga, Step, StepContext, StepFailed
from shared.idempotency import IdempotencyLedger
from shared.status import JobState, StatusStore
from shared.transport import StorageQueues

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


class Shop:
    """Effects kept in memory, to count them."""

    def __init__(self) -> None:
        self.effects: list[str] = []
        self.fail_at: str | None = None
        self.flaky: dict[str, int] = {}

    def step(self, name: str) -> Callable[[StepContext], object]:
        async def run(ctx: StepContext) -> dict[str, str]:
            if self.flaky.get(name):
                self.flaky[name] -= 1
                raise ConnectionError(f"{name}: transient")
            if name == self.fail_at:
                raise StepFailed(f"{name} refused")
            self.effects.append(name)
            return {"done": name, "input": ctx.input["order"]}

        return run

    def undo(self, name: str) -> Callable[[StepContext], object]:
        async def compensate(ctx: StepContext) -> str:
            assert ctx.outputs[name]["done"] == name  # its own output is there to undo
            self.effects.append(f"undo {name}")
            return f"undid {name}"

        return compensate


def _saga(account, name: str, shop: Shop) -> tuple[Saga, StatusStore]:
    status = StatusStore(account, table=name + "s")
    steps = [
        Step("reserve", shop.step("reserve"), compensate=shop.undo("reserve")),
        Step("charge", shop.step("charge"), compensate=shop.undo("charge")),
        Step("ship", shop.step("ship")),
        Step("notify", shop.step("notify")),
    ]
    saga = Saga(
        "order",
        steps,
        status=status,
        ledger=IdempotencyLedger(account, table=name + "l"),
        transport=StorageQueues(account),
        destination=name + "q",
    )
    return saga, status


async def _run(account, saga: Saga, queue: str, *, duplicate: bool = False) -> int:
    """Deliver the saga's messages one by one (each twice with `duplicate`), retrying a
    message that raises, the last delivery marked as such (maxDequeueCount 3)."""
    client = await account.ensure_queue(queue)
    delivered = 0
    while got := [m async for m in client.receive_messages(max_messages=1, visibility_timeout=1)]:
        body = json.loads(base64.b64decode(got[0].content))
        for _ in range(2 if duplicate else 1):
            try:
                await saga.handle(body, last_attempt=got[0].dequeue_count >= 3)
            except ConnectionError:
                break  # the message comes back after its visibility timeout
            delivered += 1
        else:
            await client.delete_message(got[0])
    return delivered


async def test_steps_run_forward_once_each(account, unique_name):
    shop = Shop()
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-1"})
    await saga.start(job)
    await _run(account, saga, unique_name + "q", duplicate=True)
    final = await status.get(job.job_id)
    assert final.state is JobState.SUCCEEDED
    assert shop.effects == ["reserve", "charge", "ship", "notify"]  # duplicates absorbed
    assert final.result["steps"] == ["reserve", "charge", "ship", "notify"]
    assert (final.done, final.total) == (4, 4)


async def test_a_failed_step_compensates_the_completed_ones_in_reverse(account, unique_name):
    shop = Shop()
    shop.fail_at = "ship"
    shop.flaky = {"charge": 1}  # a transient error first: retried, not compensated
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-2"})
    await saga.start(job)
    await _run(account, saga, unique_name + "q", duplicate=True)
    final = await status.get(job.job_id)
    assert final.state is JobState.COMPENSATED
    assert shop.effects == ["reserve", "charge", "undo charge", "undo reserve"]
    assert final.result["compensated"] == ["charge", "reserve"]
    assert final.result["undone"] == {"charge": "undid charge", "reserve": "undid reserve"}
    assert "ship refused" in final.result["reason"]


async def test_a_cancellation_between_steps_compensates(account, unique_name):
    shop = Shop()
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-3"})
    await saga.start(job)
    client = await account.ensure_queue(unique_name + "q")
    (first,) = [m async for m in client.receive_messages(max_messages=1)]
    await saga.handle(json.loads(base64.b64decode(first.content)))  # reserve done
    await client.delete_message(first)
    await status.request_cancel(job.job_id)  # DELETE /api/jobs/{id}
    await _run(account, saga, unique_name + "q")
    final = await status.get(job.job_id)
    assert final.state is JobState.COMPENSATED
    assert shop.effects == ["reserve", "undo reserve"]


async def test_a_cancellation_while_the_last_step_runs_compensates_every_step(
    account, unique_name
):
    """The API answered 202 while the last step ran: the job must not end Succeeded (the
    store's ETag retry merged the success over the request; seen in the app's tests)."""
    shop = Shop()
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-5"})
    notify = shop.step("notify")

    async def notify_then_cancelled(ctx: StepContext) -> object:
        result = await notify(ctx)
        await status.request_cancel(ctx.job.job_id)  # DELETE /api/jobs/{id} lands now
        return result

    saga.steps[-1] = Step("notify", notify_then_cancelled)
    await saga.start(job)
    await _run(account, saga, unique_name + "q")
    final = await status.get(job.job_id)
    assert final.state is JobState.COMPENSATED, final
    assert shop.effects == ["reserve", "charge", "ship", "notify", "undo charge", "undo reserve"]


async def test_a_job_cancelled_before_its_first_step_does_nothing(account, unique_name):
    shop = Shop()
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-4"})
    await saga.start(job)
    assert (await status.request_cancel(job.job_id)).state is JobState.CANCELLED
    await _run(account, saga, unique_name + "q")
    assert shop.effects == []


async def test_a_first_step_failing_for_good_fails_the_job(account, unique_name):
    shop = Shop()
    shop.fail_at = "reserve"
    saga, status = _saga(account, unique_name, shop)
    job = await status.create("order", input={"order": "o-5"})
    await saga.start(job)
    await _run(account, saga, unique_name + "q")
    final = await status.get(job.job_id)
    assert final.state is JobState.FAILED and "reserve refused" in (final.error or "")
    assert shop.effects == []
