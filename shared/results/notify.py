"""One call for every configured result path once a job reaches a final state.

    notifier = CompletionNotifier(reply=QueueReplySender(account),
                                  callback=CallbackSender(secret),
                                  events=QueueEventPublisher(account))
    job = await store.succeed(job, result_location=url)
    report = await notifier.notify(job)

The status record itself is the first path (read by the status API); the notifier adds the
reply (if the record has `reply_to`), the callback (if it has `callback_url`) and the event.
Paths run concurrently and independently: one failing does not stop the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..status.model import JobStatus
from .callback import CallbackSender
from .events import EventPublisher
from .reply import QueueReplySender, ServiceBusReplySender

log = logging.getLogger(__name__)

ReplySender = QueueReplySender | ServiceBusReplySender


@dataclass(frozen=True)
class Delivery:
    """The outcome of one result path: ``"reply"``, ``"callback"`` or ``"event"``."""

    channel: str
    ok: bool
    detail: str


class CompletionNotifier:
    """Sends a final status down every configured path.

    Parameters
    ----------
    reply, callback, events:
        The senders to use; any may be None.
    """

    def __init__(
        self,
        *,
        reply: ReplySender | None = None,
        callback: CallbackSender | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        self.reply = reply
        self.callback = callback
        self.events = events

    async def notify(self, status: JobStatus) -> list[Delivery]:
        """Deliver `status` on each path that applies to it.

        Returns
        -------
        list[Delivery]
            One entry per path attempted, in the order reply, callback, event.

        Raises
        ------
        InvalidArgument
            `status` is not final (only outcomes are announced).
        """
        if not status.state.is_final:
            raise InvalidArgument(
                f"job {status.job_id!r} is {status.state.value}; only final states are announced"
            )
        work: dict[str, Awaitable[Any]] = {}
        if self.reply is not None and status.reply_to:
            work["reply"] = self.reply.send(status)
        if self.callback is not None and status.callback_url:
            work["callback"] = self.callback.send_status(status)
        if self.events is not None:
            work["event"] = self.events.publish(status)
        results = await asyncio.gather(*work.values(), return_exceptions=True)
        report = []
        for channel, result in zip(work, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # cancellation and the like are not delivery failures
                log.error("job %s: %s delivery failed: %s", status.job_id, channel, result)
                report.append(Delivery(channel, False, f"{type(result).__name__}: {result}"))
            else:
                report.append(Delivery(channel, True, str(result)))
        return report
