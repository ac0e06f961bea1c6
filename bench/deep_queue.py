"""Deep queues: the host's queue trigger (a no-op function) against the bare
azure-storage-queue aio loop (bench/baseline_queue.py, same receive/delete work and
concurrency) consuming from a queue 10,000 messages deep.

Azurite's cost per receive and delete grows with the queue's depth, so both consume from
the same queue on the same Azurite, topped up to 10,000 before each measurement, in the
order bare, host, host, bare: a drift over the run then weighs on both alike. Each
measurement takes 1,000 messages (so the depth stays within a tenth of 10,000) and the rate
is read from the queue's depth (`bench.storage.consumption_rate`), the same way for both.
The filling happens before each consumer starts, so it is not measured."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from azure.storage.queue import QueueClient

from bench.procs import free_port, funchost_argv, process
from bench.queue_throughput import APP, BATCH, THRESHOLD, baseline_argv, host_env
from bench.storage import azurite, consumption_rate, fill

DEPTH = 10_000
COUNT = 1_000  # messages taken per measurement
ORDER = ("bare", "host", "host", "bare")


def consume(who: str, conn: str, queue: str) -> float:
    if who == "bare":
        with process(baseline_argv(conn, queue), ready=r"ready"):
            return asyncio.run(consumption_rate(conn, queue, DEPTH, COUNT))
    # Only the no-op function: the app's latency probes would poll queues the bare loop
    # does not.
    argv = funchost_argv(APP, free_port(), "--functions", "noop")
    with process(argv, env=host_env(conn, queue), ready=r"Host started"):
        return asyncio.run(consumption_rate(conn, queue, DEPTH, COUNT))


def top_up(conn: str, queue: str) -> float:
    """Fill `queue` back to DEPTH; returns the seconds it took."""
    start = time.perf_counter()
    depth = QueueClient.from_connection_string(conn, queue).get_queue_properties()
    asyncio.run(fill(conn, queue, DEPTH - (depth.approximate_message_count or 0)))
    return time.perf_counter() - start


def main() -> dict[str, float]:
    rates: dict[str, list[float]] = {"bare": [], "host": []}
    with azurite() as conn:
        queue = f"deep-{uuid.uuid4().hex[:8]}"
        QueueClient.from_connection_string(conn, queue).create_queue()
        filled = top_up(conn, queue)
        for who in ORDER:
            top_up(conn, queue)
            rates[who].append(consume(who, conn, queue))
            print(f"    ({who}: {rates[who][-1]:.0f} msg/s)", flush=True)
    base, host = statistics.mean(rates["bare"]), statistics.mean(rates["host"])
    ratio = host / base
    print(
        f"Deep queue: {COUNT} messages taken from a queue {DEPTH} deep, no-op, batch {BATCH}"
        f" + threshold {THRESHOLD}, one Azurite, order {', '.join(ORDER)}"
    )
    for who, label in (("bare", "bare SDK aio loop"), ("host", "funchost")):
        print(
            f"  {label + ':':18s} {statistics.mean(rates[who]):6.0f} msg/s  (measurements: "
            f"{', '.join(f'{r:.0f}' for r in rates[who])})"
        )
    print(f"  ratio funchost/baseline: {ratio:.2f}")
    print(f"  (filling the queue to {DEPTH} took {filled:.0f}s, before any consumer started)")
    return {"deep_queue_rate_host": host, "deep_queue_rate_base": base, "deep_queue_ratio": ratio}


if __name__ == "__main__":
    main()
