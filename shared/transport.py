"""Sending a job's next message: to a storage queue or to Service Bus, one interface.

Coordination (fan-out parts, saga steps) and the job API send JSON messages to a named
destination; which broker carries them is the app's choice:

    transport = StorageQueues(account)                  # destination = queue name
    transport = ServiceBusQueues(namespace)             # destination = queue or topic name
    await transport.send("orders-charge", {"jobId": id}, session_id=customer)

Storage queue messages are base64-encoded JSON, as a queue-triggered function reads them
by default, and never expire; a delay is the message's initial invisibility (Azure caps it
at 7 days; `shared.delayed` goes further).
Service Bus messages are JSON bodies; a delay is a scheduled enqueue time; a session id
keeps one key's messages in order on a session-enabled entity (ignored by storage queues,
which have no order to keep).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from ._loopcache import LoopCache
from ._tables import utcnow
from ._tracecontext import trace_properties, with_traceparent
from .errors import InvalidArgument
from .servicebus import ServiceBusNamespace
from .storage import StorageAccount

MAX_STORAGE_DELAY = timedelta(days=7)


class Transport(Protocol):
    """Where a job's messages go."""

    async def send(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        session_id: str | None = None,
        delay: timedelta | None = None,
    ) -> None:
        """Send `body` as JSON to `destination`, visible after `delay`."""


class StorageQueues:
    """Storage queues of one account (created on first use)."""

    def __init__(self, account: StorageAccount, *, base64_encode: bool = True) -> None:
        self.account = account
        self.base64_encode = base64_encode

    async def send(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        session_id: str | None = None,
        delay: timedelta | None = None,
    ) -> None:
        if delay is not None and delay > MAX_STORAGE_DELAY:
            raise InvalidArgument(f"a storage queue delay is at most 7 days, got {delay}")
        text = _json(with_traceparent(body))
        if self.base64_encode:
            text = base64.b64encode(text.encode()).decode()
        queue = await self.account.ensure_queue(destination)
        seconds = None if not delay else math.ceil(delay.total_seconds())
        # -1: the message never expires. Storage's default (7 days) would silently drop a
        # job's next step that waited in a backlog, or behind a delay, that long.
        await queue.send_message(text, visibility_timeout=seconds, time_to_live=-1)


class ServiceBusQueues:
    """Queues and topics of one Service Bus namespace.

    One sender per destination (and event loop), kept open: opening a sender costs
    several round trips (about a second against the local emulator, where the SDK polls
    for each answer). Sends through one sender take turns, because the SDK's async sender
    is not safe for concurrent sends (azure-sdk-for-python#36334). The senders close with
    the namespace's client (`ServiceBusNamespace.close`).
    """

    def __init__(self, namespace: ServiceBusNamespace) -> None:
        self.namespace = namespace
        self._senders = LoopCache()

    async def send(
        self,
        destination: str,
        body: Mapping[str, Any],
        *,
        session_id: str | None = None,
        delay: timedelta | None = None,
    ) -> None:
        from azure.servicebus import ServiceBusMessage

        message = ServiceBusMessage(
            _json(body),
            session_id=session_id,
            content_type="application/json",
            application_properties=trace_properties(),
        )
        if delay:
            message.scheduled_enqueue_time_utc = utcnow() + delay
        turn = self._senders.get(destination, lambda: _Turns(self.namespace, destination))
        async with turn.lock:
            await turn.sender.send_messages(message)


class _Turns:
    """An open sender and the lock that makes its sends take turns."""

    def __init__(self, namespace: ServiceBusNamespace, destination: str) -> None:
        self.sender = namespace.client().get_queue_sender(destination)
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        await self.sender.close()


def _json(body: Mapping[str, Any]) -> str:
    try:
        return json.dumps(body, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"a job message must be JSON: {exc}") from None
