"""Worker processes (issue 16): what an invocation costs in a worker process against the
same call in the host's process, and a CPU-bound job at 1, 2 and 4 worker processes.

The invocations go through the host's own code paths (the worker pool, or the in-process
runner) with the message a queue trigger makes; no broker, so the figures are the
invocation's alone.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
from azure.functions.meta import Datum

from funchost.config.host_config import HostConfig
from funchost.core.invocation import Invocation
from funchost.core.loader import load_app
from funchost.core.runner import InProcess, RunsCode
from funchost.core.spec import FunctionSpec
from funchost.workers.interpreter import Interpreter
from funchost.workers.pool import PoolSettings, WorkerPool

APP = Path(__file__).parent / "apps" / "cpu"
CALLS = 3000  # sequential no-op calls per measurement
JOBS = 48  # CPU-bound jobs per measurement, all submitted at once
ROUNDS = 5

Started = tuple[WorkerPool, dict[str, FunctionSpec]]  # a pool and its functions by name


def _config() -> HostConfig:
    return HostConfig.load(APP, os.environ)


def _pool(count: int) -> Started:
    settings = PoolSettings(
        Interpreter(Path(sys.executable), "the bench's"), count, _config(), "", logging.WARNING,
        dict(os.environ),
    )  # fmt: skip
    pool = WorkerPool(settings)
    return pool, {s.name: s for s in pool.start().functions}


def _invocation(spec: FunctionSpec) -> Invocation:
    metadata = {"DequeueCount": Datum(1, "int"), "Id": Datum("id", "string")}
    return Invocation(spec, Datum("hello", "string"), "bench", metadata)


async def _sequential(code: RunsCode, spec: FunctionSpec) -> float:
    """Microseconds per call, one at a time."""
    for _ in range(200):  # warm-up
        await code(spec, _invocation(spec), {})
    began = time.perf_counter()
    for _ in range(CALLS):
        await code(spec, _invocation(spec), {})
    return (time.perf_counter() - began) / CALLS * 1e6


async def _jobs(code: RunsCode, spec: FunctionSpec) -> float:
    """CPU-bound jobs per second, all submitted at once."""
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(JOBS):
            tg.start_soon(code, spec, _invocation(spec), {})
    return JOBS / (time.perf_counter() - began)


async def _measure_all(
    in_process: InProcess,
    local: FunctionSpec,
    pools: dict[int, tuple[WorkerPool, dict[str, FunctionSpec]]],
) -> tuple[float, float, dict[int, float]]:
    """Every pool runs at once (idle ones cost nothing); the measurements alternate, round
    after round, so the machine's load hits each alike; medians."""
    stopping = anyio.Event()
    local_us: list[float] = []
    worker_us: list[float] = []
    rates: dict[int, list[float]] = {n: [] for n in pools}
    async with anyio.create_task_group() as tg:
        for pool, _ in pools.values():
            await tg.start(pool.run, os.environ, stopping)
        one, specs = pools[1]
        for _ in range(ROUNDS):
            local_us.append(await _sequential(in_process, local))
            worker_us.append(await _sequential(one, specs["noop"]))
            for count, (pool, remote) in pools.items():
                rates[count].append(await _jobs(pool, remote["crunch"]))
        stopping.set()
        tg.cancel_scope.cancel()
    median = statistics.median
    return median(local_us), median(worker_us), {n: median(r) for n, r in rates.items()}


def main() -> dict[str, float]:
    local = next(s for s in load_app(_config(), os.environ).functions if s.name == "noop")
    in_process = InProcess(ThreadPoolExecutor(4))
    pools = {count: _pool(count) for count in (1, 2, 4)}
    local_us, worker_us, rates = anyio.run(_measure_all, in_process, local, pools)
    print(
        f"A no-op invocation, {CALLS} one after another (the invocation alone, no broker), "
        f"{ROUNDS} alternating rounds"
    )
    print(f"  in the host's process:  {local_us:7.1f} us")
    print(f"  in a worker process:    {worker_us:7.1f} us  (+{worker_us - local_us:.1f} us)")
    print(f"A CPU-bound job (CSV crunching), {JOBS} at once, on {os.cpu_count()} cores")
    for count, rate in rates.items():
        ratio = rate / rates[1]
        print(f"  {count} worker process(es): {rate:6.1f} jobs/s  ratio to 1: {ratio:.2f}")
    return {
        "invocation_in_process_us": local_us,
        "invocation_worker_us": worker_us,
        **{f"cpu_jobs_{n}_processes_ratio": rates[n] / rates[1] for n in rates},
    }


if __name__ == "__main__":
    main()
