"""A child process that announces its ports on stdout, with a reliable stop."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class ServiceStartError(RuntimeError):
    """A local service did not start; the message carries the tail of its output."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux only: the child gets SIGTERM when the process that started it dies, so a
    # crashed test run or a killed `funchost dev` never leaves emulators behind.
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class ServiceProcess:
    """Runs `argv`, waits for every pattern in `ready` to match a line of its output.

    Each pattern has one group; the captured values are returned by `start()` in order.
    Output keeps draining in a thread so the child never blocks on a full pipe, and the
    last lines are kept for error messages.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        ready: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._ready = [re.compile(p) for p in ready]
        self._cwd = cwd
        self._env = env
        self._proc: subprocess.Popen[str] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._lines: list[str] = []  # everything, for callers that inspect the output
        self._found: dict[int, str] = {}
        self._cond = threading.Condition()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 30.0) -> list[str]:
        self._proc = subprocess.Popen(
            self._argv,
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Only setsid and prctl run between fork and exec (no locks taken), the one way
            # to have the child die with its parent.
            preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
        )
        threading.Thread(target=self._drain, name=f"{self.name}-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._found) < len(self._ready):
                if self._proc.poll() is not None:
                    raise ServiceStartError(
                        self._failure(f"exited with code {self._proc.returncode}")
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise ServiceStartError(self._failure(f"not ready after {timeout:.0f}s"))
                self._cond.wait(min(left, 0.1))
        return [self._found[i] for i in range(len(self._ready))]

    def output(self) -> str:
        """All output so far."""
        with self._cond:
            return "".join(self._lines)

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str] | None:
        """Wait until `pattern` appears in the output; the match, or None on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = regex.search("".join(self._lines))
                if m or time.monotonic() >= deadline:
                    return m
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def _failure(self, what: str) -> str:
        tail = "".join(self._tail).strip() or "(no output)"
        return f"{self.name} {what}: {' '.join(self._argv)}\n{tail}"

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self._tail.append(line)
                self._lines.append(line)
                for i, pattern in enumerate(self._ready):
                    m = pattern.search(line)
                    if m and i not in self._found:
                        self._found[i] = m.group(1)
                self._cond.notify_all()

    def stop(self, grace: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would end it (no drain, no clean-up)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def signal(self, sig: int) -> None:
        """Send `sig` to the process (SIGINT for Ctrl-C, SIGTERM for a stop)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code once it ended within `timeout`, else None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
