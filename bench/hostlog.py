"""Waiting on what processes write to their logs, and reading from the host's own log when
each invocation finished (the `Executed 'Functions.<name>' (Succeeded, ...)` line every
invocation writes): for consumers with no queue depth to watch, and for several hosts."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path


def wait_matches(logs: Sequence[Path], pattern: str, count: int, timeout: float = 120) -> list[str]:
    """The first group of every match of `pattern` over all `logs`, once there are at least
    `count` (or at the timeout: the caller checks how many came back). Each log is read
    once, as it grows (whole lines only): the reader must not take the CPU the processes it
    measures need."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    offsets = dict.fromkeys(logs, 0)
    found: list[str] = []
    while True:
        for log in logs:
            with log.open("rb") as f:
                f.seek(offsets[log])
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offsets[log] += len(complete)
            found += regex.findall(complete.decode(errors="replace"))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def wait_executed(
    logs: Sequence[Path], function: str, count: int, timeout: float = 120
) -> list[float]:
    """The Unix times, sorted, at which `function` finished successfully over all `logs`,
    once at least `count` did (or at the timeout)."""
    pattern = rf"\[([\dT:.-]+)Z\] Executed 'Functions\.{re.escape(function)}' \(Succeeded"
    return sorted(
        datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp()
        for s in wait_matches(logs, pattern, count, timeout)
    )


def steady_rate(stamps: list[float]) -> float:
    """Completions/s between the 10th and 90th percentile completion (steady state)."""
    stamps = sorted(stamps)
    lo, hi = int(0.1 * len(stamps)), int(0.9 * len(stamps)) - 1
    return (hi - lo) / (stamps[hi] - stamps[lo])
