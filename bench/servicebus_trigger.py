"""Service Bus: a no-op Service Bus trigger through funchost against the fastest bare SDK
loop at the same concurrency (receive up to 32, run the no-op calls together, complete
each; see baseline_servicebus.py), both on the project's emulator, in the same run; and
the emulator's own figures beside them (send, receive+complete: bench.sbemulator_throughput).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from bench.hostlog import steady_rate, wait_executed, wait_matches
from bench.procs import ROOT, free_port, funchost_argv, process
from bench.sbemulator_throughput import emulator_figures
from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.triggers.servicebus import receiver_shares

APP = Path(__file__).parent / "apps" / "sb_noop"
MESSAGES = 4000
CONCURRENCY = 32
ROUNDS = 5
# How funchost's listener splits CONCURRENCY over its receivers, for the like-for-like loop.
HOST_SHARES = receiver_shares(CONCURRENCY, {}, what="bench")


def fill(conn: str, queue: str = "bench", count: int = MESSAGES) -> None:
    with (
        ServiceBusClient.from_connection_string(conn) as client,
        client.get_queue_sender(queue) as sender,
    ):
        for _ in range(0, count, 100):
            sender.send_messages([ServiceBusMessage("{}") for _ in range(100)])


def run_baseline(conn: str, shares: list[int] | None = None) -> float:
    fill(conn)
    argv = [
        sys.executable,
        str(ROOT / "bench" / "baseline_servicebus.py"),
        conn,
        "bench",
        ",".join(map(str, shares or [CONCURRENCY])),
    ]
    with process(argv, ready="ready") as (_, log):
        done = wait_matches([log], r"done ([\d.]+)", MESSAGES)
    return steady_rate([float(s) for s in done])


def run_host(conn: str, function: str = "noop") -> float:
    queue = "bench" if function == "noop" else "bench-sync"
    fill(conn, queue)
    env = {
        "AzureWebJobsServiceBus": conn,
        "BENCH_QUEUE": "bench",
        "BENCH_SYNC_QUEUE": "bench-sync",
        "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls": str(CONCURRENCY),
    }
    with process(
        funchost_argv(APP, free_port(), "--functions", function), env=env, ready="Host started"
    ) as (_, log):
        stamps = wait_executed([log], function, MESSAGES)
    return steady_rate(stamps)


def run_host_sync(conn: str) -> float:
    return run_host(conn, "noop_sync")


def run_baseline_like_host(conn: str) -> float:
    """The bare loop split over as many receivers as funchost's listener uses here."""
    return run_baseline(conn, HOST_SHARES)


def main() -> dict[str, float]:
    base_runs: list[float] = []
    host_runs: list[float] = []
    sync_runs: list[float] = []
    split_runs: list[float] = []
    for _ in range(ROUNDS):
        for runs, run in (
            (base_runs, run_baseline),
            (host_runs, run_host),
            (sync_runs, run_host_sync),
            (split_runs, run_baseline_like_host),
        ):
            emulator = ServiceBusEmulator(extra_args=["--queue", "bench", "--queue", "bench-sync"])
            emulator.start()
            try:
                assert emulator.connection_string is not None
                runs.append(run(emulator.connection_string))
            finally:
                emulator.stop()
    ratio = statistics.median(h / b for h, b in zip(host_runs, base_runs, strict=True))
    sync_ratio = statistics.median(h / b for h, b in zip(sync_runs, base_runs, strict=True))
    base, host = statistics.median(base_runs), statistics.median(host_runs)
    sync = statistics.median(sync_runs)
    split = statistics.median(split_runs)
    split_ratio = statistics.median(h / b for h, b in zip(host_runs, split_runs, strict=True))
    print(
        f"Service Bus no-op, {MESSAGES} messages per round, {CONCURRENCY} concurrent, "
        f"{ROUNDS} alternating rounds, the project's emulator"
    )
    print(
        f"  bare SDK aio loop:     {base:3.0f} msg/s  (rounds: "
        f"{', '.join(f'{r:.0f}' for r in base_runs)}; receive 32, no-op together, "
        "complete each)"
    )
    print(
        f"  funchost, async no-op: {host:3.0f} msg/s  (rounds: "
        f"{', '.join(f'{r:.0f}' for r in host_runs)})"
    )
    print(f"  ratio funchost/baseline: {ratio:.2f}  (goal >= 0.90)")
    print(
        f"  funchost, sync no-op:  {sync:5.0f} msg/s  (rounds: "
        f"{', '.join(f'{r:.0f}' for r in sync_runs)}); ratio {sync_ratio:.2f}"
    )
    print(
        f"  bare loop split like the host ({len(HOST_SHARES)} receivers): {split:3.0f} msg/s  "
        "(rounds: "
        f"{', '.join(f'{r:.0f}' for r in split_runs)}); funchost async / that: {split_ratio:.2f}"
    )
    figures = emulator_figures()
    print(
        f"  the emulator itself (aio SDK, in memory, batches of 100): send "
        f"{figures['aio_send']:.0f} msg/s, receive+complete {figures['aio_receive_complete']:.0f}"
        f" msg/s; sync SDK: send {figures['sync_send']:.0f}, receive+complete "
        f"{figures['sync_receive_complete']:.0f}"
    )
    return {
        "sb_emulator_send": figures["aio_send"],
        "sb_emulator_receive_complete": figures["aio_receive_complete"],
        "sb_rate_host": host,
        "sb_rate_base": base,
        "sb_ratio": ratio,
        "sb_rate_host_sync": sync,
        "sb_ratio_sync": sync_ratio,
        "sb_rate_base_split": split,
        "sb_ratio_split": split_ratio,
    }


if __name__ == "__main__":
    main()
