"""Checkpoints against real Azurite: resume after a crash, conflicts, large states."""

from __future__ import annotations

import pytest

from shared.checkpoints import CheckpointStore, StepContext
from shared.errors import CheckpointConflict, InvalidArgument

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def store_for(account, name: str, **kw) -> CheckpointStore:
    return CheckpointStore(account, table=name, container=name + "-cp", **kw)


async def test_save_and_load_round_trip(account, unique_name):
    store = store_for(account, unique_name)
    assert await store.load("job-1") is None
    first = await store.save("job-1", "extract", cursor="page-3", state={"rows": 30}, previous=None)
    loaded = await store.load("job-1")
    assert loaded == first
    assert (loaded.step, loaded.cursor, loaded.state, loaded.version) == (
        "extract",
        "page-3",
        {"rows": 30},
        1,
    )
    second = await store.save("job-1", "load", state={"rows": 31}, previous=loaded)
    assert second.version == 2 and (await store.load("job-1")).step == "load"


async def test_concurrent_saves_from_the_same_version_conflict(account, unique_name):
    store = store_for(account, unique_name)
    await store.save("job", "a", state=1, previous=None)
    run_1 = await store.load("job")
    run_2 = await store.load("job")
    await store.save("job", "b", state=2, previous=run_1)
    with pytest.raises(CheckpointConflict) as info:
        await store.save("job", "b", state=99, previous=run_2)
    assert info.value.job_id == "job"
    # The first writer's checkpoint survived untouched
    assert (await store.load("job")).state == 2


async def test_creating_a_second_first_checkpoint_conflicts(account, unique_name):
    store = store_for(account, unique_name)
    await store.save("job", "a", previous=None)
    with pytest.raises(CheckpointConflict, match="already exists"):
        await store.save("job", "a", previous=None)


async def test_clearing_a_stale_checkpoint_conflicts(account, unique_name):
    store = store_for(account, unique_name)
    old = await store.save("job", "a", previous=None)
    await store.save("job", "b", previous=old)
    with pytest.raises(CheckpointConflict):
        await store.clear(old)


async def test_large_state_goes_to_a_blob_and_old_blobs_are_removed(account, unique_name):
    store = store_for(account, unique_name, inline_limit=100)
    big = {"items": list(range(500))}
    first = await store.save("job/1", "a", state=big, previous=None)
    assert first.state_blob is not None
    second = await store.save("job/1", "b", state={**big, "more": True}, previous=first)
    assert (await store.load("job/1")).state == {**big, "more": True}
    names = [b.name async for b in account.container(unique_name + "-cp").list_blobs()]
    assert names == [second.state_blob]
    # A losing writer removes the blob it wrote and leaves the winner's in place
    with pytest.raises(CheckpointConflict):
        await store.save("job/1", "c", state={**big, "lost": True}, previous=first)
    names = [b.name async for b in account.container(unique_name + "-cp").list_blobs()]
    assert names == [second.state_blob]
    await store.clear(second)
    assert [b async for b in account.container(unique_name + "-cp").list_blobs()] == []
    assert await store.load("job/1") is None


async def test_run_resumes_after_a_crash_from_the_last_checkpoint(account, unique_name):
    store = store_for(account, unique_name)
    calls: list[str] = []
    crash = {"on": True}

    async def download(ctx: StepContext) -> dict:
        calls.append("download")
        return {"files": 3}

    async def resize(ctx: StepContext) -> dict:
        calls.append(f"resize from {ctx.cursor}")
        start = int(ctx.cursor or 0)
        for i in range(start, 3):
            if i == 2 and crash["on"]:
                raise RuntimeError("worker died")
            await ctx.save(cursor=str(i + 1), state={**ctx.state, "resized": i + 1})
        return {**ctx.state, "resized": 3}

    async def publish(ctx: StepContext) -> dict:
        calls.append("publish")
        return {**ctx.state, "published": True}

    steps = [("download", download), ("resize", resize), ("publish", publish)]
    # First run: dies in the middle of "resize", after two items
    run_1 = await store.resume("thumbs-7")
    assert not run_1.resumed
    with pytest.raises(RuntimeError):
        await run_1.run_steps(steps)
    # Second run (another worker after the redelivery) picks up where it stopped
    crash["on"] = False
    run_2 = await store.resume("thumbs-7")
    assert run_2.resumed and run_2.checkpoint.cursor == "2"
    final = await run_2.run_steps(steps)
    assert final == {"files": 3, "resized": 3, "published": True}
    assert calls == ["download", "resize from None", "resize from 2", "publish"]
    # Running again after completion redoes nothing
    assert await (await store.resume("thumbs-7")).run_steps(steps) == final
    assert len(calls) == 4
    await run_2.finish()
    assert await store.load("thumbs-7") is None


async def test_checkpoint_naming_an_unknown_step_is_rejected(account, unique_name):
    store = store_for(account, unique_name)
    await store.save("job", "renamed-step", previous=None)
    progress = await store.resume("job")

    async def step(ctx: StepContext) -> None:
        return None

    with pytest.raises(InvalidArgument, match="renamed-step"):
        await progress.run_steps([("a", step)])
