"""Storage-queue pieces shared by the queue trigger, the queue output and the blob
trigger's internal queue: message encoding, poison-queue naming, creating queues."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from typing import Any

from azure.core.exceptions import ResourceExistsError

log = logging.getLogger("funchost.queues")

MAX_QUEUE_NAME = 63


class UndecodableMessage(ValueError):
    """A message that is not valid for the configured encoding (semantics §2.2)."""


class Codec:
    """`messageEncoding`: base64 (the default) or none, for sending and receiving."""

    def __init__(self, encoding: str) -> None:
        self.base64 = encoding.lower() == "base64"

    def encode(self, body: str | bytes) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        if self.base64:
            return base64.b64encode(data).decode("ascii")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("binary message bodies need messageEncoding 'base64'") from None

    def decode(self, content: str) -> bytes:
        if not self.base64:
            return content.encode("utf-8")
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise UndecodableMessage(
                "the message is not a valid Base-64 string (messageEncoding is 'base64'; "
                "send base64 text, or set extensions.queues.messageEncoding to 'none')"
            ) from None


#: Where blob-trigger messages go after poisonBlobThreshold failures, in the blob's own
#: account (N `Shared/HostQueueNames.cs`).
BLOB_TRIGGER_POISON = "webjobs-blobtrigger-poison"


def blob_trigger_queue(host_id: str) -> str:
    """The host queue blob-trigger messages go through (semantics §3.3)."""
    return f"azure-webjobs-blobtrigger-{host_id}"


def poison_queue_name(queue: str) -> str | None:
    """`<queue>-poison`, or None where the real host has no poison queue: names already
    ending in -poison, or longer than 63 characters (N `QueueListenerFactory.cs`)."""
    if queue.lower().endswith("-poison"):
        return None
    name = f"{queue}-poison"
    return name if len(name) <= MAX_QUEUE_NAME else None


async def receive_batch(client: Any, count: int, visibility_seconds: int) -> list[Any]:
    """One Get Messages call. (Iterating the SDK's pager fetches page after page until a
    page comes back empty: a second round trip on every poll that found anything.)"""
    pages = client.receive_messages(
        max_messages=count, messages_per_page=count, visibility_timeout=visibility_seconds
    ).by_page()
    try:
        page = await pages.__anext__()
    except StopAsyncIteration:
        return []
    return [m async for m in page]


async def ensure_queue(client: Any) -> None:
    with contextlib.suppress(ResourceExistsError):
        await client.create_queue()
