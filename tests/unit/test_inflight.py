"""The in-flight tracker the host drains on shutdown (semantics §1: graceful stop)."""

from __future__ import annotations

import anyio
from azure.functions.meta import Datum

from funchost.core.invocation import Invocation, Outcome, Succeeded
from funchost.core.pipeline import InFlight
from funchost.core.spec import BindingInfo, FunctionSpec


def _invocation() -> Invocation:
    trigger = BindingInfo("queue", "queueTrigger", "in", {})
    spec = FunctionSpec(name="work", func=lambda: None, trigger=trigger, bindings=(trigger,),
                        inputs=(), outputs=(), returns=None, is_async=True,
                        needs_context=False, directory=".", script_file="function_app.py",
                        function_json={})
    return Invocation(spec, Datum("x", "string"), "test")


async def _idle_within(inflight: InFlight, seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        await inflight.wait_idle()
    return inflight.count == 0


def test_idle_at_once_when_nothing_runs() -> None:
    assert anyio.run(_idle_within, InFlight(), 0.01) is True


def test_waits_for_every_running_invocation_then_reports_idle() -> None:
    async def main() -> tuple[bool, bool, int]:
        inflight = InFlight()
        release = anyio.Event()

        async def slow(inv: Invocation) -> Outcome:
            await release.wait()
            return Succeeded(inv.id)
        run = inflight.wrap(slow)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(run, _invocation())
            await anyio.sleep(0)
            busy = await _idle_within(inflight, 0.05)  # times out: three still run
            running = inflight.count
            release.set()
            idle = await _idle_within(inflight, 5)
        return busy, idle, running

    busy, idle, running = anyio.run(main)
    assert (busy, idle, running) == (False, True, 3)


def test_a_second_busy_spell_is_waited_for_too() -> None:
    async def main() -> bool:
        inflight = InFlight()
        run = inflight.wrap(lambda inv: _finish(inv))
        await run(_invocation())  # one spell ends (no waiter)
        gate = anyio.Event()

        async def held(inv: Invocation) -> Outcome:
            await gate.wait()
            return Succeeded(inv.id)
        async with anyio.create_task_group() as tg:
            tg.start_soon(inflight.wrap(held), _invocation())
            await anyio.sleep(0)
            waited = await _idle_within(inflight, 0.05)
            gate.set()
        return waited

    assert anyio.run(main) is False


async def _finish(inv: Invocation) -> Outcome:
    return Succeeded(inv.id)
