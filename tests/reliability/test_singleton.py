"""One timer, three host processes sharing a storage account and host id: every
occurrence fires exactly once; when the lease holder is killed, another host takes the
lease over and the schedule goes on (semantics §4.7)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostprocess import HostProcess
from tests.reliability.conftest import host_process, settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TICK = re.compile(r"TICK pid=(\d+) at=([\d.]+)")


def _ticks(hosts: list[HostProcess]) -> list[tuple[int, float]]:
    return [(int(m.group(1)), float(m.group(2))) for h in hosts for m in TICK.finditer(h.output())]


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_each_occurrence_fires_once_and_a_killed_lease_holder_is_replaced(
    storage_connection_string: str, report: Callable[..., None]
) -> None:
    s = settings(
        REL_TIMER_SCHEDULE="*/2 * * * * *",
        AzureWebJobsStorage=storage_connection_string,
        # The shortest lease Azure Storage grants, checked for every 2 s by the others.
        AzureFunctionsJobHost__singleton__listenerLockPeriod="00:00:15",
        AzureFunctionsJobHost__singleton__listenerLockRecoveryPollingInterval="00:00:02",
        AzureFunctionsWebHost__hostid=f"singleton-{time.monotonic_ns() % 10**8}",
    )
    hosts = [host_process(s) for _ in range(3)]
    for h in hosts:
        h.start()
    try:
        deadline = time.monotonic() + 30
        while len(_ticks(hosts)) < 5:
            assert time.monotonic() < deadline, [h.output()[-500:] for h in hosts]
            time.sleep(0.2)
        holders = {pid for pid, _ in _ticks(hosts)}
        assert len(holders) == 1  # one instance fires
        (holder_pid,) = holders
        # The function runs in a worker process, a child of its host.
        victim = next(h for h in hosts if _parent(holder_pid) == h.pid)
        killed_at = time.time()
        victim.kill()
        survivors = [h for h in hosts if h is not victim]
        deadline = time.monotonic() + 60
        while not [t for t in _ticks(survivors) if t[1] > killed_at]:
            assert time.monotonic() < deadline, [h.output()[-1500:] for h in survivors]
            time.sleep(0.2)
        time.sleep(4.5)  # two more occurrences on the new holder
        ticks = _ticks(hosts)
    finally:
        for h in hosts:
            h.stop()
    # Each tick belongs to the even second it was scheduled for: no occurrence twice.
    occurrences = Counter(round(at / 2) * 2 for _, at in ticks)
    assert max(occurrences.values()) == 1, occurrences
    after = [at for pid, at in ticks if at > killed_at]
    takeover = min(after) - killed_at
    new_holders = {pid for pid, at in ticks if at > killed_at}
    assert len(new_holders) == 1 and holder_pid not in new_holders
    assert takeover < 15 + 2 + 3  # lease period + polling interval + a tick
    report(
        "timer singleton, 3 hosts",
        occurrences=len(occurrences),
        fired_twice=0,
        takeover_after_kill=f"{takeover:.1f}s (lease 15 s)",
    )
