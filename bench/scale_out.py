"""Scale-out: 1, 2 and 4 host processes (`funchost start`, same app, own ports) competing
on one storage queue (Azurite) and on one Service Bus queue (the project's emulator), with
an I/O-bound function (an async 20 ms wait), printing throughput and the ratio to one host.

Each run gets a fresh Azurite or emulator, and the hosts start together before anything is
measured. Service Bus: the queue is filled before the hosts start (not measured, so never
the limit), and the rate counts completions (each host's `Executed` log lines) from the
moment the last host was up to the moment nine tenths of the messages were done, leaving
out start-up and the drain. Storage: Azurite's cost per receive and delete grows with the
queue's depth (deleting 16 messages took about 0.1 s at 200 deep and 0.5-0.9 s at 4,000
deep on the 2-core machine), so a queue filled for ten seconds of work would measure
that; the queue is instead kept 400-700 deep while the hosts drain it
(`bench.storage.steady_feed`), and a run whose queue ever got as shallow as what the hosts
can hold is flagged: the feeding may have been the limit there. CPU time of the hosts and
of Azurite or the emulator over the same stretch shows which of them bounds the curve."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.storage.queue import QueueClient

from bench.hostlog import wait_executed
from bench.procs import cpu_seconds, free_port, funchost_argv, process, wait_ready
from bench.servicebus_trigger import fill as fill_servicebus
from bench.storage import azurite_service, steady_feed
from funchost.devservices.servicebus import ServiceBusEmulator

APP = Path(__file__).parent / "apps" / "io_sleep"
HOSTS = (1, 2, 4)
ROUNDS = 2  # the second in reverse order (4, 2, 1), so drift over the run hits all alike
IO_MS = 20
CPUS = os.cpu_count() or 1
# The host's defaults here: batchSize 16 + newBatchThreshold (16 / 2) * cores storage
# messages in flight; maxConcurrentCalls 16 * cores Service Bus messages.
STORAGE_SLOTS, SERVICEBUS_SLOTS = 16 + 8 * CPUS, 16 * CPUS
# About ten seconds of work for one host on a quiet 2-core machine, going by the no-op
# figures of the README and docs/sbemulator.md (storage about 400 msg/s, bound by Azurite;
# Service Bus about 1,000 msg/s, bound by the host's CPU).
STORAGE_MESSAGES = 4000
SERVICEBUS_MESSAGES = 10_000
STORAGE_LOW, STORAGE_CHUNK = 400, 300  # the depth kept: well above what 4 hosts hold (128)
SB_QUEUE = "bench"
TIMEOUT = 300


@dataclass(frozen=True)
class Run:
    rate: float  # completions/s with every host up
    hosts_cpu: float  # share of one core, all hosts together
    broker_cpu: float  # share of one core, Azurite or the emulator
    feeder_limited: bool = False  # the storage queue got as shallow as the hosts' slots


@dataclass(frozen=True)
class Hosts:
    pids: list[int]
    logs: list[Path]
    up_at: float  # Unix time when the last one was up

    def cpu(self) -> float:
        return sum(map(cpu_seconds, self.pids))


@contextmanager
def hosts(count: int, function: str, env: dict[str, str]) -> Iterator[Hosts]:
    """`count` hosts of the app running only `function`, started together, once every one
    is up."""
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                process(funchost_argv(APP, free_port(), "--functions", function), env=env)
            )
            for _ in range(count)
        ]
        for proc, log in started:
            wait_ready(proc, log, r"Host started", timeout=60)
        yield Hosts([proc.pid for proc, _ in started], [log for _, log in started], time.time())


def storage_run(count: int) -> Run:
    with azurite_service() as azurite:
        assert azurite.endpoints is not None
        conn = azurite.endpoints.connection_string
        queue = f"scale-{uuid.uuid4().hex[:10]}"
        QueueClient.from_connection_string(conn, queue).create_queue()
        env = {"AzureWebJobsStorage": conn, "BENCH_Q": queue, "BENCH_QUEUE": "unused"}
        with hosts(count, "storage_io", env) as running:
            cpu0, broker0, start = running.cpu(), cpu_seconds(azurite.pid), time.perf_counter()
            feed = asyncio.run(
                steady_feed(
                    conn, queue, STORAGE_MESSAGES, STORAGE_LOW, STORAGE_CHUNK, timeout=TIMEOUT
                )
            )
            elapsed = time.perf_counter() - start
            cpu1, broker1 = running.cpu(), cpu_seconds(azurite.pid)
    return Run(
        feed.rate,
        (cpu1 - cpu0) / elapsed,
        (broker1 - broker0) / elapsed,
        feeder_limited=feed.min_depth <= count * STORAGE_SLOTS,
    )


def servicebus_run(count: int) -> Run:
    emulator = ServiceBusEmulator(extra_args=["--queue", SB_QUEUE])
    emulator.start()
    try:
        conn = emulator.connection_string
        assert conn is not None
        fill_servicebus(conn, SB_QUEUE, SERVICEBUS_MESSAGES)
        env = {"AzureWebJobsServiceBus": conn, "BENCH_QUEUE": SB_QUEUE, "BENCH_Q": "unused"}
        with hosts(count, "servicebus_io", env) as running:
            cpu0, broker0 = running.cpu(), cpu_seconds(emulator.pid)
            stamps = wait_executed(
                running.logs, "servicebus_io", SERVICEBUS_MESSAGES, timeout=TIMEOUT
            )
            elapsed = time.time() - running.up_at
            cpu1, broker1 = running.cpu(), cpu_seconds(emulator.pid)
    finally:
        emulator.stop()
    if len(stamps) < SERVICEBUS_MESSAGES:
        raise RuntimeError(
            f"Service Bus, {count} host(s): {len(stamps)} of {SERVICEBUS_MESSAGES} messages "
            f"done in {TIMEOUT}s"
        )
    end = stamps[int(0.9 * SERVICEBUS_MESSAGES) - 1]
    inside = sum(1 for s in stamps if running.up_at <= s <= end)
    if inside < 0.2 * SERVICEBUS_MESSAGES:
        raise RuntimeError(
            f"Service Bus, {count} host(s): only {inside} of {SERVICEBUS_MESSAGES} messages "
            "were done once every host was up; raise SERVICEBUS_MESSAGES"
        )
    return Run(
        inside / (end - running.up_at), (cpu1 - cpu0) / elapsed, (broker1 - broker0) / elapsed
    )


def measure(label: str, run: Callable[[int], Run]) -> dict[int, list[Run]]:
    runs: dict[int, list[Run]] = {n: [] for n in HOSTS}
    for round_ in range(ROUNDS):
        for n in HOSTS if round_ % 2 == 0 else tuple(reversed(HOSTS)):
            result = run(n)
            # A line per run: a full pass takes minutes on a small machine.
            print(f"    ({label}, {n} host(s): {result.rate:.0f} msg/s)", flush=True)
            runs[n].append(result)
    return runs


def report(key: str, runs: dict[int, list[Run]]) -> dict[str, float]:
    rate = {n: statistics.median(r.rate for r in runs[n]) for n in HOSTS}
    figures: dict[str, float] = {}
    for n in HOSTS:
        ratio = rate[n] / rate[HOSTS[0]]
        hosts_cpu = statistics.median(r.hosts_cpu for r in runs[n])
        broker_cpu = statistics.median(r.broker_cpu for r in runs[n])
        flagged = sum(r.feeder_limited for r in runs[n])
        print(
            f"    {n} host{'s' if n > 1 else ' '}: {rate[n]:6.0f} msg/s  ratio {ratio:4.2f}  "
            f"(CPU: hosts {hosts_cpu:4.0%}, broker {broker_cpu:4.0%} of a core; rounds "
            f"{', '.join(f'{r.rate:.0f}' for r in runs[n])})"
            + (
                f"  WARNING: in {flagged} round(s) the queue ran as shallow as the hosts' "
                "slots; the feeding may have been the limit"
                if flagged
                else ""
            )
        )
        figures |= {
            f"scale_{key}_rate_{n}": rate[n],
            f"scale_{key}_ratio_{n}": ratio,
            f"scale_{key}_hosts_cpu_{n}": hosts_cpu,
            f"scale_{key}_broker_cpu_{n}": broker_cpu,
        }
    return figures


def main() -> dict[str, float]:
    print(
        f"Scale-out: hosts competing on one queue, async {IO_MS} ms function, {ROUNDS} rounds "
        f"({'-'.join(map(str, HOSTS))}, then reversed), {CPUS} cores; medians",
        flush=True,
    )
    storage = measure("storage", storage_run)
    servicebus = measure("Service Bus", servicebus_run)
    print(
        f"  storage queue on Azurite, {STORAGE_MESSAGES} messages through a queue kept "
        f"{STORAGE_LOW}-{STORAGE_LOW + STORAGE_CHUNK} deep; per host {STORAGE_SLOTS} in flight "
        f"(an I/O ceiling of {STORAGE_SLOTS * 1000 // IO_MS} msg/s)"
    )
    figures = report("storage", storage)
    print(
        f"  Service Bus queue on the emulator, {SERVICEBUS_MESSAGES} messages filled before "
        f"the hosts start; per host {SERVICEBUS_SLOTS} concurrent calls (an I/O ceiling of "
        f"{SERVICEBUS_SLOTS * 1000 // IO_MS} msg/s)"
    )
    figures |= report("servicebus", servicebus)
    return figures


if __name__ == "__main__":
    main()
