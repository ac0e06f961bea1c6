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
            deadline = time.monotonic() + timeout
            while not re.search(ready, log.read_text(errors="replace")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[:4]} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.02)
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.unlink(missing_ok=True)


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
