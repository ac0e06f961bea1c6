"""Cross-cutting concerns as `Invoke -> Invoke` wrappers, composed once per function.

From the inside out: the function runner, functionTimeout, the retry policy, the
Executing/Executed log lines, and the in-flight tracker the host drains on shutdown.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from datetime import timedelta

import anyio

from funchost.config.host_config import RetryOptions
from funchost.config.timespan import format_timespan
from funchost.core import failures
from funchost.core.invocation import (
    Failed,
    FunctionTimeoutError,
    Invocation,
    InvocationCancelled,
    Invoke,
    Outcome,
    RetryState,
    new_id,
)
from funchost.core.logs import current_function, current_invocation

log = logging.getLogger("funchost.host")


def with_timeout(inner: Invoke, timeout: timedelta | None) -> Invoke:
    """functionTimeout (semantics §1.3). The real host restarts the worker process; here
    the invocation is cancelled (a sync function's thread is abandoned) and fails."""
    if timeout is None:
        return inner
    seconds = timeout.total_seconds()

    async def invoke(inv: Invocation) -> Outcome:
        with anyio.move_on_after(seconds) as scope:
            return await inner(inv)
        assert scope.cancelled_caught
        log.error(
            "Timeout value of %s exceeded by function '%s' (Id: '%s'). Initiating cancellation.",
            format_timespan(timeout),
            inv.function.qualified_name,
            inv.id,
        )
        return Failed(
            inv.id,
            FunctionTimeoutError(
                f"Timeout value of {format_timespan(timeout)} was exceeded by function: "
                f"{inv.function.qualified_name}"
            ),
            seconds * 1000,
        )

    return invoke


def retry_delay(policy: RetryOptions, attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based), semantics §1.2: fixed, or
    exponential from the minimum, randomized by ±20 %, capped at the maximum."""
    if policy.strategy == "fixed_delay":
        return policy.delay_interval.total_seconds()
    low = policy.minimum_interval.total_seconds()
    if attempt <= 1:
        return low
    delay: float = low + random.uniform(0.8, 1.2) * (2 ** (attempt - 2)) * low
    return min(delay, policy.maximum_interval.total_seconds())


def with_retry(inner: Invoke, policy: RetryOptions | None, stopping: anyio.Event) -> Invoke:
    """The runtime retry policy (`@app.retry`, host.json `retry`, semantics §1.2). Each
    attempt is its own invocation with its own id, and `context.retry_context` counts them;
    compose it outside `with_logging`, so every attempt logs its own Executing/Executed pair
    as the real host does (W `FunctionExecutorExtensions.TryExecuteAsync`). A host that is
    stopping retries no more."""
    if policy is None or policy.max_retry_count == 0:
        return inner

    async def invoke(inv: Invocation) -> Outcome:
        attempt = 0
        current = dataclasses.replace(inv, retry=RetryState(0, policy.max_retry_count, None))
        while True:
            outcome = await inner(current)
            if outcome.ok:
                return outcome
            if 0 <= policy.max_retry_count <= attempt or stopping.is_set():
                log.info("Function execution failed after '%d' retries.", attempt)
                return outcome
            attempt += 1
            assert isinstance(outcome, Failed)
            delay = retry_delay(policy, attempt)
            log.info(
                "Waiting for `%s` before retrying function execution. Next attempt: "
                "'%d'. Max retry count: '%d'.",
                format_timespan(timedelta(seconds=delay)),
                attempt,
                policy.max_retry_count,
            )
            with anyio.move_on_after(delay):
                await stopping.wait()
            current = dataclasses.replace(
                inv, id=new_id(), retry=RetryState(attempt, policy.max_retry_count, outcome.error)
            )

    return invoke


def with_logging(inner: Invoke) -> Invoke:
    """`Executing 'Functions.x' (Reason=..., Id=...)` / `Executed ... (Succeeded|Failed, ...)`."""

    async def invoke(inv: Invocation) -> Outcome:
        name = inv.function.qualified_name
        token_id = current_invocation.set(inv.id)
        token_fn = current_function.set(inv.function.name)
        began = time.perf_counter()
        try:
            log.info("Executing '%s' (Reason='%s', Id=%s)", name, inv.reason, inv.id)
            try:
                outcome = await inner(inv)
            except anyio.get_cancelled_exc_class():
                # The host's stop cut it short (InFlight.cancel_all): still one Executed line.
                log.error(
                    "Executed '%s' (Failed, Id=%s, Duration=%dms)\nThe host stopped before "
                    "the function finished (its grace period ran out).",
                    name,
                    inv.id,
                    (time.perf_counter() - began) * 1000,
                )
                raise
            if isinstance(outcome, Failed):
                log.error(
                    "Executed '%s' (Failed, Id=%s, Duration=%dms)\n%s",
                    name,
                    inv.id,
                    outcome.duration_ms,
                    failures.describe(outcome.error, name),
                )
                # The user's frames only above, as the real host shows them; everything
                # (the host's frames, chained exceptions) with --verbose.
                log.debug(
                    "Python traceback of %s's failure (Id=%s):",
                    name,
                    inv.id,
                    exc_info=outcome.error,
                )
            else:
                log.info(
                    "Executed '%s' (Succeeded, Id=%s, Duration=%dms)",
                    name,
                    inv.id,
                    outcome.duration_ms,
                )
            return outcome
        finally:
            current_function.reset(token_fn)
            current_invocation.reset(token_id)

    return invoke


class Gauge:
    """A count that can be waited on until it is zero."""

    def __init__(self) -> None:
        self.count = 0
        # Made only by a waiter: an Event per busy spell costs a measurable share of a
        # no-op invocation when the count often drops to zero.
        self._zero: anyio.Event | None = None

    def up(self) -> None:
        self.count += 1

    def down(self) -> None:
        self.count -= 1
        if self.count == 0 and self._zero is not None:
            self._zero.set()

    async def wait_zero(self) -> None:
        """Return once the count is zero (at once if it is). Callers bound the wait with
        a cancel scope and read `count` after it."""
        while self.count:
            self._zero = anyio.Event()
            await self._zero.wait()


class InFlight:
    """Counts running invocations, so the host can wait for quiet on shutdown, and cuts
    them short when the grace period is over (`cancel_all`)."""

    def __init__(self) -> None:
        self._running = Gauge()
        self._scopes: set[anyio.CancelScope] = set()
        self._cancelled = False

    @property
    def count(self) -> int:
        return self._running.count

    def wrap(self, inner: Invoke) -> Invoke:
        async def invoke(inv: Invocation) -> Outcome:
            self._running.up()
            scope = anyio.CancelScope()
            self._scopes.add(scope)
            try:
                with scope:
                    if self._cancelled:
                        scope.cancel()
                    return await inner(inv)
                # Only cancel_all() lands here: a sync function's thread is abandoned, as
                # the real worker cannot stop it either; the trigger releases the event.
                return Failed(inv.id, InvocationCancelled("the host stopped before it finished"))
            finally:
                self._scopes.discard(scope)
                self._running.down()

        return invoke

    def cancel_all(self) -> None:
        """Cut every running invocation short (and any that starts from now on)."""
        self._cancelled = True
        for scope in list(self._scopes):
            scope.cancel()

    async def wait_idle(self) -> None:
        """Return once nothing is running (at once if nothing is). Callers bound the wait
        with a cancel scope and read `count` after it."""
        await self._running.wait_zero()
