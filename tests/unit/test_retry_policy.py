"""The runtime retry policy wrapper that timer functions run under (semantics §1.2)."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

import anyio
import pytest
from azure.functions.meta import Datum

from funchost.config.host_config import RetryOptions
from funchost.core import pipeline
from funchost.core.invocation import Failed, Invocation, Outcome, Succeeded
from funchost.core.spec import BindingInfo, FunctionSpec

FIXED = RetryOptions("fixed_delay", 2, delay_interval=timedelta(0))


def _invocation() -> Invocation:
    trigger = BindingInfo("timer", "timerTrigger", "in", {})
    spec = FunctionSpec(name="tick", func=lambda: None, trigger=trigger, bindings=(trigger,),
                        inputs=(), outputs=(), returns=None, is_async=False,
                        needs_context=False, directory=".", script_file="function_app.py",
                        function_json={})
    return Invocation(spec, Datum("{}", "json"), "Timer fired at now")


class Flaky:
    """Fails the first `failures` calls; remembers what each call saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[Invocation] = []

    async def __call__(self, inv: Invocation) -> Outcome:
        self.seen.append(inv)
        if len(self.seen) <= self.failures:
            return Failed(inv.id, RuntimeError(f"attempt {len(self.seen)}"))
        return Succeeded(inv.id)


def test_fixed_delay_is_constant() -> None:
    policy = RetryOptions("fixed_delay", 5, delay_interval=timedelta(seconds=3))
    assert [pipeline.retry_delay(policy, n) for n in range(1, 5)] == [3.0] * 4


def test_exponential_backoff_matches_the_webjobs_strategy() -> None:
    # W RandomizedExponentialBackoffStrategy: min, then min + U(0.8,1.2)*2^(k-2)*min, capped.
    policy = RetryOptions("exponential_backoff", -1, minimum_interval=timedelta(seconds=1),
                          maximum_interval=timedelta(seconds=10))
    random.seed(7)
    for _ in range(50):
        delays = [pipeline.retry_delay(policy, n) for n in range(1, 8)]
        assert delays[0] == 1.0
        assert 1.8 <= delays[1] <= 2.2 and 2.6 <= delays[2] <= 3.4 and 4.2 <= delays[3] <= 5.8
        assert 7.4 <= delays[4] <= 10.0 and delays[5] == delays[6] == 10.0


def run_retry(inner: Any, policy: RetryOptions | None, *, stopping: bool = False,
              logged: bool = False) -> Any:
    """Run one invocation through the retry wrapper (composed like host.py composes it)."""
    async def main() -> Any:
        event = anyio.Event()
        if stopping:
            event.set()
        step = pipeline.with_logging(inner) if logged else inner
        return await pipeline.with_retry(step, policy, event)(_invocation())
    return anyio.run(main)


def test_each_attempt_has_its_own_id_and_retry_context() -> None:
    inner = Flaky(2)
    outcome = run_retry(inner, FIXED)
    assert isinstance(outcome, Succeeded)
    assert [(i.retry.retry_count, i.retry.max_retry_count) for i in inner.seen] == [
        (0, 2), (1, 2), (2, 2)]
    assert len({i.id for i in inner.seen}) == 3
    assert str(inner.seen[2].retry.exception) == "attempt 2"


def test_gives_up_after_max_retry_count() -> None:
    inner = Flaky(10)
    outcome = run_retry(inner, FIXED)
    assert isinstance(outcome, Failed) and str(outcome.error) == "attempt 3"
    assert len(inner.seen) == 3


def test_a_stopping_host_retries_no_more() -> None:
    inner = Flaky(10)
    outcome = run_retry(inner, FIXED, stopping=True)
    assert isinstance(outcome, Failed) and len(inner.seen) == 1


def test_every_attempt_is_logged_as_its_own_invocation(caplog: pytest.LogCaptureFixture) -> None:
    inner = Flaky(10)
    # The host composes logging inside the retry wrapper, so each attempt logs its own
    # Executing/Executed pair, as the real host does.
    with caplog.at_level(logging.INFO, logger="funchost.host"):
        run_retry(inner, FIXED, logged=True)
    messages = [r.getMessage() for r in caplog.records]
    executing = [m for m in messages if m.startswith("Executing 'Functions.tick'")]
    assert len(executing) == 3
    assert all(f"Id={i.id}" in m for i, m in zip(inner.seen, executing))
    assert sum(m.startswith("Executed 'Functions.tick' (Failed") for m in messages) == 3
    assert "Waiting for `00:00:00` before retrying function execution. Next attempt: '1'. " \
           "Max retry count: '2'." in messages
    assert "Function execution failed after '2' retries." in messages


def test_no_policy_or_zero_retries_is_the_inner_invoke() -> None:
    inner = Flaky(0)

    async def main() -> None:
        event = anyio.Event()
        assert pipeline.with_retry(inner, None, event) is inner
        assert pipeline.with_retry(inner, RetryOptions("fixed_delay", 0), event) is inner
    anyio.run(main)
