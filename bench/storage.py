"""Azurite for a benchmark run, and helpers to fill and watch queues."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient

from bench.procs import ROOT
from funchost.devservices.azurite import Azurite, find_azurite


@contextmanager
def azurite_service() -> Iterator[Azurite]:
    """A started in-memory Azurite (its `pid` for CPU accounting, `endpoints` to connect)."""
    exe = find_azurite(ROOT)
    if exe is None:
        raise RuntimeError("Azurite is not installed: run `npm ci` (make bench does)")
    service = Azurite(exe)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def azurite() -> Iterator[str]:
    """The connection string of a started in-memory Azurite."""
    with azurite_service() as service:
        assert service.endpoints is not None
        yield service.endpoints.connection_string


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


@dataclass(frozen=True)
class Steady:
    rate: float  # consumed messages/s
    min_depth: int  # the shallowest the queue was while measured (running messages count)


async def steady_feed(
    conn: str, name: str, total: int, low: int = 100, chunk: int = 100, timeout: float = 180
) -> Steady:
    """Consumed messages/s in steady state, with the queue kept shallow (between `low` and
    `low + chunk` messages): Azurite slows sharply as a queue grows, so a deep queue would
    measure Azurite, not the consumer. Consumed = sent - depth; the first and last
    `2 * chunk` messages (start-up and final drain) are left out. The depth counts the
    messages consumers hold invisible, so a `min_depth` at or below what they can hold
    means they may have waited for this feeding."""
    body = base64.b64encode(b"{}").decode()
    async with QueueClient.from_connection_string(conn, name) as q:
        sent = 0
        samples: list[tuple[float, int, int]] = []  # time, consumed, depth
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = (await q.get_queue_properties()).approximate_message_count or 0
            now = time.perf_counter()
            if 2 * chunk <= sent <= total - chunk:
                samples.append((now, sent - depth, depth))
            if sent < total and depth < low:
                await asyncio.gather(*(q.send_message(body) for _ in range(chunk)))
                sent += chunk
                continue
            if sent >= total:
                break
            await asyncio.sleep(0.05)
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            raise RuntimeError(f"queue {name}: no steady state within {timeout}s")
        (t0, c0, _), (t1, c1, _) = samples[0], samples[-1]
        return Steady((c1 - c0) / (t1 - t0), min(depth for _, _, depth in samples))


async def steady_rate(
    conn: str, name: str, total: int, low: int = 100, chunk: int = 100, timeout: float = 180
) -> float:
    """`steady_feed`'s rate."""
    return (await steady_feed(conn, name, total, low, chunk, timeout)).rate


async def consumption_rate(
    conn: str, name: str, depth: int, count: int, timeout: float = 600
) -> float:
    """Consumed messages/s while a consumer takes `count` messages from a queue that held
    `depth` when it started, between the tenth and the ninth tenth of them (start-up and
    the last stragglers left out). Consumed = depth - current depth, sampled every 0.2 s
    and interpolated; with `count` well under `depth`, the rate at that depth."""
    samples: list[tuple[float, int]] = []
    async with QueueClient.from_connection_string(conn, name) as q:
        deadline = time.monotonic() + timeout
        while not samples or samples[-1][1] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"queue {name}: {samples[-1][1] if samples else 0} of {count} consumed "
                    f"in {timeout:.0f}s"
                )
            current = (await q.get_queue_properties()).approximate_message_count or 0
            samples.append((time.perf_counter(), depth - current))
            await asyncio.sleep(0.2)
    return (0.8 * count) / (_when(samples, 0.9 * count) - _when(samples, 0.1 * count))


def _when(samples: list[tuple[float, int]], consumed: float) -> float:
    """The time `consumed` messages were done, interpolated between two samples."""
    if samples[0][1] >= consumed:
        raise RuntimeError(f"{consumed:.0f} messages were consumed before the first sample")
    (t0, c0), (t1, c1) = next(
        pair for pair in itertools.pairwise(samples) if pair[1][1] >= consumed
    )
    return t0 + (t1 - t0) * (consumed - c0) / (c1 - c0) if c1 > c0 else t1
