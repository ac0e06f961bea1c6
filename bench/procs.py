"""Starting the processes a benchmark measures, with output to a file (no pipe for the
benchmark to drain while it measures)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready: str | None = None,
    timeout: float = 30,
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    try:
        if ready:
            wait_ready(proc, log, ready, timeout)
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.unlink(missing_ok=True)


def wait_ready(proc: subprocess.Popen[bytes], log: Path, ready: str, timeout: float = 30) -> None:
    """Wait until the output of a process started by `process()` matches `ready`; for
    several processes started together, call it for each once all are running."""
    deadline = time.monotonic() + timeout
    while not re.search(ready, log.read_text(errors="replace")):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args!r:.200} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.02)


def cpu_seconds(pid: int | None) -> float:
    """User+system CPU time of a process and its live descendants (Linux; 0 elsewhere), to
    tell which process a benchmark's time went to. Descendants count because the host may
    run functions in worker processes."""
    proc = Path("/proc")
    if pid is None or not (proc / str(pid) / "stat").exists():
        return 0.0
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def wait_http_ok(url: str, timeout: float = 30) -> float:
    """Poll `url` until it answers 200; returns the time it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


def funchost_argv(app: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "funchost",
        "start",
        "--app-dir",
        str(app),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-auth",
        *extra,
    ]
