"""The worker's pool for sync functions (funchost.workers.sync_pool) against Python's
ThreadPoolExecutor, the real worker's, at the same limit (6 threads: 2 cores + 4).

Jobs are submitted from an event loop and awaited there, as the worker does, each kind as
the worker would submit it once it has timed a few calls (funchost.workers.sync_pool.
CallTimes): bursts of short CPU jobs with `submit_short`, bursts of jobs that block with
`submit`. In one process the short jobs gain little: the gain shows when the machine's
cores are busy with the host and the broker too (bench/servicebus_trigger.py).
Alternating rounds, medians.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from funchost.workers.sync_pool import CallTimes, SyncPool

THREADS = 6
ROUNDS = 5
SHORT_BURSTS = 400  # bursts of 8 short jobs
BLOCKING_BURSTS = 40  # bursts of 6 jobs that sleep


def _short() -> int:
    return sum(range(200))  # ~5 us: a no-op function's own work is about this


async def _bursts(pool: Executor, job: Callable[..., Any], args: tuple[Any, ...],
                  size: int, bursts: int) -> float:  # fmt: skip
    """Seconds per burst: `size` jobs at once, awaited together."""
    times = CallTimes()

    def timed() -> None:
        began = time.perf_counter()
        job(*args)
        times.record("job", time.perf_counter() - began)

    submit = pool.submit
    began = time.perf_counter()
    for _ in range(bursts):
        if isinstance(pool, SyncPool) and times.short("job"):
            submit = pool.submit_short
        await asyncio.gather(*(asyncio.wrap_future(submit(timed)) for _ in range(size)))
    return (time.perf_counter() - began) / bursts


async def _measure() -> dict[str, dict[str, float]]:
    pools: dict[str, Executor] = {
        "ThreadPoolExecutor": ThreadPoolExecutor(THREADS, "tpe"),
        "SyncPool": SyncPool(THREADS, "sync"),
    }
    kinds: dict[str, tuple[Callable[..., Any], tuple[Any, ...], int, int]] = {
        "short": (_short, (), 8, SHORT_BURSTS),
        "sleep 1 ms": (time.sleep, (0.001,), 6, BLOCKING_BURSTS),
        "sleep 3 ms": (time.sleep, (0.003,), 6, BLOCKING_BURSTS),
        "sleep 20 ms": (time.sleep, (0.02,), 6, BLOCKING_BURSTS // 4),
    }
    seen: dict[str, dict[str, list[float]]] = {k: {p: [] for p in pools} for k in kinds}
    for _ in range(ROUNDS):
        for kind, (job, args, size, bursts) in kinds.items():
            for name, pool in pools.items():
                seen[kind][name].append(await _bursts(pool, job, args, size, bursts))
    for pool in pools.values():
        pool.shutdown()
    return {k: {p: statistics.median(v) for p, v in by.items()} for k, by in seen.items()}


def main() -> dict[str, float]:
    figures = asyncio.run(_measure())
    print(f"Sync jobs from an event loop, {THREADS} threads, {ROUNDS} alternating rounds")
    results: dict[str, float] = {}
    for kind, by in figures.items():
        tpe, ours = by["ThreadPoolExecutor"], by["SyncPool"]
        size = 8 if kind == "short" else 6
        print(
            f"  {kind:12} burst of {size}: ThreadPoolExecutor {tpe * 1e3:6.2f} ms, "
            f"SyncPool {ours * 1e3:6.2f} ms  (SyncPool takes {ours / tpe:.2f}x the time)"
        )
        results[f"sync_pool_{kind.replace(' ', '_')}_time_ratio"] = ours / tpe
    return results


if __name__ == "__main__":
    main()
