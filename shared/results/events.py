"""Completion events: a CloudEvents message on an events queue or topic, for subscribers
that did not start the job (dashboards, downstream workflows, notifications)."""

from __future__ import annotations

import base64
from typing import Protocol

from azure.servicebus import ServiceBusMessage

from ..servicebus import ServiceBusNamespace
from ..status.model import JobStatus
from ..storage import StorageAccount
from .payload import encode, event_document

DEFAULT_EVENTS = "job-events"


class EventPublisher(Protocol):
    """Anything that publishes a job's completion event and returns the event id."""

    async def publish(self, status: JobStatus) -> str: ...


class QueueEventPublisher:
    """Completion events on a Storage queue (``job-events`` by default).

    Parameters
    ----------
    account:
        Where the queue lives (created on first use).
    queue:
        The events queue name (take it from a setting to configure it per app).
    source:
        The CloudEvents ``source`` prefix; the job's kind is appended.
    base64_encode:
        As a queue-triggered Function expects by default.
    """

    def __init__(
        self,
        account: StorageAccount,
        queue: str = DEFAULT_EVENTS,
        *,
        source: str = "/jobs",
        base64_encode: bool = True,
    ) -> None:
        self.account = account
        self.queue = queue
        self.source = source
        self.base64_encode = base64_encode

    async def publish(self, status: JobStatus) -> str:
        """Send the event for `status`; returns the CloudEvents id."""
        event = event_document(status, source=self.source)
        body = encode(event)
        client = await self.account.ensure_queue(self.queue)
        await client.send_message(
            base64.b64encode(body).decode() if self.base64_encode else body.decode()
        )
        return str(event["id"])


class ServiceBusEventPublisher:
    """Completion events on a Service Bus topic (or queue), ``job-events`` by default.

    The event type is also the message Subject and the job's kind and state are application
    properties, so subscriptions can filter with SQL or correlation filters.
    """

    def __init__(
        self, namespace: ServiceBusNamespace, topic: str = DEFAULT_EVENTS, *, source: str = "/jobs"
    ) -> None:
        self.namespace = namespace
        self.topic = topic
        self.source = source

    async def publish(self, status: JobStatus) -> str:
        """Send the event for `status`; returns the CloudEvents id."""
        event = event_document(status, source=self.source)
        message = ServiceBusMessage(
            encode(event),
            content_type="application/cloudevents+json",
            message_id=event["id"],
            subject=event["type"],
            correlation_id=status.correlation_id,
            application_properties={
                "jobId": status.job_id,
                "kind": status.kind,
                "state": status.state.value,
            },
        )
        async with self.namespace.client().get_topic_sender(self.topic) as sender:
            await sender.send_messages(message)
        return str(event["id"])
