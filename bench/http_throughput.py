"""HTTP: a hello function through funchost against the same handler as a bare Starlette
app on uvicorn, in the same run, load from wrk (the Python generator of bench/loadgen.py
only when wrk is missing); and the time from `funchost start` to the first 200."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import HttpFigures, run_load
from bench.procs import ROOT, cpu_seconds, free_port, funchost_argv, process, wait_http_ok
from bench.wrk import find_wrk, run_wrk, version

APP = Path(__file__).parent / "apps" / "hello"
PATH = "/api/hello?name=bench"
WRK_THREADS, WRK_CONNECTIONS = 2, 50  # as in issue 21's measurement
PY_CONNECTIONS = 16  # what the Python generator drives best from one process
SECONDS = 5.0
WARMUP_SECONDS = 1.0
ROUNDS = 3
# A load generator using more than this share of one core is suspected of being a limit
# on a 2-core machine (wrk needs about a tenth of a core for 5,000 req/s).
CLIENT_CPU_LIMIT = 0.5

Load = Callable[[int, float], HttpFigures]


@dataclass(frozen=True)
class Round:
    load: HttpFigures
    server_cpu_share: float  # of one core, the server process and its children

    @property
    def client_cpu_share(self) -> float:
        return self.load.client_cpu_s / self.load.seconds


def load_generator() -> tuple[str, Load]:
    """wrk when installed, else the Python generator with a message saying why."""
    exe = find_wrk()
    if exe is not None:
        label = f"{version(exe)}, {WRK_THREADS} threads, {WRK_CONNECTIONS} connections"

        def wrk_load(port: int, seconds: float) -> HttpFigures:
            return run_wrk(
                exe,
                f"http://127.0.0.1:{port}{PATH}",
                threads=WRK_THREADS,
                connections=WRK_CONNECTIONS,
                seconds=seconds,
            )

        return label, wrk_load
    print(
        "  wrk is not installed (`make bench` installs it with apt-get; `apt-get install wrk`"
        " by hand): falling back to the Python load generator, whose figures are not"
        " comparable with wrk's (issue 21 saw it show a smaller gap to the baseline)"
    )

    def python_load(port: int, seconds: float) -> HttpFigures:
        start = time.process_time()
        run = asyncio.run(
            run_load("127.0.0.1", port, PATH, concurrency=PY_CONNECTIONS, seconds=seconds)
        )
        return run.figures(time.process_time() - start)

    return f"Python load generator, {PY_CONNECTIONS} connections", python_load


def measure(load: Load, port: int, pid: int) -> Round:
    load(port, WARMUP_SECONDS)
    cpu0 = cpu_seconds(pid)
    figures = load(port, SECONDS)
    return Round(figures, (cpu_seconds(pid) - cpu0) / figures.seconds)


def startup_seconds(runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        port = free_port()
        start = time.perf_counter()
        with process(funchost_argv(APP, port)):
            wait_http_ok(f"http://127.0.0.1:{port}/api/hello")
            times.append(time.perf_counter() - start)
    return times


def main() -> dict[str, float | str]:
    # Both servers stay up and are measured alternately, so background load on a small
    # machine hits both alike; the figures are medians over the rounds.
    label, load = load_generator()
    base_port, host_port = free_port(), free_port()
    base_runs: list[Round] = []
    host_runs: list[Round] = []
    with (
        process([sys.executable, str(ROOT / "bench" / "baseline_http.py"), str(base_port)]) as (
            base_proc,
            _,
        ),
        process(funchost_argv(APP, host_port), ready=r"Host started") as (host_proc, _),
    ):
        wait_http_ok(f"http://127.0.0.1:{base_port}/api/hello")
        wait_http_ok(f"http://127.0.0.1:{host_port}/api/hello")
        for _ in range(ROUNDS):
            base_runs.append(measure(load, base_port, base_proc.pid))
            host_runs.append(measure(load, host_port, host_proc.pid))
    starts = startup_seconds()
    base, host = _median(base_runs), _median(host_runs)
    pairs = list(zip(host_runs, base_runs, strict=True))
    ratio = statistics.median(h.load.rps / b.load.rps for h, b in pairs)
    p99_ratio = statistics.median(h.load.p99_ms / b.load.p99_ms for h, b in pairs)
    client_cpu = max(r.client_cpu_share for r in base_runs + host_runs)
    print(f"HTTP hello, {label}, keep-alive, {ROUNDS} alternating rounds of {SECONDS:.0f}s")
    for name, r in (("bare Starlette+uvicorn", base), ("funchost", host)):
        print(
            f"  {name + ':':23s} {r.load.rps:8.0f} req/s  p50 {r.load.p50_ms:6.2f} ms  "
            f"p99 {r.load.p99_ms:6.2f} ms  errors {r.load.errors}  "
            f"(server CPU {r.server_cpu_share:.0%} of a core)"
        )
    print(f"  ratio funchost/baseline: {ratio:.2f} req/s (goal >= 0.80), p99 {p99_ratio:.2f}x")
    print(
        f"  load generator CPU: at most {client_cpu:.0%} of a core in any round"
        + (
            f"  WARNING: above {CLIENT_CPU_LIMIT:.0%}, the generator may be a limit"
            if client_cpu > CLIENT_CPU_LIMIT
            else ""
        )
    )
    print(
        f"  funchost start -> first 200: median {statistics.median(starts):.2f}s "
        f"(runs: {', '.join(f'{s:.2f}' for s in starts)}; goal < 1.5s)"
    )
    return {
        "http_load_generator": label,
        "http_rps_host": host.load.rps,
        "http_rps_base": base.load.rps,
        "http_ratio": ratio,
        "http_p99_ratio": p99_ratio,
        "http_p50_host_ms": host.load.p50_ms,
        "http_p99_host_ms": host.load.p99_ms,
        "http_p50_base_ms": base.load.p50_ms,
        "http_p99_base_ms": base.load.p99_ms,
        "http_server_cpu_host": host.server_cpu_share,
        "http_server_cpu_base": base.server_cpu_share,
        "http_client_cpu_max": client_cpu,
        "start_to_first_200_s": statistics.median(starts),
    }


def _median(runs: list[Round]) -> Round:
    return sorted(runs, key=lambda r: r.load.rps)[len(runs) // 2]


if __name__ == "__main__":
    main()
