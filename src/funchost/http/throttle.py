"""http.maxConcurrentRequests / maxOutstandingRequests: over the limit => 429
(H `HttpThrottleMiddleware.cs`, semantics §1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class Rejected(Exception):
    pass


class Throttle:
    def __init__(self, max_concurrent: int, max_outstanding: int) -> None:
        self._running = anyio.Semaphore(max_concurrent) if max_concurrent > 0 else None
        self._max_outstanding = max_outstanding
        self._outstanding = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if 0 < self._max_outstanding <= self._outstanding:
            raise Rejected
        self._outstanding += 1
        try:
            if self._running is None:
                yield
            else:
                async with self._running:
                    yield
        finally:
            self._outstanding -= 1
