"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams, the fallback when
`wrk` (bench/wrk.py) is missing. It is cheap per request, but it is one Python event loop
on the same cores as the servers, and issue 21 saw it show a smaller gap to the baseline
than wrk did (0.70 against 0.60): its figures are not comparable with wrk's.
`HttpFigures` is what either generator reports."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class HttpFigures:
    """One measured run of a load generator against a server."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu_s: float  # CPU time the load generator used, to show it was not the limit
    seconds: float


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(p / 100 * len(data)))] if data else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    def figures(self, client_cpu_s: float) -> HttpFigures:
        return HttpFigures(
            self.rps, self.p50, self.percentile(99), self.errors, client_cpu_s, self.seconds
        )


async def _worker(
    host: str, port: int, path: str, deadline: float, lat: list[float], errors: list[int]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = 0
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
            lat.append((time.perf_counter() - t0) * 1000)
            done += 1
    finally:
        writer.close()
    return done


async def run_load(
    host: str, port: int, path: str, *, concurrency: int, seconds: float
) -> LoadResult:
    lat: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(
        *(_worker(host, port, path, deadline, lat, errors) for _ in range(concurrency))
    )
    return LoadResult(sum(counts), len(errors), time.perf_counter() - start, lat)
