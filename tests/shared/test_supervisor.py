"""The supervisor on Azurite: stuck jobs are retried, then given up; moving ones are left."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.coordination import Supervisor
from shared.status import JobState, StatusStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_stuck_jobs_are_retried_then_given_up_or_failed(account, unique_name):
    status = StatusStore(account, table=unique_name)
    stuck_order = await status.start(await status.create("order"))
    stuck_batch = await status.start(await status.create("batch"))
    stuck_other = await status.create("report")  # Pending, no handlers at all
    await asyncio.sleep(1.2)
    moving = await status.start(await status.create("order"))  # changed just now
    retried: list[str] = []
    given_up: list[str] = []

    async def retry(job_id: str) -> None:
        retried.append(job_id)

    async def give_up(job_id: str) -> None:
        given_up.append(job_id)
        job = await status.get(job_id)
        await status.compensate(job, result={"compensated": []})

    supervisor = Supervisor(
        status,
        stuck_after=timedelta(seconds=1),
        retry={"order": retry, "batch": retry},
        give_up={"order": give_up},
        max_retries=1,
    )
    first = await supervisor.sweep()
    assert sorted(first.retried) == sorted([stuck_order.job_id, stuck_batch.job_id])
    assert first.failed == [stuck_other.job_id] and moving.job_id not in first.retried
    assert (await status.get(stuck_other.job_id)).state is JobState.FAILED
    # Still stuck after its one retry: the order is given up, the batch (no give_up) fails.
    await asyncio.sleep(1.2)
    second = await supervisor.sweep()
    assert second.given_up == [stuck_order.job_id]
    assert stuck_batch.job_id in second.failed
    assert (await status.get(stuck_order.job_id)).state is JobState.COMPENSATED
    batch = await status.get(stuck_batch.job_id)
    assert batch.state is JobState.FAILED and "retried 1 time" in (batch.error or "")
    assert retried.count(stuck_order.job_id) == 1


async def test_two_sweeps_at_once_act_on_a_job_once(account, unique_name):
    status = StatusStore(account, table=unique_name)
    job = await status.start(await status.create("order"))
    await asyncio.sleep(1.2)
    retried: list[str] = []

    async def retry(job_id: str) -> None:
        retried.append(job_id)

    supervisors = [
        Supervisor(status, stuck_after=timedelta(seconds=1), retry={"order": retry})
        for _ in range(2)
    ]
    reports = await asyncio.gather(*(s.sweep() for s in supervisors))
    assert retried == [job.job_id]
    assert sorted(len(r.retried) + len(r.skipped) for r in reports) == [1, 1]


async def test_a_delayed_job_is_waiting_not_stuck_until_past_its_run_at(account, unique_name):
    from shared._tables import utcnow

    status = StatusStore(account, table=unique_name)
    later = await status.create("report", run_at=utcnow() + timedelta(hours=1))
    due = await status.create("report", run_at=utcnow() - timedelta(hours=1))
    assert (await status.get(later.job_id)).to_dict()["runAt"].endswith("Z")
    await asyncio.sleep(1.2)
    supervisor = Supervisor(status, stuck_after=timedelta(seconds=1))
    assert [j.job_id for j in await supervisor.stuck()] == [due.job_id]
