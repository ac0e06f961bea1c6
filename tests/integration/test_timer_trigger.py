"""Timer trigger against real Azurite, on in-process hosts (semantics §4).

Every test uses its own host id, so status blobs and listener locks never collide. Each
run of the fixture apps logs one line `RUN {json}` (its start and end, IsPastDue, the
status it was given), read back from the invocation's records. Schedules are real: the
harness has no clock to inject, so the every-second timers run on the wall clock.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import re
import socket
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.blob.aio import BlobLeaseClient
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobService

from funchost.config.timespan import parse_timespan
from funchost.devservices.azurite import Azurite, AzuriteEndpoints, find_azurite
from funchost.storage.singleton import HOSTS_CONTAINER, BlobLease, LeaseLost, listener_lock_id
from funchost.testing import Harness, InvocationRecord
from tests.conftest import REPO
from tests.integration.harness_support import (
    LogWatch,
    kept_process_state,
    loop_thread,
    wait_until,
)

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parents[1] / "apps"
BERLIN = ZoneInfo("Europe/Berlin")
ONLY_EVERY_SECOND = {
    "AzureWebJobs.every_two.Disabled": "true",
    "AzureWebJobs.slow.Disabled": "true",
}


class Storage:
    """The hosts container (status blobs, locks) of one host id."""

    def __init__(self, conn: str) -> None:
        self.conn = conn
        self.host_id = "timer" + uuid.uuid4().hex[:12]
        self.blobs: ContainerClient = BlobServiceClient.from_connection_string(
            conn
        ).get_container_client(HOSTS_CONTAINER)

    def settings(self, **extra: str) -> dict[str, str]:
        return {
            "AzureWebJobsStorage": self.conn,
            "AzureFunctionsWebHost__hostid": self.host_id,
            **extra,
        }

    def status_path(self, fn: str) -> str:
        return f"timers/{self.host_id}/Host.Functions.{fn}/status"

    def status(self, fn: str) -> dict[str, str] | None:
        try:
            data = self.blobs.get_blob_client(self.status_path(fn)).download_blob().readall()
        except ResourceNotFoundError:
            return None
        return json.loads(data)  # type: ignore[no-any-return]

    def write_status(self, fn: str, status: dict[str, str]) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.blobs.create_container()
        self.blobs.get_blob_client(self.status_path(fn)).upload_blob(
            json.dumps(status), overwrite=True
        )

    def lease_state(self, fn: str) -> str:
        path = f"locks/{self.host_id}/Host.Functions.{fn}.Listener"
        return str(self.blobs.get_blob_client(path).get_blob_properties().lease.state)


@pytest.fixture
def storage(storage_connection_string: str) -> Storage:
    return Storage(storage_connection_string)


def run_of(record: InvocationRecord) -> dict[str, Any]:
    """What the app logged for this run (its `RUN {json}` line)."""
    (line,) = [x for x in record.logs if x.startswith("RUN ")]
    return json.loads(line[4:])  # type: ignore[no-any-return]


def runs(hosts: list[Harness], fn: str) -> list[dict[str, Any]]:
    """The runs of `fn` on any of `hosts`, by start time, each with its `host`."""
    found = [{**run_of(r), "host": h} for h in hosts for r in h.invocations(fn)]
    return sorted(found, key=lambda r: r["start"])


def occurrence(run: dict[str, Any]) -> int:
    """The whole second a run belongs to (runs start a few ms after their occurrence)."""
    return math.floor(run["start"])


FIRED = r"Timer fired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d"


def test_cron_timers_fire_on_their_occurrences_and_slow_runs_never_overlap(
    storage: Storage,
) -> None:
    """§4.1 six-field cron; §4.3 no status for sub-minute schedules; §4.5 serialized runs,
    one immediate run after an overrun rather than a burst; §4.7 the lock released on stop."""
    with Harness(APPS / "timer_basic", settings=storage.settings()) as host:
        host.wait_for("slow", 3)
        host.wait_for("every_two", 3)
        host.wait_for("every_second", 4)
        logs = host.logs
    # Stopped (drained): every run is recorded.
    every_second = runs([host], "every_second")
    seconds = [occurrence(r) for r in every_second]
    assert len(seconds) >= 4
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))  # each once, none missed
    lateness = sorted(r["start"] - occurrence(r) for r in every_second)
    assert lateness[len(lateness) // 2] < 0.5  # on their occurrence, not a period late
    assert all(r["past_due"] is False and r["status"] == {} for r in every_second)
    for record in host.invocations("every_second"):
        assert re.fullmatch(FIRED, record.reason), record.reason

    two = [occurrence(r) for r in runs([host], "every_two")]
    assert all(s % 2 == 0 for s in two)
    assert all(b - a == 2 for a, b in itertools.pairwise(two))  # every other second, none missed

    # The first run of `slow` outlasts the occurrences at +1 s and +2 s.
    first, catch_up, *later = runs([host], "slow")
    assert first["end"] - first["start"] >= 2.2
    assert catch_up["start"] >= first["end"] - 0.01  # never two at once
    # The missed occurrences give one run at once (waiting for the next occurrence would
    # take at least 0.8 s)...
    assert catch_up["start"] - first["end"] < 0.7
    # ...and only one: the next run is on schedule again, at +3 s.
    assert later and occurrence(later[0]) == occurrence(first) + 3
    assert [occurrence(r) for r in later] == list(
        range(occurrence(later[0]), occurrence(later[0]) + len(later))
    )

    assert storage.status("every_second") is None  # §4.3 monitor off
    assert any(
        line.startswith("The next 5 occurrences of the 'every_two' schedule (Cron: '0,2,4,")
        for line in logs
    )
    assert storage.lease_state("every_second") == "available"  # released on stop


def test_one_instance_fires_each_occurrence_once_and_another_takes_over(
    storage: Storage,
) -> None:
    """§4.7: three hosts, one storage account, one host id; the lease holder stops
    gracefully (releasing the lease) and another picks the timer up at its next poll."""
    settings = storage.settings(**ONLY_EVERY_SECOND)
    executed = r"Executed 'Functions.every_second' \(Succeeded"
    with kept_process_state(), LogWatch().attached() as watch, contextlib.ExitStack() as stack:
        hosts: list[Harness] = []
        for _ in range(3):
            host = Harness(APPS / "timer_basic", settings=settings)
            stack.callback(host.stop)
            hosts.append(host.start())
        threads = {id(h): loop_thread(h) for h in hosts}
        watch.wait_for(executed, 3)
        (owner,) = [h for h in hosts if h.invocations("every_second")]
        others = [h for h in hosts if h is not owner]
        for host in others:  # each tried, and found the lease taken
            watch.wait_for("Unable to acquire Singleton lock", thread=threads[id(host)])

        owner.stop()
        handed_over = len(owner.invocations("every_second"))
        watch.wait_for(executed, handed_over + 3)
        for host in reversed(others):
            host.stop()

        runs_ = runs(hosts, "every_second")
        seconds = [occurrence(r) for r in runs_]
        assert len(set(seconds)) == len(seconds), "an occurrence ran twice"
        (successor,) = [h for h in others if h.invocations("every_second")]
        assert {id(r["host"]) for r in runs_[:handed_over]} == {id(owner)}
        assert {id(r["host"]) for r in runs_[handed_over:]} == {id(successor)}
        owner_lines = watch.lines(threads[id(owner)])
        assert any(line.startswith("Singleton lock released") for line in owner_lines)
        successor_lines = watch.lines(threads[id(successor)])
        assert any(line.startswith("Singleton lock acquired") for line in successor_lines)
        # Each occurrence ran on one instance only: the Executed lines of all three.
        assert len(watch.matching(executed)) == len(runs_)


def _berlin(year: int, month: int = 1, day: int = 1) -> str:
    return datetime(year, month, day, tzinfo=BERLIN).isoformat()


def test_status_blob_past_due_schedule_change_run_on_startup_and_admin_call(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """§4.4 status path and JSON; §4.5 one catch-up for a missed occurrence, a changed
    schedule rewritten without running, runOnStartup; §4.2 WEBSITE_TIME_ZONE; §6.6 admin
    call; §4.1 %Setting% schedules; a bad schedule puts only its function in error."""
    year = datetime.now(BERLIN).year
    # Yearly on Jan 1: ran two years ago, missed last year's (and maybe more).
    missed = {
        "Last": _berlin(year - 2),
        "Next": _berlin(year - 1),
        "LastUpdated": _berlin(year - 2),
    }
    storage.write_status("past_due", missed)
    # Next does not follow from Last under the yearly schedule: the schedule changed.
    storage.write_status(
        "changed",
        {
            "Last": _berlin(year - 1),
            "Next": _berlin(year - 1, 1, 2),
            "LastUpdated": _berlin(year - 1),
        },
    )
    settings = storage.settings(
        WEBSITE_TIME_ZONE="W. Europe Standard Time", TIMER_PERIOD="1.00:00:00"
    )
    next_year = _berlin(year + 1)
    with Harness(APPS / "timer_monitor", settings=settings) as host:
        (catch_up_record,) = host.wait_for("past_due")
        (startup_record,) = host.wait_for("startup")
        catch_up = run_of(catch_up_record)
        assert catch_up["past_due"] is True
        assert catch_up["status"] == missed  # the TimerRequest shows the status it found
        assert catch_up["schedule"] == {"AdjustForDST": True}
        assert re.fullmatch(r"Timer fired at [0-9T:.-]+\+0[12]:00", catch_up_record.reason), (
            catch_up_record.reason
        )
        assert "Function 'past_due' is past due on startup. Executing now." in host.logs
        after = wait_until(
            lambda: (s := storage.status("past_due")) and s["Next"] == next_year and s,
            "the status update after the catch-up",
        )
        assert after["Last"] == after["LastUpdated"] != missed["Last"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+0[12]:00", after["Last"])

        startup = run_of(startup_record)
        assert startup["past_due"] is False
        assert startup["status"]["Next"] == next_year
        assert "Function 'startup' is configured to run on startup. Executing now." in host.logs

        # Each listener writes its status blob as it starts, which may be after the two
        # runs above on a busy machine (seen once in make test): wait for each.
        def written(name: str, next_: str | None = None) -> Any:
            return wait_until(
                lambda: (s := storage.status(name)) and next_ in (None, s["Next"]) and s,
                f"the status blob of '{name}'",
            )

        changed = written("changed", next_year)
        assert changed["Last"] == "0001-01-01T00:00:00+00:00"
        fresh = written("fresh", next_year)
        assert fresh["Last"] == "0001-01-01T00:00:00+00:00"
        period = written("from_setting")
        gap = datetime.fromisoformat(period["Next"]) - datetime.fromisoformat(period["LastUpdated"])
        assert gap == timedelta(days=1)

        error = "timer trigger of 'bad': The schedule expression '0 0 25 * * *' was not recognized"
        assert any(
            line.startswith(f"The 'bad' function is in error: {error}") for line in host.logs
        )
        assert (host.host.functions["bad"].error or "").startswith(error)
        status = host.get("/admin/host/status").json()
        assert status["state"] == "Running" and any("'bad'" in e for e in status["errors"])

        r = host.post("/admin/functions/fresh", json={"input": "ignored"})
        assert r.status_code == 202
        (called_record,) = host.wait_for("fresh")
        called = run_of(called_record)
        assert called["past_due"] is False and called["status"] == fresh
        assert called_record.reason == (
            "This function was programmatically called via the host APIs."
        )
        assert host.invocations("changed") == [] and host.invocations("bad") == []

    # A restart is not past due again: the catch-up moved Next to next year. The listener
    # logs (at debug) the status it read before it decides; a past-due decision would be
    # logged right after, in the same step.
    caplog.set_level(logging.DEBUG, logger="funchost.timer")
    with (
        LogWatch().attached() as watch,
        Harness(APPS / "timer_monitor", settings=settings) as again,
    ):
        again.wait_for("startup")
        watch.wait_for(r"^Function 'past_due' initial status: ")
        assert not watch.matching(r"'past_due' is past due")
        assert again.invocations("past_due") == []
    assert storage.status("past_due") == after


def _waits(lines: list[str]) -> dict[tuple[int, int], float]:
    """The retry waits the host logged: (max retry count, next attempt) -> seconds."""
    found = {}
    for line in lines:
        m = re.fullmatch(
            r"Waiting for `([0-9:.]+)` before retrying function execution\. Next attempt: "
            r"'(\d+)'\. Max retry count: '(\d+)'\.",
            line,
        )
        if m:
            found[(int(m.group(3)), int(m.group(2)))] = parse_timespan(m.group(1)).total_seconds()
    return found


def test_retry_policies_retry_a_failing_timer_run_then_give_up(storage: Storage) -> None:
    """§1.2: fixed_delay (2 retries, 1 s) and exponential_backoff (3 retries, 1-2 s) on
    timer functions; each attempt sees its retry count; each attempt is logged."""
    with (
        LogWatch().attached() as watch,
        Harness(APPS / "timer_retry", settings=storage.settings()) as host,
    ):
        # Logged when a policy gives up: no attempt follows.
        watch.wait_for(r"^Function execution failed after '2' retries\.$")
        watch.wait_for(r"^Function execution failed after '3' retries\.$")
        fixed, backoff = host.invocations("fixed"), host.invocations("backoff")
        lines = watch.lines()

    for records, error in ((fixed, "fixed attempt failed"), (backoff, "backoff attempt failed")):
        for record in records:
            assert isinstance(record.error, RuntimeError) and str(record.error) == error
            assert record.logs[0].startswith(f"Executing 'Functions.{record.function}'")
            assert record.logs[-1].startswith(f"Executed 'Functions.{record.function}' (Failed")
        assert len({r.invocation_id for r in records}) == len(records)  # one id per attempt
    assert [
        (r.retry_count, run_of(r)["retry_count"], run_of(r)["max_retry_count"]) for r in fixed
    ] == [
        (0, 0, 2),
        (1, 1, 2),
        (2, 2, 2),
    ]
    assert [
        (r.retry_count, run_of(r)["retry_count"], run_of(r)["max_retry_count"]) for r in backoff
    ] == [
        (0, 0, 3),
        (1, 1, 3),
        (2, 2, 3),
        (3, 3, 3),
    ]
    assert all(run_of(r)["past_due"] is False for r in fixed + backoff)

    waits = _waits(lines)
    assert (
        "Waiting for `00:00:01` before retrying function execution. Next attempt: '1'. "
        "Max retry count: '2'." in lines
    )
    assert waits[(2, 1)] == waits[(2, 2)] == 1.0  # fixed
    assert waits[(3, 1)] == 1.0  # the minimum
    assert 1.8 <= waits[(3, 2)] <= 2.0  # min + U(0.8, 1.2) * min, capped at the maximum
    assert waits[(3, 3)] == 2.0  # capped at the maximum
    assert len(waits) == 5

    def gaps(records: list[InvocationRecord]) -> list[float]:
        return [b.finished - a.finished for a, b in itertools.pairwise(records)]

    # Each attempt waited what was logged (an attempt itself takes milliseconds).
    expected = [1.0, 1.0] + [waits[(3, k)] for k in (1, 2, 3)]
    for gap, wait in zip(gaps(fixed) + gaps(backoff), expected, strict=True):
        assert wait - 0.01 <= gap < wait + 1.5, (gap, wait)
    assert "Function execution failed after '2' retries." in lines
    assert "Function execution failed after '3' retries." in lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_storage_is_retried_until_it_comes_up(storage: Storage) -> None:
    """A listener whose storage is down logs and backs off, the host keeps serving; when
    storage comes up the timer takes its lease and fires; the host still stops promptly."""
    exe = find_azurite(REPO)
    assert exe is not None  # the storage_connection_string fixture started one already
    ports = [free_port() for _ in range(3)]
    later = Azurite(exe, blob_port=ports[0], queue_port=ports[1], table_port=ports[2])
    conn = AzuriteEndpoints("127.0.0.1", *ports).connection_string
    settings = {**storage.settings(**ONLY_EVERY_SECOND), "AzureWebJobsStorage": conn}
    host = Harness(APPS / "timer_basic", settings=settings)
    with LogWatch().attached() as watch:
        host.start()
        try:
            watch.wait_for(
                r"The singleton lock for timer 'every_second' is unavailable \(.+\); retrying in"
            )
            assert host.get("/admin/host/ping").status_code == 200
            assert host.invocations() == []
            later.start()
            host.wait_for("every_second", 2, timeout=60)
            assert watch.matching(r"^Singleton lock acquired")
            began = time.monotonic()
            host.stop()
            assert time.monotonic() - began < 5  # not the 10 s grace period
        finally:
            host.stop()
            later.stop()


def test_blob_lease_lock_on_azurite(storage_connection_string: str) -> None:
    """§4.7 lock blob: created with its container on first use; one holder at a time;
    renewal by the holder; release frees it; a holder that lost it hears LeaseLost."""
    lock_id = listener_lock_id("lease" + uuid.uuid4().hex[:12], "tick")
    assert lock_id.endswith("/Host.Functions.tick.Listener")

    async def main() -> None:
        async with AsyncBlobService.from_connection_string(storage_connection_string) as svc:
            container = svc.get_container_client(HOSTS_CONTAINER)
            first, second = BlobLease(container, lock_id, 15), BlobLease(container, lock_id, 15)
            assert await first.try_acquire() and first.held
            assert not await second.try_acquire()
            await first.renew()
            props = await container.get_blob_client(f"locks/{lock_id}").get_blob_properties()
            assert (props.lease.state, props.lease.duration) == ("leased", "fixed")
            await first.release()
            assert await second.try_acquire()
            first_again = BlobLease(container, lock_id, 15)
            assert not await first_again.try_acquire()
            await second.release()
            assert await first_again.try_acquire()
            blob = container.get_blob_client(f"locks/{lock_id}")
            await BlobLeaseClient(blob).break_lease(lease_break_period=0)
            with pytest.raises(LeaseLost):
                await first_again.renew()
            assert not first_again.held

    anyio.run(main)
