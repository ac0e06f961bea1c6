"""Service Bus emulator throughput with the real azure-servicebus SDK: messages sent in
batches, then received and completed one by one, with the sync and the aio client; and
the broker core alone (no AMQP), to show how much of the time is the emulator's.

Run alone with `python -m bench.sbemulator_throughput [N]`; `main()` returns the figures.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient

from bench.procs import cpu_seconds
from funchost.devservices.servicebus import ServiceBusEmulator
from sbemulator.broker.message import Envelope, MessageProperties
from sbemulator.broker.message_queue import Outcome
from sbemulator.broker.namespace import Broker
from sbemulator.config.model import EmulatorConfig, QueueConfig

MESSAGES = 3000
BATCH = 100
QUEUES = ["bench.sync", "bench.aio"]
PAYLOAD = "x" * 200


def _sync_run(cs: str, queue: str, count: int) -> tuple[float, float]:
    with (
        ServiceBusClient.from_connection_string(cs) as sb,
        sb.get_queue_sender(queue) as sender,
        sb.get_queue_receiver(queue) as receiver,
    ):
        sender.send_messages(ServiceBusMessage("warm-up"))
        for m in receiver.receive_messages(max_wait_time=5):
            receiver.complete_message(m)
        start = time.perf_counter()
        for _ in range(0, count, BATCH):
            sender.send_messages([ServiceBusMessage(PAYLOAD) for _ in range(BATCH)])
        sent = time.perf_counter() - start
        start, got = time.perf_counter(), 0
        while got < count:
            batch = receiver.receive_messages(max_message_count=BATCH, max_wait_time=5)
            if not batch:
                raise RuntimeError(f"only {got} of {count} messages came back")
            for m in batch:
                receiver.complete_message(m)
            got += len(batch)
        return sent, time.perf_counter() - start


async def _aio_run(cs: str, queue: str, count: int) -> tuple[float, float]:
    async with (
        AsyncServiceBusClient.from_connection_string(cs) as sb,
        sb.get_queue_sender(queue) as sender,
        sb.get_queue_receiver(queue) as receiver,
    ):
        await sender.send_messages(ServiceBusMessage("warm-up"))
        for m in await receiver.receive_messages(max_wait_time=5):
            await receiver.complete_message(m)
        start = time.perf_counter()
        for _ in range(0, count, BATCH):
            await sender.send_messages([ServiceBusMessage(PAYLOAD) for _ in range(BATCH)])
        sent = time.perf_counter() - start
        start, got = time.perf_counter(), 0
        while got < count:
            batch = await receiver.receive_messages(max_message_count=BATCH, max_wait_time=5)
            if not batch:
                raise RuntimeError(f"only {got} of {count} messages came back")
            for m in batch:
                await receiver.complete_message(m)
            got += len(batch)
        return sent, time.perf_counter() - start


def _broker_core(count: int) -> float:
    """Messages per second through send, lock and complete in the broker alone."""
    broker = Broker(EmulatorConfig(queues=(QueueConfig("core"),)))
    queue = broker.receiver_queue("core")
    envelopes = [Envelope(MessageProperties(message_id=str(i))) for i in range(count)]
    owner = object()
    start = time.perf_counter()
    for i in range(0, count, BATCH):
        broker.send("core", envelopes[i : i + BATCH], 0.0)
    while (m := queue.lock_next(owner, 1.0)) is not None:
        assert m.lock_token is not None
        queue.settle(m.lock_token, Outcome.COMPLETE, 1.0)
    return count / (time.perf_counter() - start)


def _measure(count: int, data_dir: Path | None) -> dict[str, float]:
    emulator = ServiceBusEmulator(
        data_dir=data_dir, extra_args=[arg for q in QUEUES for arg in ("--queue", q)]
    )
    emulator.start()
    try:
        cs = emulator.connection_string
        assert cs is not None
        cpu0 = cpu_seconds(emulator.pid)
        sent, received = _sync_run(cs, QUEUES[0], count)
        cpu1 = cpu_seconds(emulator.pid)
        asent, areceived = asyncio.run(_aio_run(cs, QUEUES[1], count))
    finally:
        emulator.stop()
    return {
        "sync_send": count / sent,
        "sync_receive_complete": count / received,
        "aio_send": count / asent,
        "aio_receive_complete": count / areceived,
        "sync_emulator_cpu_share": (cpu1 - cpu0) / (sent + received),
    }


def emulator_figures(count: int = MESSAGES) -> dict[str, float]:
    """Send and receive+complete rates of an in-memory emulator, sync and aio SDK."""
    return _measure(count, None)


def main(count: int = MESSAGES) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sbemulator-bench-") as tmp:
        for mode, data_dir in (("memory", None), ("sqlite", Path(tmp))):
            for key, value in _measure(count, data_dir).items():
                results[f"sbemulator_{mode}_{key}"] = value
    results["sbemulator_broker_core_msgs_per_s"] = _broker_core(50_000)
    print(
        f"Service Bus emulator, {count} messages of {len(PAYLOAD)} bytes, SDK batches of "
        f"{BATCH}, each received message completed on its own (the SDK waits for the "
        "outcome); msg/s"
    )
    for mode, label in (("memory", "in memory"), ("sqlite", "--data-dir")):
        for flavor in ("sync", "aio"):
            print(
                f"  {label:10s} {flavor:4s} SDK: send "
                f"{results[f'sbemulator_{mode}_{flavor}_send']:6.0f}   receive+complete "
                f"{results[f'sbemulator_{mode}_{flavor}_receive_complete']:6.0f}"
            )
        print(
            f"  {label:10s} emulator CPU during the sync run: "
            f"{results[f'sbemulator_{mode}_sync_emulator_cpu_share']:.0%} of one core "
            "(the rest is the SDK)"
        )
    print(
        f"  broker core alone (send+lock+complete, no AMQP): "
        f"{results['sbemulator_broker_core_msgs_per_s']:.0f} msg/s"
    )
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else MESSAGES)
