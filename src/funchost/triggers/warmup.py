"""The warmup trigger (`@app.warm_up_trigger`): the app's code that readies an instance.

On Azure (Premium and Dedicated plans) the platform calls `/admin/warmup` on a new
instance before it sends it traffic, and the host runs the app's warmup function there:
the function named `warmup` (any case) whose trigger is `warmupTrigger` (H
`ScriptJobHostExtensions.IsWarmupFunction`, `WebScriptHostHttpRoutesManager`), without a key
(H `FunctionInvocationMiddleware.RequiresAuthz`), with a `WarmUpContext` (H
`FunctionExecutionFeature`; PL `warmup.py`). A warmup trigger on a function with another
name is never run there, so it is not run here either (with a warning saying why).

funchost runs the warmup function once the host is ready, since each start is a new
instance, and again on every `/admin/warmup` (`funchost.http.admin`).
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus
from azure.functions.meta import Datum

from funchost.core.invocation import Invocation, Invoke, Outcome
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.http.admin import WARMUP_FUNCTION, is_warmup_function
from funchost.triggers.http import REASON

log = logging.getLogger("funchost.warmup")


class WarmupTrigger:
    """Runs the warmup function once, when the host is ready."""

    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self._invoke = invoke
        self._ready = services.ready
        self._stopping = services.stopping
        self._warmed = False  # a listener restarted after a crash does not warm up again
        if not is_warmup_function(spec):
            log.warning(
                "Function '%s' has a warmup trigger but is not named '%s': Azure never runs "
                "it, so funchost does not either (name it with "
                '@app.function_name(name="%s")).',
                spec.name,
                WARMUP_FUNCTION,
                WARMUP_FUNCTION,
            )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if is_warmup_function(self.spec) and not self._warmed:
            self._warmed = True
            await self._ready.wait()
            if not self._stopping.is_set():
                await self.call(None)  # its outcome is in the host's Executed line
        await self._stopping.wait()

    async def call(self, input: str | None) -> Outcome:
        # The host sends the worker a WarmupContext, an object without properties; the
        # library's converter ignores it and builds a WarmUpContext.
        return await self._invoke(Invocation(self.spec, Datum("{}", "json"), REASON))
