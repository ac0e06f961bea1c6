"""The recent invocations of each function, for the dashboard.

Kept in memory per host: the last `keep` runs of each function (outcome, duration, error,
time) and how many are running now. Recording is an append to a bounded deque per
invocation (about a microsecond), so it is always on.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from funchost.core.invocation import Failed, Invocation, Invoke, Outcome

if TYPE_CHECKING:
    from funchost.core.services import HostServices


@dataclass(frozen=True)
class Run:
    """One finished invocation.

    Attributes:
        started: epoch seconds when it began.
        error: `Type: message` of a failure, None on success.
    """

    function: str
    invocation_id: str
    started: float
    duration_ms: float
    ok: bool
    error: str | None
    reason: str


@dataclass
class FunctionRuns:
    recent: deque[Run]
    running: int = 0
    succeeded: int = 0
    failed: int = 0


class InvocationHistory:
    """Recent runs by function name (lower-case keys)."""

    def __init__(self, keep: int = 25) -> None:
        self._keep = keep
        self._functions: dict[str, FunctionRuns] = {}
        self.version = 0  # bumped on every start and end: the dashboard redraws on change

    @classmethod
    def of(cls, services: HostServices) -> InvocationHistory:
        """The host's history (made on first use)."""
        return services.shared(cls, cls)

    def runs(self, function: str) -> FunctionRuns:
        key = function.lower()
        found = self._functions.get(key)
        if found is None:
            found = self._functions[key] = FunctionRuns(deque(maxlen=self._keep))
        return found

    def wrap(self, inner: Invoke) -> Invoke:
        async def invoke(inv: Invocation) -> Outcome:
            runs = self.runs(inv.function.name)
            runs.running += 1
            self.version += 1
            started = time.time()
            outcome: Outcome | None = None
            try:
                outcome = await inner(inv)
                return outcome
            finally:
                runs.running -= 1
                self.version += 1
                self._record(runs, inv, started, outcome)

        return invoke

    def _record(
        self, runs: FunctionRuns, inv: Invocation, started: float, outcome: Outcome | None
    ) -> None:
        duration = (time.time() - started) * 1000
        if outcome is None:  # cut short by the host's stop
            ok, error = False, "the host stopped before it finished"
        elif isinstance(outcome, Failed):
            ok, error = False, f"{type(outcome.error).__name__}: {outcome.error}"
        else:
            ok, error = True, None
        if ok:
            runs.succeeded += 1
        else:
            runs.failed += 1
        runs.recent.appendleft(
            Run(inv.function.name, inv.id, started, duration, ok, error, inv.reason)
        )
