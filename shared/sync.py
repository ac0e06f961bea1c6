"""The path for synchronous callers: run the library's coroutines from plain code.

The library's API is async. A synchronous Azure Function (run by the worker in a thread
without an event loop) calls it through `run`:

    from shared import sync
    status = sync.run(store.get(job_id))

`run` executes the coroutine on one long-lived background event loop, so clients (and their
connection pools) are reused across calls instead of being rebuilt by `asyncio.run` each
time, and background work such as lease renewal keeps running between calls.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from ._loopcache import close_current_loop

T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule `coro` on the background loop; returns a concurrent Future."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the background loop and wait for its result.

        Raises
        ------
        RuntimeError
            If called from a thread whose event loop is running (it would block that loop;
            `await` the coroutine there instead).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError(
                "shared.sync.run() called inside a running event loop; await the coroutine instead"
            )
        return self.submit(coro).result(timeout)

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="shared-jobs-loop", daemon=True
                )
                thread.start()
                self._loop = loop
                atexit.register(self.close)
            return self._loop

    def close(self, timeout: float = 5.0) -> None:
        """Close the clients the loop opened, then stop it (at interpreter exit: without
        this, every aiohttp session warns "Unclosed client session")."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):  # the interpreter is going away regardless
            asyncio.run_coroutine_threadsafe(close_current_loop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)


_default = BackgroundLoop()


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a library coroutine from synchronous code and return its result.

    Parameters
    ----------
    coro:
        A coroutine from the library, e.g. ``store.get(job_id)``.
    timeout:
        Seconds to wait; None waits as long as it takes.

    Raises
    ------
    RuntimeError
        If called where an event loop is running (use ``await`` there).
    """
    return _default.run(coro, timeout)


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Start a library coroutine from synchronous code without waiting for it."""
    return _default.submit(coro)
