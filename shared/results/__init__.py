"""Returning results: reply queues, signed callbacks and completion events.

- `QueueReplySender` / `ServiceBusReplySender` (+ `ReplyAddress.from_message`): the final
  status on the requester's reply queue, with its correlation id.
- `CallbackSender` / `verify_signature`: HMAC-SHA256-signed webhook POSTs with bounded
  retries; receivers verify body, secret and timestamp.
- `QueueEventPublisher` / `ServiceBusEventPublisher`: CloudEvents completion events.
- `CompletionNotifier`: all of the above for one final status.

The status record (`shared.status`) is the fourth path: the status API reads it.
"""

from __future__ import annotations

from .callback import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    CallbackResult,
    CallbackSender,
    RetryPolicy,
    decode_callback,
    sign,
    verify_signature,
)
from .events import DEFAULT_EVENTS, EventPublisher, QueueEventPublisher, ServiceBusEventPublisher
from .notify import CompletionNotifier, Delivery
from .payload import event_document, reply_document, status_document
from .reply import QueueReplySender, ReplyAddress, ServiceBusReplySender, entity_name

__all__ = [
    "DEFAULT_EVENTS",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "CallbackResult",
    "CallbackSender",
    "CompletionNotifier",
    "Delivery",
    "EventPublisher",
    "QueueEventPublisher",
    "QueueReplySender",
    "ReplyAddress",
    "RetryPolicy",
    "ServiceBusEventPublisher",
    "ServiceBusReplySender",
    "decode_callback",
    "entity_name",
    "event_document",
    "reply_document",
    "sign",
    "status_document",
    "verify_signature",
]
