"""A third-party trigger plug-in, installed only for a test: `tickTrigger` calls its function
every `intervalMs` milliseconds with the tick number. It shows what a plug-in needs: a
factory taking (FunctionSpec, HostServices) and a Listener with run() and call()."""

from __future__ import annotations

import anyio
from azure.functions.meta import Datum

from funchost.core.invocation import Invocation


class TickTrigger:
    def __init__(self, spec, services):  # type: ignore[no-untyped-def]
        self.spec = spec
        self.services = services
        self.interval = int(spec.trigger.get("intervalMs", 200)) / 1000

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED):  # type: ignore[no-untyped-def]
        task_status.started()
        tick = 0
        while not self.services.stopping.is_set():
            tick += 1
            await self.services.invoke(Invocation(self.spec, Datum(str(tick), "string"),
                                                  f"Tick {tick}"))
            await anyio.sleep(self.interval)

    async def call(self, input):  # type: ignore[no-untyped-def]
        return await self.services.invoke(Invocation(self.spec, Datum(input or "0", "string"),
                                                     "Manual tick"))
