"""The end of an ASGI app's lifespan when the host stops.

`func.AsgiFunctionApp` starts its ASGI app's lifespan (FastAPI/Starlette startup handlers) on
the first request, as a task on the loop that serves it (PL `decorators/function_app.py`
`AsgiFunctionApp._add_http_app`), and only ends it in `__del__` with `asyncio.run`. Here that
loop is the host's, which is gone by then: `asyncio.run` either fails ("cannot be called
from a running event loop", when the app is collected on a thread running another loop) or
waits on an event nothing will set. So the host ends the lifespan itself, on its own loop,
before it closes, and marks it ended so `__del__` does nothing. (The real worker process is
simply ended, so the app's shutdown handlers never run there; running them is kinder.)
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

log = logging.getLogger("funchost.host")

SHUTDOWN_SECONDS = 5.0


async def end_asgi_lifespan(app: Any) -> None:
    """Tell `app` (the loaded FunctionApp) that the server is shutting down, when it is an
    `AsgiFunctionApp` whose lifespan started; at most SHUTDOWN_SECONDS."""
    middleware = getattr(app, "middleware", None)
    if not getattr(app, "startup_task_done", False) or middleware is None:
        return
    app.startup_task_done = False
    with anyio.move_on_after(SHUTDOWN_SECONDS) as scope:
        try:
            await middleware.notify_shutdown()
        except Exception:  # the app's shutdown handlers are the app's: log, do not crash
            log.exception("The ASGI app's shutdown failed")
    if scope.cancelled_caught:
        log.warning("The ASGI app's shutdown took more than %.0f s; left", SHUTDOWN_SECONDS)
