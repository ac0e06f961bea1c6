"""The same-host fast path (semantics §2.1.7): a queue output wakes listeners on that queue
in this host at once, instead of waiting for their next poll."""

from __future__ import annotations

from collections import defaultdict

import anyio


class QueueNotifier:
    def __init__(self) -> None:
        self._events: dict[str, anyio.Event] = defaultdict(anyio.Event)

    def notify(self, queue: str) -> None:
        key = queue.lower()
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait(self, queue: str, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True if woken by a notification."""
        event = self._events[queue.lower()]
        with anyio.move_on_after(timeout):
            await event.wait()
            return True
        return False
