"""What a test reads back: each invocation's outcome and the log lines it wrote."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from funchost.core.invocation import Failed, Invocation, InvocationCancelled, Invoke, Outcome
from funchost.core.logs import InvocationFilter

# The recorder of the harness whose host is running the current code: each harness sets
# it in its host's main task, which every task and function thread of the host inherits.
CURRENT: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "funchost_harness", default=None
)


@dataclass(frozen=True)
class InvocationRecord:
    """One finished attempt of one function.

    Attributes:
        function: the function's name.
        invocation_id: the id its Executing/Executed lines and `context.invocation_id` show.
        reason: the trigger's reason (`New queue message detected on 'q'.`, ...).
        outcome: `Succeeded` (with the encoded outputs) or `Failed` (with the exception).
        logs: the lines logged while it ran (user code and host), without timestamps.
        retry_count: which retry of a runtime retry policy this was (0 for the first).
        started, finished: time.monotonic() when it began and ended.
    """

    function: str
    invocation_id: str
    reason: str
    outcome: Outcome
    logs: tuple[str, ...] = field(default=(), repr=False)
    retry_count: int = 0
    started: float = field(default=0.0, repr=False)
    finished: float = field(default=0.0, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def error(self) -> BaseException | None:
        return self.outcome.error if isinstance(self.outcome, Failed) else None


class Recorder:
    """An `Invoke -> Invoke` wrapper that records every attempt, and a log handler that
    keeps each invocation's lines. Thread-safe: the host's loop writes, the test reads."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._records: list[InvocationRecord] = []
        self._lines: dict[str, list[str]] = defaultdict(list)
        self.handler = _LineHandler(self)

    def wrap(self, inner: Invoke) -> Invoke:
        async def invoke(inv: Invocation) -> Outcome:
            started = time.monotonic()
            try:
                outcome = await inner(inv)
            except BaseException:
                # Cut short by the host's stop (cancellation passes through here).
                cut = Failed(inv.id, InvocationCancelled("cut short by the stop"))
                self._add(inv, cut, started)
                raise
            self._add(inv, outcome, started)
            return outcome

        return invoke

    def _add(self, inv: Invocation, outcome: Outcome, started: float) -> None:
        with self._lock:
            record = InvocationRecord(
                inv.function.name,
                inv.id,
                inv.reason,
                outcome,
                tuple(self._lines.pop(inv.id, ())),
                inv.retry.retry_count,
                started,
                time.monotonic(),
            )
            self._records.append(record)
            self._lock.notify_all()

    def _line(self, invocation_id: str, text: str) -> None:
        with self._lock:
            self.handler.lines.append(text)
            if invocation_id:
                self._lines[invocation_id].append(text)
            self._lock.notify_all()

    def wait_for_line(self, regex: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """Block until a line matches `regex` (or the timeout passes); the match."""
        deadline = time.monotonic() + timeout
        with self._lock:
            seen = 0
            while True:
                for line in self.handler.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = len(self.handler.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)

    def records(self, function: str | None = None) -> list[InvocationRecord]:
        with self._lock:
            return [r for r in self._records if function is None or r.function == function]

    def wait(
        self, matches: Callable[[list[InvocationRecord]], bool], timeout: float
    ) -> list[InvocationRecord]:
        """Block until `matches(records)` holds (or the timeout passes); the records."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not matches(self._records):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self._records)


class _LineHandler(logging.Handler):
    """Keeps the lines its host logged: all of them for `Harness.logs`, and those logged
    under an invocation id for that invocation's record. Lines of other hosts in the
    process (another harness) are not its own."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self._recorder = recorder
        self.lines: list[str] = []
        self.addFilter(InvocationFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if CURRENT.get() is not self._recorder:
            return
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        invocation: Any = getattr(record, "invocation_id", "")
        self._recorder._line(invocation, text)
