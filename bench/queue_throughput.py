"""Queue: a no-op queue function through funchost against a bare azure-storage-queue aio
loop doing the same receive/delete work at the same concurrency, in the same run, on a
shallow queue; then enqueue-to-invocation latency when idle and through the fast path."""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from bench.procs import ROOT, free_port, funchost_argv, process
from bench.storage import azurite, steady_rate

APP = Path(__file__).parent / "apps" / "queue_noop"
MESSAGES = 2000
ROUNDS = 5
BATCH, THRESHOLD = 16, 16  # the host's defaults on 2 cores: (16 / 2) * 2


def host_env(conn: str, queue: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": conn,
        "BENCH_Q": queue,
        "BENCH_IDLE": f"idle-{tag}",
        "BENCH_CHAIN": f"chain-{tag}",
        "AzureFunctionsJobHost__extensions__queues__batchSize": str(BATCH),
        "AzureFunctionsJobHost__extensions__queues__newBatchThreshold": str(THRESHOLD),
    }


def baseline_argv(conn: str, queue: str) -> list[str]:
    """The bare loop on `queue`, at the host's concurrency; it prints `ready` when polling."""
    return [
        sys.executable,
        str(ROOT / "bench" / "baseline_queue.py"),
        conn,
        queue,
        str(BATCH),
        str(THRESHOLD),
    ]


def run_baseline(conn: str) -> float:
    name = f"base-{uuid.uuid4().hex[:10]}"
    QueueClient.from_connection_string(conn, name).create_queue()
    with process(baseline_argv(conn, name), ready=r"ready"):
        return asyncio.run(steady_rate(conn, name, MESSAGES))


def run_host(conn: str) -> float:
    name = f"host-{uuid.uuid4().hex[:10]}"
    QueueClient.from_connection_string(conn, name).create_queue()
    with process(funchost_argv(APP, free_port()), env=host_env(conn, name), ready=r"Host started"):
        return asyncio.run(steady_rate(conn, name, MESSAGES))


def latencies(conn: str) -> tuple[list[float], list[float]]:
    env = host_env(conn, f"unused-{uuid.uuid4().hex[:8]}")
    with process(funchost_argv(APP, free_port()), env=env, ready=r"Host started") as (_, log):
        idle = QueueClient.from_connection_string(conn, env["BENCH_IDLE"])
        chain = QueueClient.from_connection_string(conn, env["BENCH_CHAIN"])
        for q in (idle, chain):
            with contextlib.suppress(ResourceExistsError):
                q.create_queue()
        import base64

        for _ in range(6):
            time.sleep(1.0)  # let the listener back off, as an idle host does
            idle.send_message(base64.b64encode(str(time.time()).encode()).decode())
        # One chain at a time: the hop measured is output -> trigger in the same host,
        # not how a burst queues up behind Azurite.
        for i in range(1, 21):
            chain.send_message(base64.b64encode(b"go").decode())
            _wait_for(log, "FAST_LATENCY_MS", i)
        _wait_for(log, "IDLE_LATENCY_MS", 6)
        text = log.read_text()
    return (
        [float(x) for x in re.findall(r"IDLE_LATENCY_MS ([\d.]+)", text)],
        [float(x) for x in re.findall(r"FAST_LATENCY_MS ([\d.]+)", text)],
    )


def _wait_for(log: Path, marker: str, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(marker, log.read_text())) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{marker} x{count} not seen in {timeout}s")
        time.sleep(0.01)


def main() -> dict[str, float]:
    # A fresh in-memory Azurite for every measurement: it slows down sharply as the
    # messages it has held pile up, which would penalise whichever ran later.
    base_runs, host_runs = [], []
    for _ in range(ROUNDS):
        with azurite() as conn:
            base_runs.append(run_baseline(conn))
        with azurite() as conn:
            host_runs.append(run_host(conn))
    with azurite() as conn:
        idle, fast = latencies(conn)
    ratio = statistics.median(h / b for h, b in zip(host_runs, base_runs, strict=True))
    base, host = statistics.median(base_runs), statistics.median(host_runs)
    print(
        f"Queue no-op, {MESSAGES} messages per round through a queue kept 100-200 deep, "
        f"batch {BATCH} + threshold {THRESHOLD}, {ROUNDS} alternating rounds, Azurite"
    )
    print(
        f"  bare SDK aio loop: {base:7.0f} msg/s  (rounds: "
        f"{', '.join(f'{r:.0f}' for r in base_runs)})"
    )
    print(
        f"  funchost:          {host:7.0f} msg/s  (rounds: "
        f"{', '.join(f'{r:.0f}' for r in host_runs)})"
    )
    print(f"  ratio funchost/baseline: {ratio:.2f}  (goal >= 0.90)")
    print(
        f"  enqueue -> invocation, idle host (maxPollingInterval 2 s in Development): "
        f"p50 {statistics.median(idle):.0f} ms, max {max(idle):.0f} ms"
    )
    print(
        f"  enqueue -> invocation through the fast path: p50 {statistics.median(fast):.1f} ms, "
        f"p99 {sorted(fast)[int(0.99 * (len(fast) - 1))]:.1f} ms  (goal p50 < 20 ms)"
    )
    return {
        "queue_rate_host": host,
        "queue_rate_base": base,
        "queue_ratio": ratio,
        "queue_idle_latency_p50_ms": statistics.median(idle),
        "queue_fast_latency_p50_ms": statistics.median(fast),
    }


if __name__ == "__main__":
    main()
