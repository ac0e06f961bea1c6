"""Replies: the final status sent to the queue the requester listens on, with its
correlation id.

Storage queues have no reply-to header, so the requester names its reply queue in the
request (kept as the status record's `reply_to`). Service Bus carries it on the request
message: `ReplyTo` (the entity), `ReplyToSessionId`, and the id to correlate with (the
request's `MessageId`, the request-reply pattern's convention, unless the requester set a
`CorrelationId` of its own).

Every Service Bus reply carries a SessionId, so it can go to a session-enabled reply queue
(the template's `replies` queue is one: each requester accepts only its own session). The
session is the requester's `ReplyToSessionId` when it gave one, else the correlation id
(the request's MessageId by default), else the job id: a requester that set no
ReplyToSessionId receives its reply by accepting the session named by its request's id.
On a queue without sessions the SessionId is carried and ignored.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from azure.servicebus import ServiceBusMessage

from ..errors import InvalidArgument
from ..servicebus import ServiceBusNamespace
from ..status.model import JobStatus
from ..storage import StorageAccount
from .payload import encode, reply_document

DEFAULT_REPLY_QUEUE = "replies"  # the session-enabled reply queue infra/ provisions


@dataclass(frozen=True)
class ReplyAddress:
    """Where and how to answer a request.

    Attributes
    ----------
    reply_to:
        The queue (or topic) name to send the reply to.
    correlation_id:
        The id the requester matches replies with.
    session_id:
        The requester's session (its ReplyToSessionId); None lets the sender use the
        correlation id as the session.
    """

    reply_to: str
    correlation_id: str | None = None
    session_id: str | None = None

    @classmethod
    def from_message(cls, message: Any) -> ReplyAddress:
        """The reply address of a Service Bus request: a `func.ServiceBusMessage` or an SDK
        `ServiceBusReceivedMessage`.

        Raises
        ------
        InvalidArgument
            The message has no ReplyTo.
        """
        reply_to = getattr(message, "reply_to", None)
        if not reply_to:
            raise InvalidArgument(f"message {message.message_id!r} has no ReplyTo to answer")
        return cls(
            entity_name(reply_to),
            getattr(message, "correlation_id", None) or message.message_id,
            getattr(message, "reply_to_session_id", None),
        )


def entity_name(reply_to: str) -> str:
    """The entity in a ReplyTo, which may be a bare name or an ``sb://``/``https://`` URI."""
    if "://" in reply_to:
        path = urlparse(reply_to).path.strip("/")
        if not path:
            raise InvalidArgument(f"ReplyTo {reply_to!r} names no entity")
        return path
    return reply_to.strip("/")


class QueueReplySender:
    """Sends final statuses to Storage reply queues.

    Parameters
    ----------
    account:
        The account holding the reply queues (created on first use).
    base64_encode:
        Base64-encode the JSON, as a queue-triggered Function expects by default
        (``messageEncoding: base64`` in host.json); False for raw JSON text.
    """

    def __init__(self, account: StorageAccount, *, base64_encode: bool = True) -> None:
        self.account = account
        self.base64_encode = base64_encode

    async def send(
        self, status: JobStatus, *, queue: str | None = None, correlation_id: str | None = None
    ) -> str:
        """Send `status` to `queue` (default: the record's `reply_to`).

        Returns
        -------
        str
            The reply message's id.

        Raises
        ------
        InvalidArgument
            No queue was given and the record has no `reply_to`.
        """
        target = queue or status.reply_to
        if not target:
            raise InvalidArgument(f"job {status.job_id!r} has no reply queue")
        body = encode(reply_document(status, correlation_id or status.correlation_id))
        content = base64.b64encode(body).decode() if self.base64_encode else body.decode()
        client = await self.account.ensure_queue(target)
        sent = await client.send_message(content)
        return str(sent.id)


class ServiceBusReplySender:
    """Sends final statuses to Service Bus reply entities with CorrelationId set."""

    def __init__(self, namespace: ServiceBusNamespace) -> None:
        self.namespace = namespace

    async def send(self, status: JobStatus, address: ReplyAddress | None = None) -> str:
        """Send `status` to `address` (default: the record's `reply_to`/`correlation_id`).

        Returns
        -------
        str
            The reply's MessageId.

        Raises
        ------
        InvalidArgument
            No address was given and the record has no `reply_to`.
        """
        if address is None:
            if not status.reply_to:
                raise InvalidArgument(f"job {status.job_id!r} has no reply entity")
            address = ReplyAddress(entity_name(status.reply_to), status.correlation_id)
        correlation = address.correlation_id or status.correlation_id
        message = ServiceBusMessage(
            encode(reply_document(status, correlation)),
            content_type="application/json",
            correlation_id=correlation,
            # Never None: a session-enabled reply queue refuses a message without one.
            session_id=address.session_id or correlation or status.job_id,
            message_id=f"{status.job_id}:{status.state.value}",
            subject=f"job.{status.state.value.lower()}",
            application_properties={"jobId": status.job_id, "state": status.state.value},
        )
        async with self.namespace.client().get_queue_sender(address.reply_to) as sender:
            await sender.send_messages(message)
        return str(message.message_id)
