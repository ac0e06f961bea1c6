"""Timer: how late an every-second timer's user code starts after its occurrence, through
funchost (storage lease and all, against Azurite), beside a bare asyncio loop sleeping to
the same whole seconds in this process, so machine noise shows up in both figures."""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.procs import ROOT, free_port, funchost_argv, process
from funchost.devservices.azurite import Azurite, find_azurite

APP = Path(__file__).parent / "apps" / "timer_tick"
SECONDS = 15.0
GOAL_P99_MS = 50.0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1)]


def lateness_ms(starts: list[float]) -> list[float]:
    # The schedule fires on whole seconds, so a run's occurrence is the second it starts in.
    return [(t - math.floor(t)) * 1000 for t in starts]


def baseline(seconds: float) -> list[float]:
    """A bare loop: sleep until the next whole second, note how late it woke."""

    async def run() -> list[float]:
        woke: list[float] = []
        end = time.time() + seconds
        while time.time() < end:
            await asyncio.sleep(math.floor(time.time()) + 1 - time.time())
            woke.append(time.time())
        return woke

    return lateness_ms(asyncio.run(run()))


def main() -> dict[str, float]:
    exe = find_azurite(ROOT)
    if exe is None:
        raise RuntimeError("Azurite is not installed: run `npm ci` (make bench does)")
    azurite = Azurite(exe)
    azurite.start()
    out = Path(tempfile.mkstemp(prefix="bench-timer-", suffix=".txt")[1])
    try:
        assert azurite.endpoints is not None
        env = {
            "AzureWebJobsStorage": azurite.endpoints.connection_string,
            "AzureFunctionsWebHost__hostid": "bench" + uuid.uuid4().hex[:12],
            "BENCH_TIMER_OUT": str(out),
        }
        base: list[float] = []
        with process(funchost_argv(APP, free_port()), env=env, ready=r"Host started"):
            side = threading.Thread(target=lambda: base.extend(baseline(SECONDS)))
            side.start()
            time.sleep(SECONDS)
            side.join()
        host = lateness_ms([float(x) for x in out.read_text().split()])
    finally:
        out.unlink(missing_ok=True)
        azurite.stop()
    if len(host) < SECONDS / 2:
        raise RuntimeError(f"only {len(host)} timer runs in {SECONDS:.0f}s")
    figures = {
        "timer_jitter_p50_ms": statistics.median(host),
        "timer_jitter_p99_ms": percentile(host, 99),
        "timer_jitter_max_ms": max(host),
        "timer_runs": float(len(host)),
        "timer_baseline_p50_ms": statistics.median(base),
        "timer_baseline_p99_ms": percentile(base, 99),
    }
    print(
        f"Timer '* * * * * *' for {SECONDS:.0f}s: {len(host)} runs; lateness of user code "
        f"after each occurrence"
    )
    print(
        f"  funchost:          p50 {figures['timer_jitter_p50_ms']:6.2f} ms  "
        f"p99 {figures['timer_jitter_p99_ms']:6.2f} ms  "
        f"max {figures['timer_jitter_max_ms']:6.2f} ms"
        f"  (goal p99 < {GOAL_P99_MS:.0f} ms)"
    )
    print(
        f"  bare asyncio loop: p50 {figures['timer_baseline_p50_ms']:6.2f} ms  "
        f"p99 {figures['timer_baseline_p99_ms']:6.2f} ms"
    )
    return figures


if __name__ == "__main__":
    main()
