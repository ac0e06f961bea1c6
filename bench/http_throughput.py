"""HTTP: a hello function through funchost against the same handler as a bare Starlette
app on uvicorn, in the same run; and the time from `funchost start` to the first 200."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from bench.loadgen import LoadResult, run_load
from bench.procs import ROOT, free_port, funchost_argv, process, wait_http_ok

APP = Path(__file__).parent / "apps" / "hello"
CONCURRENCY = 16
SECONDS = 4.0
ROUNDS = 3


def measure(port: int) -> LoadResult:
    # A short warm-up, then the measured run.
    asyncio.run(
        run_load("127.0.0.1", port, "/api/hello?name=bench", concurrency=CONCURRENCY, seconds=0.5)
    )
    return asyncio.run(
        run_load(
            "127.0.0.1", port, "/api/hello?name=bench", concurrency=CONCURRENCY, seconds=SECONDS
        )
    )


def startup_seconds(runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        port = free_port()
        start = time.perf_counter()
        with process(funchost_argv(APP, port)):
            wait_http_ok(f"http://127.0.0.1:{port}/api/hello")
            times.append(time.perf_counter() - start)
    return times


def main() -> dict[str, float]:
    # Both servers stay up and are measured alternately, so background load on a small
    # machine hits both alike; the figures are medians over the rounds.
    base_port, host_port = free_port(), free_port()
    base_runs: list[LoadResult] = []
    host_runs: list[LoadResult] = []
    with (
        process([sys.executable, str(ROOT / "bench" / "baseline_http.py"), str(base_port)]),
        process(funchost_argv(APP, host_port), ready=r"Host started"),
    ):
        wait_http_ok(f"http://127.0.0.1:{base_port}/api/hello")
        wait_http_ok(f"http://127.0.0.1:{host_port}/api/hello")
        for _ in range(ROUNDS):
            base_runs.append(measure(base_port))
            host_runs.append(measure(host_port))
    starts = startup_seconds()
    base, host = _median(base_runs), _median(host_runs)
    ratio = statistics.median(h.rps / b.rps for h, b in zip(host_runs, base_runs, strict=True))
    print(
        f"HTTP hello, {CONCURRENCY} connections, keep-alive, {ROUNDS} alternating rounds "
        f"of {SECONDS:.0f}s"
    )
    print(
        f"  bare Starlette+uvicorn: {base.rps:8.0f} req/s  p50 {base.p50:6.2f} ms  "
        f"p99 {base.percentile(99):6.2f} ms  errors {base.errors}"
    )
    print(
        f"  funchost:               {host.rps:8.0f} req/s  p50 {host.p50:6.2f} ms  "
        f"p99 {host.percentile(99):6.2f} ms  errors {host.errors}"
    )
    print(f"  ratio funchost/baseline: {ratio:.2f}  (goal >= 0.70)")
    print(
        f"  funchost start -> first 200: median {statistics.median(starts):.2f}s "
        f"(runs: {', '.join(f'{s:.2f}' for s in starts)}; goal < 1.5s)"
    )
    return {
        "http_rps_host": host.rps,
        "http_rps_base": base.rps,
        "http_ratio": ratio,
        "http_p50_host_ms": host.p50,
        "http_p99_host_ms": host.percentile(99),
        "http_p50_base_ms": base.p50,
        "http_p99_base_ms": base.percentile(99),
        "start_to_first_200_s": statistics.median(starts),
    }


def _median(runs: list[LoadResult]) -> LoadResult:
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


if __name__ == "__main__":
    main()
