"""Azurite for a benchmark run, and helpers to fill and watch queues."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient

from bench.procs import ROOT
from funchost.devservices.azurite import Azurite, find_azurite


@contextmanager
def azurite() -> Iterator[str]:
    exe = find_azurite(ROOT)
    if exe is None:
        raise RuntimeError("Azurite is not installed: run `npm ci` (make bench does)")
    service = Azurite(exe)
    service.start()
    try:
        assert service.endpoints is not None
        yield service.endpoints.connection_string
    finally:
        service.stop()


async def fill(conn: str, name: str, count: int, concurrency: int = 32) -> None:
    async with QueueClient.from_connection_string(conn, name) as q:
        with contextlib.suppress(ResourceExistsError):
            await q.create_queue()
        body = base64.b64encode(b"{}").decode()
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await q.send_message(body)

        await asyncio.gather(*(one() for _ in range(count)))


async def steady_rate(
    conn: str, name: str, total: int, low: int = 100, chunk: int = 100, timeout: float = 180
) -> float:
    """Consumed messages/s in steady state, with the queue kept shallow (between `low` and
    `low + chunk` messages): Azurite slows sharply as a queue grows, so a deep queue would
    measure Azurite, not the consumer. Consumed = sent - depth; the first and last
    `2 * chunk` messages (start-up and final drain) are left out."""
    body = base64.b64encode(b"{}").decode()
    async with QueueClient.from_connection_string(conn, name) as q:
        sent = 0
        samples: list[tuple[float, int]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = (await q.get_queue_properties()).approximate_message_count or 0
            now = time.perf_counter()
            if 2 * chunk <= sent <= total - chunk:
                samples.append((now, sent - depth))
            if sent < total and depth < low:
                await asyncio.gather(*(q.send_message(body) for _ in range(chunk)))
                sent += chunk
                continue
            if sent >= total:
                break
            await asyncio.sleep(0.05)
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            raise RuntimeError(f"queue {name}: no steady state within {timeout}s")
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        return (c1 - c0) / (t1 - t0)
