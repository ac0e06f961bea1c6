"""Timer trigger against real Azurite and real `funchost start` processes (semantics §4).

Every test uses its own host id, so status blobs and listener locks never collide. The
fixture apps append one JSON line per run to the file named by TIMER_OUT.
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import BlobLeaseClient
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobService

from funchost.devservices.azurite import Azurite, AzuriteEndpoints, find_azurite
from funchost.storage.singleton import HOSTS_CONTAINER, BlobLease, LeaseLost, listener_lock_id
from tests.conftest import REPO
from tests.hostprocess import HostProcess

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")


class TimerHosts:
    """Starts hosts sharing one host id and one output file; stops them at the end."""

    def __init__(self, conn: str, out: Path) -> None:
        self.conn = conn
        self.out = out
        self.host_id = "timer" + uuid.uuid4().hex[:12]
        self.procs: list[HostProcess] = []
        self.blobs = BlobServiceClient.from_connection_string(conn).get_container_client(HOSTS_CONTAINER)

    def start(self, app: str, **env: str) -> HostProcess:
        proc = HostProcess(app, env={"AzureWebJobsStorage": self.conn, "TIMER_OUT": str(self.out),
                                     "AzureFunctionsWebHost__hostid": self.host_id, **env},
                           args=["--no-auth"])
        self.procs.append(proc)
        proc.start()
        return proc

    def records(self, fn: str | None = None) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = [json.loads(x) for x in self.out.read_text().splitlines() if x.strip()]
        return [r for r in lines if fn is None or r["fn"] == fn]

    def status_path(self, fn: str) -> str:
        return f"timers/{self.host_id}/Host.Functions.{fn}/status"

    def read_blob(self, path: str) -> dict[str, str] | None:
        try:
            return json.loads(self.blobs.get_blob_client(path).download_blob().readall())  # type: ignore[no-any-return]
        except ResourceNotFoundError:
            return None

    def write_status(self, fn: str, status: dict[str, str]) -> None:
        try:
            self.blobs.create_container()
        except Exception:  # noqa: BLE001 - exists
            pass
        self.blobs.get_blob_client(self.status_path(fn)).upload_blob(
            json.dumps(status), overwrite=True)

    def lease_state(self, fn: str) -> str:
        path = f"locks/{self.host_id}/Host.Functions.{fn}.Listener"
        return str(self.blobs.get_blob_client(path).get_blob_properties().lease.state)


@pytest.fixture
def hosts(storage_connection_string: str, tmp_path: Path) -> Iterator[TimerHosts]:
    group = TimerHosts(storage_connection_string, tmp_path / "runs.jsonl")
    try:
        yield group
    finally:
        for proc in group.procs:
            proc.stop()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def occurrence(record: dict[str, Any]) -> int:
    """The whole second a run belongs to (runs start a few ms after their occurrence)."""
    return math.floor(record["start"])


def test_cron_timers_fire_on_their_occurrences_and_slow_runs_never_overlap(
        hosts: TimerHosts) -> None:
    """§4.1 six-field cron; §4.3 no status for sub-minute schedules; §4.5 serialized runs,
    one immediate run after an overrun rather than a burst; §4.7 the lock released on stop."""
    proc = hosts.start("timer_basic")
    wait_until(lambda: len(hosts.records("slow")) >= 2 and len(hosts.records("every_two")) >= 3,
               20, "the timers to run")
    proc.stop()

    every_second = hosts.records("every_second")
    seconds = [occurrence(r) for r in every_second]
    assert len(seconds) >= 4 and len(set(seconds)) == len(seconds)
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))  # none missed
    assert all(r["start"] - occurrence(r) < 0.5 for r in every_second)
    assert all(r["past_due"] is False and r["status"] == {} for r in every_second)
    assert all(occurrence(r) % 2 == 0 for r in hosts.records("every_two"))

    slow = sorted(hosts.records("slow"), key=lambda r: r["start"])
    for before, after in zip(slow, slow[1:]):
        assert after["start"] >= before["end"] - 0.01  # never two at once
        assert after["start"] - before["end"] < 0.4  # the missed second runs at once...
    elapsed = slow[-1]["start"] - slow[0]["start"]
    assert len(slow) <= elapsed / 2.5 + 1.5  # ...but only one of the missed seconds

    assert hosts.read_blob(hosts.status_path("every_second")) is None  # §4.3 monitor off
    out = proc.output()
    assert re.search(r"Executing 'Functions.every_second' \(Reason='Timer fired at "
                     r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d', Id=", out)
    assert "The next 5 occurrences of the 'every_two' schedule (Cron: '0,2,4," in out
    assert hosts.lease_state("every_second") == "available"  # released on stop


def test_one_instance_fires_each_occurrence_once_and_another_takes_over(
        hosts: TimerHosts) -> None:
    """§4.7: three hosts, one storage account, one host id; the lease holder stops
    gracefully (releasing the lease) and another picks the timer up at its next poll."""
    env = {"AzureWebJobs.every_two.Disabled": "true", "AzureWebJobs.slow.Disabled": "true"}
    procs = [hosts.start("timer_basic", **env) for _ in range(3)]
    pids = {p.pid: p for p in procs}  # stop() forgets the pid
    wait_until(lambda: len(hosts.records()) >= 3, 15, "three runs")
    owners = {r["pid"] for r in hosts.records()}
    assert len(owners) == 1
    (owner,) = (pids[pid] for pid in owners)
    others = [p for p in procs if p is not owner]
    for proc in others:  # a loaded machine may take a while to get there
        assert proc.wait_for_output("Unable to acquire Singleton lock", timeout=15), \
            proc.output()

    owner.stop()
    handed_over = len(hosts.records())
    wait_until(lambda: len(hosts.records()) >= handed_over + 3, 15, "a new owner's runs")
    for proc in others:
        proc.stop()

    runs = hosts.records()
    seconds = [occurrence(r) for r in runs]
    assert len(set(seconds)) == len(seconds), "an occurrence ran twice"
    later = {r["pid"] for r in runs[handed_over:]}
    assert len(later) == 1 and later != owners
    (successor,) = (pids[pid] for pid in later)
    assert successor in others
    assert "Singleton lock acquired" in successor.output()
    # Each occurrence ran on one instance only: count the Executed lines of all three.
    executed = sum(p.output().count("Executed 'Functions.every_second' (Succeeded")
                   for p in procs)
    assert executed == len(runs)


def _berlin(year: int, month: int = 1, day: int = 1) -> str:
    return datetime(year, month, day, tzinfo=BERLIN).isoformat()


def test_status_blob_past_due_schedule_change_run_on_startup_and_admin_call(
        hosts: TimerHosts) -> None:
    """§4.4 status path and JSON; §4.5 one catch-up for a missed occurrence, a changed
    schedule rewritten without running, runOnStartup; §4.2 WEBSITE_TIME_ZONE; §6.6 admin
    call; §4.1 %Setting% schedules; a bad schedule puts only its function in error."""
    year = datetime.now(BERLIN).year
    # Yearly on Jan 1: ran two years ago, missed last year's (and maybe more).
    missed = {"Last": _berlin(year - 2), "Next": _berlin(year - 1),
              "LastUpdated": _berlin(year - 2)}
    hosts.write_status("past_due", missed)
    # Next does not follow from Last under the yearly schedule: the schedule changed.
    hosts.write_status("changed", {"Last": _berlin(year - 1), "Next": _berlin(year - 1, 1, 2),
                                   "LastUpdated": _berlin(year - 1)})
    env = {"WEBSITE_TIME_ZONE": "W. Europe Standard Time", "TIMER_PERIOD": "1.00:00:00"}
    proc = hosts.start("timer_monitor", **env)
    wait_until(lambda: {"past_due", "startup"} <= {r["fn"] for r in hosts.records()}, 15,
               "the catch-up and startup runs")
    next_year = _berlin(year + 1)

    (catch_up,) = hosts.records("past_due")
    assert catch_up["past_due"] is True
    assert catch_up["status"] == missed  # the TimerRequest shows the status it found
    assert catch_up["schedule"] == {"AdjustForDST": True}
    wait_until(lambda: (hosts.read_blob(hosts.status_path("past_due")) or {}).get("Next")
               == next_year, 5, "the status update after the catch-up")
    after = hosts.read_blob(hosts.status_path("past_due"))
    assert after is not None and after["Last"] == after["LastUpdated"] != missed["Last"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+0[12]:00", after["Last"])

    (startup,) = hosts.records("startup")
    assert startup["past_due"] is False
    assert startup["status"]["Next"] == next_year

    changed = hosts.read_blob(hosts.status_path("changed"))
    assert changed is not None and changed["Next"] == next_year
    assert changed["Last"] == "0001-01-01T00:00:00+00:00"
    fresh = hosts.read_blob(hosts.status_path("fresh"))
    assert fresh is not None and fresh["Last"] == "0001-01-01T00:00:00+00:00"
    assert fresh["Next"] == next_year
    period = hosts.read_blob(hosts.status_path("from_setting"))
    assert period is not None
    gap = datetime.fromisoformat(period["Next"]) - datetime.fromisoformat(period["LastUpdated"])
    assert gap == timedelta(days=1)

    assert "The 'bad' function is in error: timer trigger of 'bad': The schedule expression " \
           "'0 0 25 * * *' was not recognized" in proc.output()
    status = httpx.get(f"{proc.url}/admin/host/status", timeout=10).json()
    assert status["state"] == "Running" and any("'bad'" in e for e in status["errors"])

    r = httpx.post(f"{proc.url}/admin/functions/fresh", json={"input": "ignored"}, timeout=10)
    assert r.status_code == 202
    wait_until(lambda: bool(hosts.records("fresh")), 10, "the admin-called run")
    (called,) = hosts.records("fresh")
    assert called["past_due"] is False and called["status"] == fresh
    assert re.search(r"Executing 'Functions.past_due' \(Reason='Timer fired at "
                     r"[0-9T:.-]+\+0[12]:00'", proc.output())
    assert not hosts.records("changed")

    # A restart is not past due again: the catch-up moved Next to next year.
    proc.stop()
    proc = hosts.start("timer_monitor", **env)
    wait_until(lambda: len(hosts.records("startup")) == 2, 15, "the second startup run")
    time.sleep(0.5)
    assert len(hosts.records("past_due")) == 1


def test_retry_policies_retry_a_failing_timer_run_then_give_up(hosts: TimerHosts) -> None:
    """§1.2: fixed_delay (2 retries, 1 s) and exponential_backoff (3 retries, 1-2 s) on
    timer functions; each attempt sees its retry count; each attempt is logged."""
    proc = hosts.start("timer_retry")
    wait_until(lambda: len(hosts.records("fixed")) >= 3 and len(hosts.records("backoff")) >= 4,
               20, "every attempt")
    time.sleep(2.5)  # longer than any delay: no attempt beyond the maximum
    fixed, backoff = hosts.records("fixed"), hosts.records("backoff")
    assert [(r["retry_count"], r["max_retry_count"]) for r in fixed] == [(0, 2), (1, 2), (2, 2)]
    assert [(r["retry_count"], r["max_retry_count"]) for r in backoff] == [
        (0, 3), (1, 3), (2, 3), (3, 3)]

    def gaps(runs: list[dict[str, Any]]) -> list[float]:
        return [b["start"] - a["start"] for a, b in zip(runs, runs[1:])]
    assert all(0.95 <= g <= 1.6 for g in gaps(fixed))
    first, second, third = gaps(backoff)
    assert 0.95 <= first <= 1.6  # the minimum
    assert 1.75 <= second <= 2.6  # min + U(0.8, 1.2) * min, capped at the maximum
    assert 1.95 <= third <= 2.6  # capped at the maximum
    out = proc.output()
    assert out.count("Executed 'Functions.fixed' (Failed") == 3
    assert out.count("Executed 'Functions.backoff' (Failed") == 4
    assert "Waiting for `00:00:01` before retrying function execution. Next attempt: '1'. " \
           "Max retry count: '2'." in out
    assert "Function execution failed after '2' retries." in out
    assert "Function execution failed after '3' retries." in out


def test_unreachable_storage_is_retried_until_it_comes_up(
        storage_connection_string: str, tmp_path: Path) -> None:
    """A listener whose storage is down logs and backs off, the host keeps serving; when
    storage comes up the timer takes its lease and fires; the host still stops promptly."""
    exe = find_azurite(REPO)
    assert exe is not None  # the storage_connection_string fixture started one already
    ports = [free_port() for _ in range(3)]
    later = Azurite(exe, blob_port=ports[0], queue_port=ports[1], table_port=ports[2])
    conn = AzuriteEndpoints("127.0.0.1", *ports).connection_string
    out = tmp_path / "runs.jsonl"
    proc = HostProcess("timer_basic", env={
        "AzureWebJobsStorage": conn, "TIMER_OUT": str(out),
        "AzureFunctionsWebHost__hostid": "timer" + uuid.uuid4().hex[:12],
        "AzureWebJobs.every_two.Disabled": "true", "AzureWebJobs.slow.Disabled": "true"},
        args=["--no-auth"])
    proc.start()
    try:
        assert proc.wait_for_output(r"The singleton lock for timer 'every_second' is "
                                    r"unavailable \(.+\); retrying in", timeout=15)
        assert httpx.get(f"{proc.url}/admin/host/ping", timeout=5).status_code == 200
        assert not out.exists()
        later.start()
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 2, 30,
                   "runs once storage is up")
        assert "Singleton lock acquired" in proc.output()
        began = time.monotonic()
        proc.stop(grace=10)
        assert time.monotonic() - began < 5
    finally:
        proc.stop()
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
            try:
                await first_again.renew()
            except LeaseLost:
                pass
            else:
                raise AssertionError("renewing a broken lease should fail")
            assert not first_again.held
    anyio.run(main)
