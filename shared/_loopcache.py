"""Async SDK clients cached per event loop.

An `.aio` client owns an aiohttp session, which belongs to the loop it was first used on.
The library's stores may be used from the Functions worker's loop, from the background
loop that serves synchronous callers (`shared.sync`), or from a test's loop; keeping one
client set per loop lets one store object serve all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class LoopCache:
    """Objects created on demand, one per (running loop, key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[Any, Any]] = {}
        _caches.add(self)

    def get(self, key: Any, create: Callable[[], T]) -> T:
        """The object for `key` on the running loop, created by `create()` the first time."""
        loop = asyncio.get_running_loop()
        with self._lock:
            objects = self._by_loop.get(loop)
            if objects is None:  # a loop seen for the first time (not on every call)
                # Loops that were closed (a finished asyncio.run) cannot close their clients
                # any more; drop them so they do not pile up.
                for stale in [lp for lp in self._by_loop if lp.is_closed()]:
                    del self._by_loop[stale]
                objects = self._by_loop[loop] = {}
                _close_when_loop_ends(loop)
            if key not in objects:
                objects[key] = create()
            return objects[key]  # type: ignore[no-any-return]

    def pop_current(self) -> list[Any]:
        """Remove and return the running loop's objects (for closing them)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return list(self._by_loop.pop(loop, {}).values())


# Every cache, so the objects made on one loop can be closed when that loop ends.
_caches: weakref.WeakSet[LoopCache] = weakref.WeakSet()


# The loops whose end closes their objects, each with the parked generator that does it.
_closers: dict[asyncio.AbstractEventLoop, Any] = {}


def _close_when_loop_ends(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop's objects when the loop ends, if it ends the standard way.

    `asyncio.run`, `asyncio.Runner` and `anyio.run` finalise every async generator still
    open on the loop (`loop.shutdown_asyncgens()`) after its tasks are cancelled and while it
    still runs: a generator parked at a `yield` closes the objects in its `finally`. Without
    this, a host that stops (funchost, a test) leaves the app's aiohttp sessions to the
    garbage collector, which prints "Unclosed client session" for each. On Azure the worker's
    loop never ends (its process is stopped), so this never runs there.
    """
    if loop in _closers:
        return

    async def closer() -> Any:
        try:
            yield
        finally:
            _closers.pop(loop, None)
            await close_current_loop()

    async def park() -> None:
        # The first `__anext__` registers the generator with the loop's hooks (the loop
        # keeps it only weakly: `_closers` holds it) and runs it up to its `yield`.
        await gen.__anext__()

    gen = _closers[loop] = closer()
    loop.create_task(park())


async def close_current_loop() -> None:
    """Close every cached object of the running loop (clients and their aiohttp sessions):
    what `shared.sync` runs before its background loop ends with the interpreter."""
    for cache in list(_caches):
        for obj in cache.pop_current():
            close = getattr(obj, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing is best effort at exit
                    await close()
