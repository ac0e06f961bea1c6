"""The schedule-driven jobs, fired as their timers fire them: the daily report (and the
`report` kind for any day), the consistency check, the nightly retention. Their inputs are
status records and ledger rows made with the library's stores, dated with the stores'
injectable `clock`, so each test knows exactly what a report must say about its jobs
whatever else the module (or the host's own timers) created meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from tests.app.conftest import JobsApp

pytestmark = pytest.mark.integration

UTC = timezone.utc


@dataclass(frozen=True)
class Made:
    """A job recorded by `make`: its id, kind, final state and when it was created."""

    job_id: str
    kind: str
    state: str
    created: datetime
    seconds: float


@pytest.fixture(scope="module")
def app_overrides() -> dict[str, str]:
    """The module's `app` (tests/app/conftest.py) runs without the supervisor: its sweep
    (every 5 minutes of the wall clock) would retry or fail the stuck jobs these tests make
    on purpose while a test looks at them."""
    return {"AzureWebJobs.supervise_jobs.Disabled": "true"}


class Maker:
    """Makes status records as the store would have recorded them at a given time, and
    deletes them after the test: left behind, the stuck ones would be retried or failed by
    the supervisors of the modules after this one (the worker's Azurite outlives it)."""

    def __init__(self, app: JobsApp) -> None:
        self.app = app
        self.made: list[str] = []

    def __call__(
        self,
        kind: str,
        state: str,
        created: datetime,
        seconds: float = 0.0,
        error: str = "it broke",
    ) -> Made:
        """A job of `kind` created at `created` and moved to `state` `seconds` later
        (Pending: never started)."""
        from functions.services import services
        from shared.status import StatusStore

        async def record() -> str:
            at = [created]
            store = StatusStore(services().account, clock=lambda: at[0])
            job = await store.create(kind, input={"made": "by test_reports"})
            self.made.append(job.job_id)
            at[0] = created + timedelta(seconds=seconds)
            if state == "Pending":
                return job.job_id
            job = await store.start(job)
            if state == "Succeeded":
                await store.succeed(job, result={"ok": True})
            elif state == "Failed":
                await store.fail(job, error)
            elif state == "Cancelled":
                await store.cancel(job)
            return job.job_id

        return Made(self.app.run(record), kind, state, created, seconds)

    def forget(self) -> None:
        from functions.services import services

        async def delete() -> None:
            store = services().status
            table = await store.account.ensure_table(store.table_name)
            for job_id in self.made:
                await table.delete_entity(job_id, "status")  # none there (purged): no error
                assert await store.find(job_id) is None, f"job {job_id} was not deleted"

        self.app.run(delete)


@pytest.fixture
def make(app: JobsApp) -> Iterator[Maker]:
    maker = Maker(app)
    yield maker
    maker.forget()


def read_blob(app: JobsApp, container: str, name: str) -> Any:
    from functions.services import services

    async def download() -> bytes:
        blob = services().account.container(container).get_blob_client(name)
        return bytes(await (await blob.download_blob()).readall())

    return json.loads(app.run(download))


def some_day(unique: str) -> date:
    """A day of the 1990s no other test uses (its jobs are the test's alone)."""
    return date(1990, 1, 1) + timedelta(days=int(unique, 16) % 3650)


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second, micro), UTC)


# --- the daily report ------------------------------------------------------------------------


def test_the_report_of_a_day_counts_its_jobs_by_kind_and_state(
    app: JobsApp, make: Maker, unique: str
) -> None:
    day = some_day(unique)
    made = [
        make("batch", "Succeeded", at(day), seconds=10),  # the day's first instant
        make("batch", "Succeeded", at(day, 9), seconds=30),
        make("batch", "Failed", at(day, 10), error=f"boom {unique}"),
        make("thumbnail", "Succeeded", at(day, 12), seconds=20),
        make("thumbnail", "Cancelled", at(day, 13)),
        make("order", "Pending", at(day, 14)),
        make("order", "Succeeded", at(day, 23, 59, 59, 999_999), seconds=40),  # its last
    ]
    make("batch", "Succeeded", at(day - timedelta(days=1), 23, 59, 59, 999_999))
    make("batch", "Succeeded", at(day + timedelta(days=1)))  # the next day's first
    job_id = app.start("report", {"day": day.isoformat()})
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    by_kind = {
        "batch": {"Failed": 1, "Succeeded": 2},
        "order": {"Pending": 1, "Succeeded": 1},
        "thumbnail": {"Cancelled": 1, "Succeeded": 1},
    }
    assert final["result"] == {"jobs": len(made), "byKind": by_kind}
    assert final["resultLocation"].endswith(f"/reports/daily/{day.isoformat()}.json")
    report = read_blob(app, "reports", f"daily/{day.isoformat()}.json")
    assert report["day"] == day.isoformat()
    assert (report["jobs"], report["byKind"]) == (len(made), by_kind)
    failed = made[2]
    assert report["failures"] == [{"id": failed.job_id, "kind": "batch", "error": f"boom {unique}"}]
    # Succeeded after 10, 20, 30 and 40 seconds.
    assert report["secondsToFinish"] == {"median": 30.0, "p95": 40.0, "max": 40.0}


def test_a_day_without_jobs_reports_none(app: JobsApp, unique: str) -> None:
    day = some_day(unique) - timedelta(days=4000)  # the 1980s: nobody's
    final = app.wait(app.start("report", {"day": day.isoformat()}))
    assert final["status"] == "Succeeded", final
    assert final["result"] == {"jobs": 0, "byKind": {}}
    report = read_blob(app, "reports", f"daily/{day.isoformat()}.json")
    assert report == {
        "day": day.isoformat(),
        "jobs": 0,
        "byKind": {},
        "failures": [],
        "secondsToFinish": {},
    }


def test_the_daily_report_timer_reports_yesterday(app: JobsApp, make: Maker, unique: str) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    kind = f"probe-{unique}"  # a kind of its own: counted apart from every other job
    failed = make(kind, "Failed", at(yesterday, 8), error=f"bad {unique}")
    make(kind, "Succeeded", at(yesterday, 9), seconds=5)
    make(kind, "Succeeded", at(yesterday, 10), seconds=5)
    make(kind, "Succeeded", at(yesterday - timedelta(days=1), 10))  # the day before
    outcome = app.host.fire_timer("daily_report")
    assert outcome.ok, outcome
    report = read_blob(app, "reports", f"daily/{yesterday.isoformat()}.json")
    assert report["day"] == yesterday.isoformat()
    assert report["byKind"][kind] == {"Failed": 1, "Succeeded": 2}
    assert report["jobs"] == sum(sum(states.values()) for states in report["byKind"].values())
    assert {"id": failed.job_id, "kind": kind, "error": f"bad {unique}"} in report["failures"]


# --- the consistency check -------------------------------------------------------------------


def test_the_consistency_check_lists_stuck_jobs_and_poison_messages(
    app: JobsApp, make: Maker, unique: str
) -> None:
    kind = f"probe-{unique}"
    now = datetime.now(UTC)
    # Stuck: no change for longer than the supervisor's deadline (10 minutes).
    pending = make(kind, "Pending", now - timedelta(minutes=40))
    running = make(kind, "Running", now - timedelta(minutes=30))
    # Not stuck: recent, or final.
    fresh = make(kind, "Pending", now - timedelta(minutes=1))
    done = make(kind, "Succeeded", now - timedelta(hours=3))
    waiting = poison_count(app, "batch-parts-poison")
    for n in range(3):
        app.host.send_queue("batch-parts-poison", {"jobId": f"lost-{unique}", "part": n})

    outcome = app.host.fire_timer("consistency_check")
    assert outcome.ok, outcome
    report = read_blob(app, "reports", "consistency/latest.json")
    checked = datetime.fromisoformat(report["checked"])
    assert now <= checked <= datetime.now(UTC)
    mine = {s["id"]: s for s in report["stuck"] if s["kind"] == kind}
    assert set(mine) == {pending.job_id, running.job_id}
    assert mine[pending.job_id]["state"] == "Pending"
    assert mine[running.job_id]["state"] == "Running"
    assert datetime.fromisoformat(mine[pending.job_id]["since"]) == pending.created
    assert fresh.job_id not in mine and done.job_id not in mine
    assert report["poison"]["batch-parts-poison"] == waiting + 3
    assert any("consistency check:" in line and "stuck job" in line for line in app.host.logs)


def poison_count(app: JobsApp, queue: str) -> int:
    from functions.services import services

    async def count() -> int:
        client = await services().account.ensure_queue(queue)
        return (await client.get_queue_properties()).approximate_message_count or 0

    found: int = app.run(count)
    return found


# --- retention -------------------------------------------------------------------------------


def test_nightly_retention_removes_old_records_and_keeps_recent_ones(
    app: JobsApp, make: Maker, unique: str
) -> None:
    kind = f"probe-{unique}"
    now = datetime.now(UTC)
    old = now - timedelta(days=40)  # past the 30 days final records are kept
    gone = [
        make(kind, "Succeeded", old),
        make(kind, "Failed", old),
        make(kind, "Cancelled", old),
    ]
    kept = [
        make(kind, "Pending", old),  # not final: the supervisor's business, never purged
        make(kind, "Running", old),
        make(kind, "Succeeded", now - timedelta(days=29)),
        make(kind, "Failed", now - timedelta(hours=1)),
    ]
    keys = {
        f"old-{unique}": now - timedelta(days=8),  # idempotency keys live 7 days
        f"recent-{unique}": now - timedelta(days=6),
        f"today-{unique}": now,
    }
    for key, claimed in keys.items():
        app.run(claim_key, key, claimed)

    outcome = app.host.fire_timer("nightly_retention")
    assert outcome.ok, outcome
    found = {j.job_id: app.run(find_job, j.job_id) for j in gone + kept}
    assert [(j.state, j.job_id) for j in gone if found[j.job_id] is not None] == []
    assert all(found[j.job_id] is not None for j in kept), found
    assert [k for k in keys if app.run(has_key, k)] == [f"recent-{unique}", f"today-{unique}"]
    line = next(x for x in reversed(app.host.logs) if x.startswith("retention: deleted"))
    assert "'status':" in line and "'idempotency':" in line


async def claim_key(key: str, claimed: datetime) -> None:
    from functions.services import services
    from shared.idempotency import IdempotencyLedger

    ledger = IdempotencyLedger(services().account, clock=lambda: claimed)
    claim = await ledger.claim(key, scope="test_reports")
    await ledger.complete(claim, {"done": key})


async def has_key(key: str) -> bool:
    from functions.services import services

    return await services().ledger.get(key, scope="test_reports") is not None


async def find_job(job_id: str) -> Any:
    from functions.services import services

    return await services().status.find(job_id)
