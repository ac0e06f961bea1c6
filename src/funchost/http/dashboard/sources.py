"""How many messages wait where the app's triggers read and where their failures go:
storage queue depths from Storage's estimate, Service Bus counts by peeking (nothing is
locked; a count stops at `PEEK_CAP`) on receivers kept open between refreshes."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio
from azure.core.exceptions import ResourceNotFoundError

from funchost.core.logs import brief
from funchost.ops.servicebus_dead_letters import PEEK_CAP, ServiceBusDeadLetters, peek_all

log = logging.getLogger("funchost.dashboard")
CLOSE_SECONDS = 1.0


async def queue_depth(service: Any, queue: str | None) -> int | None:
    """Storage's estimate of `queue`'s messages (0 for a queue not made yet)."""
    if queue is None:
        return None
    try:
        props = await service.get_queue_client(queue).get_queue_properties()
    except ResourceNotFoundError:
        return 0
    return int(props.approximate_message_count or 0)


class PeekCounter:
    """Counts Service Bus messages by peeking, on receivers kept open between refreshes
    (opening one costs several round trips). Closed with the host's Service Bus client."""

    def __init__(self) -> None:
        self._receivers: dict[tuple[int, str, bool], Any] = {}

    async def close(self) -> None:
        """Close the receivers all at once, within `CLOSE_SECONDS` (the client would close
        them one by one, each waiting for the broker's detach)."""
        receivers, self._receivers = list(self._receivers.values()), {}
        with anyio.move_on_after(CLOSE_SECONDS):
            async with anyio.create_task_group() as tg:
                for receiver in receivers:
                    tg.start_soon(_close_quietly, receiver)

    async def count(self, client: Any, entity: str, dead_letters: bool) -> int:
        key = (id(client), entity, dead_letters)
        receiver = self._receivers.get(key)
        if receiver is None:
            tool = ServiceBusDeadLetters(client, entity)
            receiver = self._receivers[key] = tool.receiver(dead_letters=dead_letters)
        try:
            return min(len(await peek_all(receiver)), PEEK_CAP)
        except Exception:
            self._receivers.pop(key, None)  # a broken link is made again next time
            raise


async def _close_quietly(receiver: Any) -> None:
    with contextlib.suppress(Exception):  # closing is best effort at the host's end
        await receiver.close()


def failure_note(what: str, exc: BaseException) -> str:
    log.debug("dashboard: %s failed", what, exc_info=exc)
    return f"{what}: {brief(exc)}"
