"""The queue between a Service Bus receiver's running messages and its settler: finished
messages go in with their outcome, the settler takes them one at a time, and the receive
loop can wait until the settler has caught up (see ServiceBusTrigger._receive_until_stopping
for why it does). `turn` is held by whichever of the two uses the receiver's connection."""

from __future__ import annotations

import math
from typing import Any

import anyio

from funchost.core.invocation import Outcome

# Messages that ran (or a batch), with the outcome; None when they never ran.
Finished = tuple[list[Any], "Outcome | None"]


class SettleQueue:
    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Finished](math.inf)
        self._unsettled = 0
        self._caught_up = anyio.Event()
        self._caught_up.set()
        # The SDK polls the connection for a receive and for a settlement's outcome alike;
        # when both poll at once, each reads frames meant for the other, and a receive that
        # missed its messages waits out its timeout (0.2 s stalls, measured). One at a time.
        self.turn = anyio.Lock()

    async def put(self, messages: list[Any], outcome: Outcome | None) -> None:
        if self._caught_up.is_set():
            self._caught_up = anyio.Event()
        self._unsettled += 1
        await self._send.send((messages, outcome))

    def close(self) -> None:
        """No more messages will finish: the settler ends once it has settled the rest."""
        self._send.close()

    async def get(self) -> Finished | None:
        """The next finished messages, in the order they finished; None once closed and
        all taken. Call `settled()` when done with them."""
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            return None

    def settled(self) -> None:
        self._unsettled -= 1
        if not self._unsettled:
            self._caught_up.set()

    async def caught_up(self) -> None:
        """Return once every finished message has been settled."""
        await self._caught_up.wait()
