"""The same-host fast path (semantics §2.1.7): a queue output wakes listeners on that queue
in this host at once, instead of waiting for their next poll."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from funchost.core.services import HostServices


class QueueNotifier:
    def __init__(self) -> None:
        self._generation: dict[str, int] = defaultdict(int)
        self._events: dict[str, anyio.Event] = {}

    @classmethod
    def of(cls, services: HostServices) -> QueueNotifier:
        """The host's notifier: outputs and listeners in one host share it."""
        return services.shared(cls, cls)

    def notify(self, queue: str) -> None:
        key = queue.lower()
        self._generation[key] += 1
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def watch(self, queue: str) -> Watch:
        return Watch(self, queue.lower())


class Watch:
    """One listener's view of notifications for its queue. A notification that arrives
    while the listener is busy (say, in a receive call) is not lost: the next `wait`
    returns at once."""

    def __init__(self, notifier: QueueNotifier, key: str) -> None:
        self._notifier = notifier
        self._key = key
        self._seen = notifier._generation[key]

    async def wait(self) -> None:
        """Return once a notification comes (at once if one came since the last wait).
        Callers bound the wait with a cancel scope."""
        n = self._notifier
        if n._generation[self._key] == self._seen:
            event = n._events.get(self._key)
            if event is None:
                event = n._events[self._key] = anyio.Event()
            await event.wait()
        self._seen = n._generation[self._key]
