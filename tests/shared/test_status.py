"""Status records against real Azurite: transitions, ETag safety, cancellation, listing."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from shared.errors import InvalidTransition, JobCancelled, JobNotFound, StatusConflict
from shared.status import TRANSITIONS, JobState, StatusStore, check_transition

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FINAL = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]


@pytest.mark.parametrize("from_state,to_state", list(itertools.product(JobState, JobState)))
def test_transition_table(from_state, to_state):
    allowed = to_state in TRANSITIONS[from_state]
    if from_state in FINAL or (from_state, to_state) in {
        (JobState.PENDING, JobState.SUCCEEDED),
        (JobState.PENDING, JobState.PENDING),
    }:
        assert not allowed
    if allowed:
        check_transition("j", from_state, to_state)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition("j", from_state, to_state)
        assert (info.value.from_state, info.value.to_state) == (from_state, to_state)
        assert from_state.value in str(info.value) and to_state.value in str(info.value)


async def test_lifecycle_to_success(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.create(
        "thumbnail",
        input={"blob": "images/a.png"},
        total=5,
        correlation_id="req-1",
        callback_url="http://x/cb",
    )
    assert job.state is JobState.PENDING and job.attempt == 0
    job = await store.start(job)
    assert job.state is JobState.RUNNING and job.attempt == 1
    job = await store.report_progress(job, 2, message="resizing")
    assert (job.done, job.total, job.progress) == (2, 5, 40)
    job = await store.succeed(job, result={"width": 256}, result_location="https://blob/x.png")
    stored = await store.get(job.job_id)
    assert stored == job
    assert stored.input == {"blob": "images/a.png"}  # kept, to run it again
    body = stored.to_dict()
    assert body["status"] == "Succeeded" and body["progress"] == {"done": 5, "total": 5}
    assert body["result"] == {"width": 256} and body["resultLocation"] == "https://blob/x.png"
    assert body["correlationId"] == "req-1" and body["id"] == job.job_id
    assert body["created"].endswith("Z") and body["attempt"] == 1 and "error" not in body
    assert stored.callback_url == "http://x/cb"


async def test_a_failed_job_is_retried_under_its_id_and_compensation_is_final(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.fail(await store.start(await store.create("k", input=[1])), "boom")
    with pytest.raises(InvalidTransition):
        await store.retry((await store.create("k")).job_id)  # only a Failed job
    again = await store.retry(job.job_id)
    assert again.state is JobState.PENDING and again.error is None and again.input == [1]
    second = await store.start(again)
    assert second.attempt == 2  # a new attempt on the same job
    done = await store.compensate(second, result={"compensated": ["reserve"]})
    assert done.state is JobState.COMPENSATED and done.state.is_final
    assert done.to_dict()["result"] == {"compensated": ["reserve"]}
    with pytest.raises(InvalidTransition):
        await store.start(done)


async def test_no_way_back_from_a_final_state(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.fail(await store.start(await store.create("k")), "disk full")
    for attempt in (
        store.start(job),
        store.report_progress(job, 5),
        store.succeed(job),
        store.cancel(job),
    ):
        with pytest.raises(InvalidTransition) as info:
            await attempt
        assert info.value.from_state is JobState.FAILED
        assert "final" in str(info.value)
    assert (await store.get(job.job_id)).error == "disk full"


async def test_pending_cannot_jump_to_succeeded(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.create("k")
    with pytest.raises(InvalidTransition, match="Pending to Succeeded"):
        await store.succeed(job)


async def test_stale_writer_conflicts_instead_of_overwriting(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.start(await store.create("k"))
    copy = await store.get(job.job_id)
    await store.report_progress(job, 30, 100)
    with pytest.raises(StatusConflict):
        await store.transition(copy, JobState.RUNNING, progress=(10, 100), merge=False)
    assert (await store.get(job.job_id)).done == 30


async def test_writer_from_an_older_attempt_conflicts(account, unique_name):
    store = StatusStore(account, table=unique_name)
    first = await store.start(await store.create("k"))
    # attempt 1 hands the job back, attempt 2 starts (another worker)
    handed_back = await store.transition(first, JobState.PENDING, message="retry later")
    second = await store.start(handed_back)
    assert second.attempt == 2
    with pytest.raises(StatusConflict, match="attempt 2"):
        await store.succeed(first)
    # ... while the same attempt's stale copy is merged
    assert (await store.report_progress(second, 10, 100)).progress == 10
    assert (await store.report_progress(second, 20)).progress == 20
    # Progress never goes back: a late, older count does not undo a newer one.
    assert (await store.report_progress(second, 15)).done == 20


async def test_cancellation_of_a_running_job(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.start(await store.create("k"))
    await store.raise_if_cancel_requested(job.job_id)  # nothing asked yet
    asked = await store.request_cancel(job.job_id)
    assert asked.state is JobState.RUNNING and asked.cancel_requested
    # The job's next progress update (from its now stale copy) merges and reports it
    job = await store.report_progress(job, 6, 10)
    assert job.cancel_requested and job.progress == 60
    with pytest.raises(JobCancelled):
        await store.raise_if_cancel_requested(job.job_id)
    job = await store.cancel(job)
    assert job.state is JobState.CANCELLED
    # Asking again changes nothing
    assert (await store.request_cancel(job.job_id)).state is JobState.CANCELLED


async def test_succeed_unless_cancelled_never_merges_over_a_cancel_request(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.start(await store.create("k"))
    done = await store.succeed(job, result={"n": 1}, progress=(1, 1), unless_cancelled=True)
    assert done.state is JobState.SUCCEEDED and done.result == {"n": 1} and done.done == 1

    # The request lands after the job read its record, before it writes: `succeed` would
    # merge over it (the record's ETag retry); this raises and changes nothing.
    job = await store.start(await store.create("k"))
    await store.request_cancel(job.job_id)
    with pytest.raises(JobCancelled):
        await store.succeed(job, result={"n": 2}, unless_cancelled=True)
    stored = await store.get(job.job_id)
    assert stored.state is JobState.RUNNING and stored.cancel_requested and stored.result is None
    with pytest.raises(JobCancelled):  # and when the job read it already
        await store.succeed(stored, unless_cancelled=True)

    # A write from another attempt is a conflict, not a retry over it.
    first = await store.start(await store.create("k"))
    second = await store.start(await store.transition(first, JobState.PENDING))
    with pytest.raises(StatusConflict, match="attempt"):
        await store.succeed(first, unless_cancelled=True)
    assert (await store.get(second.job_id)).state is JobState.RUNNING


async def test_cancelling_a_pending_job_cancels_it_before_it_starts(account, unique_name):
    store = StatusStore(account, table=unique_name)
    job = await store.create("k")
    assert (await store.request_cancel(job.job_id)).state is JobState.CANCELLED
    with pytest.raises(InvalidTransition):
        await store.start(job)


async def test_missing_and_duplicate_ids(account, unique_name):
    store = StatusStore(account, table=unique_name)
    with pytest.raises(JobNotFound):
        await store.get("nope")
    assert await store.find("nope") is None
    await store.create("k", job_id="fixed/id#1")
    with pytest.raises(StatusConflict, match="already exists"):
        await store.create("k", job_id="fixed/id#1")
    assert (await store.get("fixed/id#1")).job_id == "fixed/id#1"


async def test_listing_by_state_kind_and_age(account, unique_name):
    now = [datetime(2030, 1, 1, tzinfo=timezone.utc)]
    store = StatusStore(account, table=unique_name, clock=lambda: now[0])
    old = await store.create("report", job_id="old")
    now[0] += timedelta(hours=2)
    await store.start(old)
    await store.create("report", job_id="new")
    now[0] += timedelta(minutes=1)
    await store.create("email", job_id="mail")
    assert [s.job_id for s in await store.list(state=JobState.PENDING)] == ["new", "mail"]
    assert [s.job_id for s in await store.list(kind="report")] == ["old", "new"]
    cutoff = datetime(2030, 1, 1, 1, tzinfo=timezone.utc)
    assert [s.job_id for s in await store.list(created_before=cutoff)] == ["old"]
    assert [s.job_id for s in await store.list(state=JobState.RUNNING, created_before=cutoff)] == [
        "old"
    ]
    assert [s.job_id for s in await store.list(created_after=cutoff, kind="email")] == ["mail"]
    # Stuck-job sweep: Running and not updated for an hour
    now[0] += timedelta(hours=1, minutes=1)
    stale = await store.list(state=JobState.RUNNING, updated_before=now[0] - timedelta(hours=1))
    assert [s.job_id for s in stale] == ["old"]
    await store.fail(stale[0], "stuck")
    now[0] += timedelta(days=8)
    assert await store.purge(timedelta(days=7)) == 1  # only the final one goes
    assert await store.find("old") is None


async def test_synchronous_callers_use_the_background_loop(account, unique_name):
    from shared import sync

    store = StatusStore(account, table=unique_name)

    def sync_function() -> JobState:  # what a def (not async def) Function does
        job = sync.run(store.create("k"))
        job = sync.run(store.start(job))
        return sync.run(store.get(job.job_id)).state

    assert await asyncio.to_thread(sync_function) is JobState.RUNNING
    # Inside a running loop it refuses (it would block the loop) instead of deadlocking
    with pytest.raises(RuntimeError, match="await the coroutine"):
        sync.run(store.get("x"))
    await asyncio.to_thread(sync.run, account.close())


async def test_on_final_announces_each_final_state_once_and_its_errors_do_not_undo_it(
    account, unique_name, caplog
):
    announced: list[tuple[str, JobState]] = []

    async def on_final(status):
        announced.append((status.job_id, status.state))
        if status.state is JobState.FAILED:
            raise RuntimeError("callback endpoint down")

    store = StatusStore(account, table=unique_name, on_final=on_final)
    ok = await store.start(await store.create("k"))
    ok = await store.report_progress(ok, 1)
    assert announced == []  # progress is not an outcome
    ok = await store.succeed(ok, result=1)
    bad = await store.start(await store.create("k"))
    bad = await store.fail(bad, "boom")
    gone = await store.request_cancel((await store.create("k")).job_id)
    assert announced == [
        (ok.job_id, JobState.SUCCEEDED),
        (bad.job_id, JobState.FAILED),
        (gone.job_id, JobState.CANCELLED),
    ]
    assert (await store.get(bad.job_id)).state is JobState.FAILED
    assert "announcing its Failed state failed" in caplog.text
