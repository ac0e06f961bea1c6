"""A third-party trigger plug-in, installed only for a test: `tickTrigger` calls its function
every `intervalMs` milliseconds with the tick number. It shows what a plug-in needs: a
factory taking (FunctionSpec, HostServices, Invoke) and a Listener with run() and call().

`crashes: N` makes the listener raise on each of its first N runs, after it reported
started and ran one tick, so a test can see the host restart it and carry on.
"""

from __future__ import annotations

import anyio
from anyio.abc import TaskStatus
from azure.functions.meta import Datum

from funchost.core.invocation import Invocation, Invoke, Outcome
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec


class TickTrigger:
    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self.services = services
        self.invoke = invoke
        self.interval = int(spec.trigger.get("intervalMs", 200)) / 1000
        self.crashes_left = int(spec.trigger.get("crashes", 0))
        self.tick = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.services.stopping.is_set():
            self.tick += 1
            await self.invoke(
                Invocation(self.spec, Datum(str(self.tick), "string"), f"Tick {self.tick}")
            )
            if self.crashes_left:
                self.crashes_left -= 1
                raise RuntimeError(f"tick listener crash ({self.crashes_left} more to come)")
            await anyio.sleep(self.interval)

    async def call(self, input: str | None) -> Outcome:
        return await self.invoke(
            Invocation(self.spec, Datum(input or "0", "string"), "Manual tick")
        )
