"""Delayed one-off jobs: "run at time T", on Storage queues and on Service Bus.

Storage queues hide a message for a visibility timeout, which Azure caps at 7 days. A job
due later is sent as an envelope (the due time and the message as it will be stored) that
comes back every 7 days; the consumer re-enqueues it with what is left (capped again) and
returns, and the last hop puts the message itself on the queue (so a consumer that does not
use `arrived` still gets jobs due within 7 days as they were sent)::

    delayed = DelayedQueue(account, "reports")
    sent = await delayed.send({"report": 7}, at=datetime(2027, 1, 1, tzinfo=timezone.utc))

    @app.queue_trigger(arg_name="msg", queue_name="reports", connection="AzureWebJobsStorage")
    async def run_report(msg: func.QueueMessage) -> None:
        body = await delayed.arrived(msg)
        if body is None:
            return          # not due yet: re-enqueued (the host deletes this copy)
        await build(json.loads(body))

Service Bus schedules a message for any time, and can cancel it by its sequence number::

    scheduler = ScheduledSender(namespace, "reports")
    number = await scheduler.schedule({"report": 7}, at=when)
    await scheduler.cancel(number)
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageNotFoundError

from ._tables import Clock, utcnow
from ._tracecontext import trace_properties, with_traceparent
from .errors import InvalidArgument
from .servicebus import ServiceBusNamespace
from .storage import StorageAccount

#: The longest visibility timeout Azure Storage accepts.
MAX_VISIBILITY = timedelta(days=7)
# The envelope's keys: due time, the message as it will be stored, seconds to live once due.
_DUE, _CONTENT, _TTL = "$jobsDelayedUntil", "$jobsContent", "$jobsTimeToLive"


@dataclass(frozen=True)
class DelayedMessage:
    """A job sent for later on a Storage queue.

    Attributes
    ----------
    queue, message_id, pop_receipt:
        The first message sent (the job itself, or its envelope when due beyond 7 days).
    due_at:
        When the job becomes visible to its consumer.
    hops:
        How many times the envelope comes back before the job itself is enqueued.
    """

    queue: str
    message_id: str
    pop_receipt: str
    due_at: datetime
    hops: int


class DelayedQueue:
    """Sends jobs for later on one Storage queue, and tells its consumer when they are due.

    Parameters
    ----------
    account, queue:
        The queue (created on first use).
    encoding:
        host.json ``messageEncoding``: ``"base64"`` (the default) or ``"none"``.
    max_delay:
        The longest visibility delay of one hop: Azure's cap of 7 days by default (a
        shorter one only makes more hops).
    clock:
        Returns aware UTC datetimes; injectable for tests.
    """

    def __init__(
        self,
        account: StorageAccount,
        queue: str,
        *,
        encoding: str = "base64",
        max_delay: timedelta = MAX_VISIBILITY,
        clock: Clock = utcnow,
    ) -> None:
        if encoding not in ("base64", "none"):
            raise InvalidArgument(f"encoding must be 'base64' or 'none', got {encoding!r}")
        if not timedelta(seconds=1) <= max_delay <= MAX_VISIBILITY:
            raise InvalidArgument(f"max_delay must be from 1 second to 7 days, got {max_delay}")
        self.account = account
        self.queue = queue
        self.encoding = encoding
        self.max_delay = max_delay
        self.clock = clock

    async def send(
        self,
        body: Any,
        *,
        at: datetime | None = None,
        delay: timedelta | None = None,
        time_to_live: timedelta | None = None,
    ) -> DelayedMessage:
        """Queue `body` (str, bytes or JSON-serialisable) to become visible at `at` (aware)
        or after `delay`; a time in the past means now.

        `time_to_live` is how long it may wait once due (None: it never expires; Storage's
        default of 7 days would drop a job hidden for most of them).

        Raises
        ------
        InvalidArgument
            Neither or both of `at` and `delay`, a naive `at`, or a body that is not JSON.
        """
        if (at is None) == (delay is None):
            raise InvalidArgument("give exactly one of at= and delay=")
        if at is not None and at.tzinfo is None:
            raise InvalidArgument(f"at= must be timezone-aware, got {at!r}")
        due = at if at is not None else self.clock() + (delay or timedelta(0))
        return await self._enqueue(self._encode(_to_bytes(body)), due, time_to_live)

    async def arrived(self, message: func.QueueMessage | bytes) -> bytes | None:
        """The job's body if it is due; None if it is an envelope not due yet, which was
        re-enqueued for the time left (the function then just returns).

        A message that is not an envelope is always due: its visibility delay saw to it.
        """
        body = message if isinstance(message, bytes) else message.get_body()
        envelope = _open(body)
        if envelope is None:
            return body
        if envelope.due <= self.clock():
            return self._decode(envelope.content)
        await self._enqueue(envelope.content, envelope.due, envelope.time_to_live)
        return None

    async def cancel(self, sent: DelayedMessage) -> bool:
        """Delete the job before its first hop ends; False once it came back or was
        delivered (past that, cancel it through its status: `StatusStore.request_cancel`)."""
        queue = self.account.queue(self.queue)
        try:
            await queue.delete_message(sent.message_id, sent.pop_receipt)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) == "PopReceiptMismatch":
                return False  # received since: no longer this sender's to delete
            raise
        return True

    async def _enqueue(
        self, content: str, due: datetime, time_to_live: timedelta | None
    ) -> DelayedMessage:
        left = max(due - self.clock(), timedelta(0))
        hops = math.ceil(left / self.max_delay) - 1 if left > self.max_delay else 0
        if hops:
            envelope: dict[str, Any] = {_DUE: due.isoformat(), _CONTENT: content}
            if time_to_live is not None:
                envelope[_TTL] = time_to_live.total_seconds()
            text, visible_in = self._encode(json.dumps(envelope).encode()), self.max_delay
        else:
            text, visible_in = content, left
        seconds = math.ceil(visible_in.total_seconds())
        ttl = -1 if time_to_live is None else seconds + math.ceil(time_to_live.total_seconds())
        queue = await self.account.ensure_queue(self.queue)
        sent = await queue.send_message(text, visibility_timeout=seconds, time_to_live=ttl)
        return DelayedMessage(self.queue, sent.id, str(sent.pop_receipt), due, hops)

    def _encode(self, data: bytes) -> str:
        return base64.b64encode(data).decode() if self.encoding == "base64" else data.decode()

    def _decode(self, content: str) -> bytes:
        return base64.b64decode(content) if self.encoding == "base64" else content.encode()


class ScheduledSender:
    """Schedules Service Bus messages for later, and cancels them.

    Parameters
    ----------
    namespace:
        The Service Bus namespace.
    entity:
        A queue, or a topic with ``topic=True``.
    clock:
        For `delay=`; returns aware UTC datetimes.
    """

    def __init__(
        self,
        namespace: ServiceBusNamespace,
        entity: str,
        *,
        topic: bool = False,
        clock: Clock = utcnow,
    ) -> None:
        self.namespace = namespace
        self.entity = entity
        self.topic = topic
        self.clock = clock

    async def schedule(
        self,
        body: Any,
        *,
        at: datetime | None = None,
        delay: timedelta | None = None,
        **properties: Any,
    ) -> int:
        """Schedule `body` (a `ServiceBusMessage`, str, bytes or JSON-serialisable) for `at`
        (aware) or after `delay`; `properties` are `ServiceBusMessage` keyword arguments
        (``message_id``, ``application_properties``, ``session_id``, ...).

        Returns
        -------
        int
            The sequence number, for `cancel`.
        """
        if (at is None) == (delay is None):
            raise InvalidArgument("give exactly one of at= and delay=")
        if at is not None and at.tzinfo is None:
            raise InvalidArgument(f"at= must be timezone-aware, got {at!r}")
        when = at if at is not None else self.clock() + (delay or timedelta(0))
        message = body if isinstance(body, ServiceBusMessage) else None
        if message is None:
            props = trace_properties(properties.pop("application_properties", None))
            message = ServiceBusMessage(
                _to_bytes(body, stamp=False), application_properties=props, **properties
            )
        async with self._sender() as sender:
            [number] = await sender.schedule_messages(message, when)
        return int(number)

    async def cancel(self, sequence_number: int) -> bool:
        """Cancel a scheduled message; False if it is no longer scheduled (enqueued
        already, or cancelled before)."""
        async with self._sender() as sender:
            try:
                await sender.cancel_scheduled_messages(sequence_number)
            except MessageNotFoundError:
                return False
        return True

    def _sender(self) -> Any:
        client = self.namespace.client()
        if self.topic:
            return client.get_topic_sender(self.entity)
        return client.get_queue_sender(self.entity)


def _to_bytes(body: Any, *, stamp: bool = True) -> bytes:
    """A body as bytes; a mapping as JSON, with the trace context when `stamp` (storage
    queues carry it in the body; Service Bus in application properties)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if stamp and isinstance(body, Mapping):
        body = with_traceparent(body)
    try:
        return json.dumps(body, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"job body is not JSON-serialisable: {exc}") from None


@dataclass(frozen=True)
class _Envelope:
    due: datetime
    content: str
    time_to_live: timedelta | None


def _open(body: bytes) -> _Envelope | None:
    """The envelope in `body`, or None for any other body."""
    if not body.startswith(b"{") or _DUE.encode() not in body:
        return None
    try:
        data = json.loads(body)
        ttl = data.get(_TTL)
        return _Envelope(
            datetime.fromisoformat(data[_DUE]),
            str(data[_CONTENT]),
            None if ttl is None else timedelta(seconds=float(ttl)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
