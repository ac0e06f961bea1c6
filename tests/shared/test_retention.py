"""Retention against real Azurite: each store purged by its rule, Failed jobs' checkpoints
kept until their status retention ends, bounded batches that the next run continues, rows
changed meanwhile kept, concurrent runs, orphaned state blobs.

Time moves by an injected clock shared by the stores (rows carry the times it gives); the
sequencer's rows are judged by the service's own Timestamp, so its clock moves the cutoff.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from shared import sync
from shared.checkpoints import CheckpointStore
from shared.idempotency import IdempotencyLedger
from shared.ordering import Sequencer, Verdict
from shared.retention import Retention, RetentionPolicy, _bounded
from shared.status import JobState, StatusStore
from shared.storage import StorageAccount

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def stores(account: StorageAccount, name: str, clock: Clock, **kw):
    return {
        "ledger": IdempotencyLedger(account, table=f"{name}L", clock=clock),
        "statuses": StatusStore(account, table=f"{name}S", clock=clock),
        "checkpoints": CheckpointStore(
            account, table=f"{name}C", container=f"{name}-cp", clock=clock, **kw
        ),
        "sequencer": Sequencer(account, table=f"{name}Q", clock=clock),
    }


async def job(statuses: StatusStore, state: JobState, job_id: str) -> str:
    status = await statuses.create("order", job_id=job_id)
    if state is JobState.PENDING:
        return job_id
    status = await statuses.start(status)
    if state is JobState.SUCCEEDED:
        await statuses.succeed(status)
    elif state is JobState.FAILED:
        await statuses.fail(status, "boom")
    return job_id


async def checkpoint_ids(store: CheckpointStore) -> set[str]:
    table = store.account.table(store.table_name)
    rows = table.query_entities("UpdatedAt ge @t", parameters={"t": datetime(2000, 1, 1)})
    return {row["JobId"] async for row in rows}


async def test_each_store_is_purged_by_its_rule(account, unique_name):
    clock = Clock()
    s = stores(account, unique_name, clock)
    ledger, statuses, checkpoints, sequencer = s.values()
    done = await ledger.claim("done")
    await ledger.complete(done, {"ok": 1})
    for state, name in [
        (JobState.SUCCEEDED, "ok"),
        (JobState.FAILED, "failed"),
        (JobState.RUNNING, "running"),
    ]:
        await job(statuses, state, name)
        await checkpoints.save(name, "step-1", state={"n": 1}, previous=None)
    await checkpoints.save("no-status", "step-1", previous=None)
    turn = await sequencer.begin("order-1", 1)
    await sequencer.commit(turn)
    retention = Retention(**s, clock=clock)

    clock.advance(8 * DAY)  # past the checkpoint and idempotency retention, not the status
    fresh = await ledger.claim("fresh")
    report = await retention.run()
    assert report.errors == {}
    assert report.deleted == {
        "checkpoints": 2,  # "ok" (Succeeded) and "no-status"; Running and Failed kept
        "checkpoint_blobs": 0,
        "status": 0,
        "idempotency": 1,
        "sequences": 0,
    }
    assert await checkpoint_ids(checkpoints) == {"failed", "running"}
    assert await ledger.get("done") is None and fresh.should_run

    clock.advance(23 * DAY)  # 31 days: the Failed job's retention is over
    live = await sequencer.begin("order-2", 1)  # a turn held now is kept
    assert live.verdict is Verdict.APPLY
    report = await retention.run()
    assert report.deleted["checkpoints"] == 1 and report.deleted["status"] == 2
    assert report.deleted["sequences"] == 1
    assert await checkpoint_ids(checkpoints) == {"running"}
    assert {j.job_id for j in await statuses.list(limit=None)} == {"running"}
    assert await sequencer.expected("order-1") == 1  # forgotten: starts again
    await sequencer.commit(live)  # the held turn's row survived
    assert await sequencer.expected("order-2") == 2


async def test_batches_are_bounded_and_the_next_run_goes_on_past_kept_rows(account, unique_name):
    clock = Clock()
    s = stores(account, unique_name, clock)
    statuses, checkpoints = s["statuses"], s["checkpoints"]
    for i in range(4):  # sort first, and are kept (still running)
        await job(statuses, JobState.RUNNING, f"a{i}")
        await checkpoints.save(f"a{i}", "s", previous=None)
    for i in range(5):
        await checkpoints.save(f"b{i}", "s", previous=None)
    clock.advance(8 * DAY)
    retention = Retention(
        statuses=statuses, checkpoints=checkpoints, policy=RetentionPolicy(batch=2), clock=clock
    )
    per_run = [(await retention.run()).deleted["checkpoints"] for _ in range(6)]
    assert per_run == [0, 0, 2, 2, 1, 0]  # the last full batch left a cursor; then over
    assert await checkpoint_ids(checkpoints) == {f"a{i}" for i in range(4)}


async def test_a_checkpoint_saved_meanwhile_is_kept(account, unique_name):
    clock = Clock()
    store = stores(account, unique_name, clock)["checkpoints"]
    old = await store.save("job", "s", state={"v": 1}, previous=None)
    clock.advance(8 * DAY)

    async def keep(job_id: str) -> bool:
        await store.save(job_id, "s", state={"v": 2}, previous=old)  # a run resumes now
        return False

    assert await store.purge(7 * DAY, keep=keep) == 0
    assert (await store.load("job")).state == {"v": 2}


async def test_large_states_and_orphaned_blobs_go(account, unique_name):
    clock = Clock()
    store = stores(account, unique_name, clock, inline_limit=10)["checkpoints"]
    kept = await store.save("kept", "s", state={"big": "x" * 50}, previous=None)
    gone = await store.save("gone", "s", state={"big": "y" * 50}, previous=None)
    container = account.container(store.container_name)
    orphan = f"default/kept/0000000000-{unique_name[:12]}.json"  # a writer died before its row
    await container.upload_blob(orphan, b"{}")
    await container.upload_blob("not-ours.txt", b"x")
    clock.advance(8 * DAY)
    assert await store.purge(7 * DAY, keep=lambda job_id: _true_for(job_id, "kept")) == 1
    assert await store.purge_blobs(7 * DAY) == 1  # the orphan; "gone"'s went with its row
    names = {b.name async for b in container.list_blobs()}
    assert names == {kept.state_blob, "not-ours.txt"} and gone.state_blob not in names
    assert (await store.load("kept")).state == {"big": "x" * 50}


async def _true_for(job_id: str, name: str) -> bool:
    return job_id == name


async def test_runs_on_several_instances_at_once(account, unique_name):
    clock = Clock()
    s = stores(account, unique_name, clock)
    for i in range(6):
        await job(s["statuses"], JobState.SUCCEEDED, f"j{i}")
        await s["checkpoints"].save(f"j{i}", "s", previous=None)
        await s["ledger"].complete(await s["ledger"].claim(f"k{i}"))
    clock.advance(31 * DAY)
    instances = [Retention(**s, clock=clock) for _ in range(3)]
    reports = await asyncio.gather(*(r.run() for r in instances))
    assert all(r.errors == {} for r in reports)
    assert await checkpoint_ids(s["checkpoints"]) == set()
    assert await s["statuses"].list(limit=None) == []
    assert [await s["ledger"].get(f"k{i}") for i in range(6)] == [None] * 6


def test_the_sync_path(storage_connection_string, unique_name):
    account = StorageAccount.from_connection_string(storage_connection_string)
    clock = Clock()
    s = stores(account, unique_name, clock)
    try:
        sync.run(s["checkpoints"].save("j", "s", previous=None))
        clock.advance(8 * DAY)
        report = sync.run(Retention(checkpoints=s["checkpoints"], clock=clock).run())
        assert report.deleted == {"checkpoints": 1, "checkpoint_blobs": 0}
        assert report.total == 1
    finally:
        sync.run(account.close())


async def test_a_store_purge_gets_a_limit_only_when_it_takes_one():
    calls = []

    async def with_limit(older_than: timedelta, *, limit: int | None = None) -> int:
        calls.append(("with", limit))
        return 1

    async def without(older_than: timedelta) -> int:
        calls.append(("without", None))
        return 2

    assert await _bounded(with_limit, DAY, 10)() == 1
    assert await _bounded(without, DAY, 10)() == 2
    assert calls == [("with", 10), ("without", None)]


async def test_status_and_ledger_purges_are_bounded_and_take_a_keys_effects(
    account, unique_name
):
    clock = Clock()
    s = stores(account, unique_name, clock)
    statuses, ledger = s["statuses"], s["ledger"]
    for i in range(5):
        await job(statuses, JobState.SUCCEEDED, f"done{i}")
        claim = await ledger.claim(f"key{i}")
        await ledger.complete(claim, effects=[{"RowKey": "effect", "Amount": i}])
    clock.advance(31 * DAY)
    assert await statuses.purge(30 * DAY, limit=2) == 2
    assert len(await statuses.list(limit=None)) == 3
    assert await ledger.purge(7 * DAY, limit=3) == 3
    assert await ledger.purge(7 * DAY) == 2
    for i in range(5):  # each key's effects went with it
        assert await ledger.effects_of(f"key{i}") == []

