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
            # Loops that were closed (a finished asyncio.run) cannot close their clients any
            # more; drop them so they do not pile up.
            for stale in [lp for lp in self._by_loop if lp.is_closed()]:
                del self._by_loop[stale]
            objects = self._by_loop.setdefault(loop, {})
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


async def close_current_loop() -> None:
    """Close every cached object of the running loop (clients and their aiohttp sessions):
    what `shared.sync` runs before its background loop ends with the interpreter."""
    for cache in list(_caches):
        for obj in cache.pop_current():
            close = getattr(obj, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing is best effort at exit
                    await close()
