"""Test-local helpers for what `funchost.testing.Harness` does not offer (yet).

- `LogWatch`: wait for a log line (the harness waits for invocations only), optionally only
  the lines logged on one host's event loop, to tell apart several hosts in one process
  (every harness's `logs` holds the lines of all of them).
- `loop_thread`: the thread a harness's event loop runs on (no public accessor).
- `invocation`: wait for the invocation with a given id (an HTTP response names it).
- `wait_until`: for storage state that nothing announces (a status blob written after a
  run, a key blob written at start), checked until it holds.
- `kept_process_state`: os.environ and logging levels as they were, around several
  harnesses that stop in another order than the reverse of their start (each harness
  restores, on stop, the global state it found on start).
- `CliHost`: `funchost start` as a process that a test can signal and wait for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from funchost.testing import Harness, InvocationRecord
from tests.hostprocess import HostProcess


class LogWatch(logging.Handler):
    """Every line logged while attached (to the root logger), as `Harness.logs` shows
    them, with the thread that logged it; `wait_for` blocks until a line matching a
    pattern appears. With `thread`, `lines`, `matching` and `wait_for` look only at the
    lines logged on that thread (a host's event loop: see `loop_thread`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        assert logging.logThreads, "log records carry no thread"
        self._cond = threading.Condition()
        self._lines: list[tuple[int | None, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        with self._cond:
            self._lines.append((record.thread, text))
            self._cond.notify_all()

    def lines(self, thread: int | None = None) -> list[str]:
        with self._cond:
            return self._select(thread)

    def matching(self, pattern: str, thread: int | None = None) -> list[str]:
        regex = re.compile(pattern)
        return [line for line in self.lines(thread) if regex.search(line)]

    def wait_for(
        self, pattern: str, count: int = 1, *, thread: int | None = None, timeout: float = 30.0
    ) -> list[str]:
        """Block until `count` lines match `pattern` (re.search); those lines.
        AssertionError with the last lines on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self._select(thread) if regex.search(line)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(self._select(thread)[-20:])
                    raise AssertionError(
                        f"{len(found)} line(s) matching {pattern!r} within {timeout}s, "
                        f"expected {count}; last lines:\n{tail}"
                    )
                self._cond.wait(left)

    def _select(self, thread: int | None) -> list[str]:
        return [text for t, text in self._lines if thread is None or t == thread]

    @contextlib.contextmanager
    def attached(self) -> Iterator[LogWatch]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


def loop_thread(host: Harness) -> int:
    """The id of the thread `host`'s event loop runs on: its listeners log there."""
    ident: int = host.run(threading.get_ident)
    return ident


def invocation(host: Harness, invocation_id: str, timeout: float = 30.0) -> InvocationRecord:
    """The finished invocation with this id, waiting for it."""
    records = host.recorder.wait(
        lambda rs: any(r.invocation_id == invocation_id for r in rs), timeout
    )
    found = [r for r in records if r.invocation_id == invocation_id]
    assert found, f"no invocation with id {invocation_id} finished within {timeout}s"
    return found[0]


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Check `check()` until it returns something true (returned); AssertionError naming
    `what` on timeout. Only for state outside the host that no event announces."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


_SDK_LOGGERS = ("azure", "uamqp", "uvicorn", "uvicorn.error")


@contextlib.contextmanager
def kept_process_state() -> Iterator[None]:
    """Around several harnesses in one test: the root logger at INFO and the SDK loggers
    at WARNING throughout (a harness that stops first would restore the levels it found,
    silencing the hosts still running), and os.environ and those levels restored at the
    end (the last harness to stop may restore settings an earlier one had set)."""
    environ = dict(os.environ)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in _SDK_LOGGERS}
    root_level = root.level
    root.setLevel(min(root.getEffectiveLevel(), logging.INFO))
    for name, level in levels.items():
        if level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class CliHost(HostProcess):
    """`funchost start` as a process (tests/hostprocess.py) that can be signalled and
    waited for."""

    def send_signal(self, sig: int) -> None:
        assert self.pid is not None, "not running"
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        """The exit code, once the process ended (subprocess.TimeoutExpired if not)."""
        assert self._proc is not None, "not running"
        return self._proc.wait(timeout)
