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
from collections.abc import Awaitable, Callable
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
JOBS = 24  # CPU-bound jobs per measurement, all submitted at once
ROUNDS = 3

Measure = Callable[[RunsCode, FunctionSpec], Awaitable[float]]


def _config() -> HostConfig:
    return HostConfig.load(APP, os.environ)


def _pool(count: int) -> tuple[WorkerPool, dict[str, FunctionSpec]]:
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


async def _with_pool(
    pool: WorkerPool,
    measure: Callable[[RunsCode, FunctionSpec], Awaitable[float]],
    spec: FunctionSpec,
) -> float:
    stopping = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(pool.run, os.environ, stopping)
        result = await measure(pool, spec)
        stopping.set()
        tg.cancel_scope.cancel()
    return result


def main() -> dict[str, float]:
    specs = {s.name: s for s in load_app(_config(), os.environ).functions}
    in_process = InProcess(ThreadPoolExecutor(4))
    local_us = statistics.median(
        anyio.run(_sequential, in_process, specs["noop"]) for _ in range(ROUNDS)
    )
    pool, remote = _pool(1)
    # One pool, started once: the figure is the call's, not the start's.
    worker_us = anyio.run(_with_pool, pool, _sequential, remote["noop"])
    print(f"A no-op invocation, {CALLS} one after another (the invocation alone, no broker)")
    print(f"  in the host's process:  {local_us:7.1f} us")
    print(f"  in a worker process:    {worker_us:7.1f} us  (+{worker_us - local_us:.1f} us)")
    rates: dict[int, float] = {}
    for count in (1, 2, 4):
        pool, remote = _pool(count)
        rates[count] = anyio.run(_with_pool, pool, _jobs, remote["crunch"])
    print(f"A CPU-bound job (CSV crunching), {JOBS} at once, on {os.cpu_count()} cores")
    for count, rate in rates.items():
        print(
            f"  {count} worker process(es): {rate:6.1f} jobs/s  ratio to 1: {rate / rates[1]:.2f}"
        )
    return {
        "invocation_in_process_us": local_us,
        "invocation_worker_us": worker_us,
        **{f"cpu_jobs_{n}_processes_ratio": rates[n] / rates[1] for n in rates},
    }


if __name__ == "__main__":
    main()
