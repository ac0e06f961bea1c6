"""Where an idempotency key comes from: a message id, a header, or a JSON body field.

Each helper returns a *key function*: given the invocation's arguments by parameter name,
it returns the key, or None if the argument has none. With ``param=None`` the first
argument of a fitting type is used, so ``message_id()`` works whatever the trigger
parameter is called.

- `message_id()`: `func.QueueMessage.id` (stable across redeliveries of one message) or
  `func.ServiceBusMessage.message_id` (set by the sender; Service Bus duplicate detection
  uses the same id).
- `header("Idempotency-Key")`: an HTTP request header.
- `json_field("order.id")`: a field of the JSON body of a queue/Service Bus message or
  HTTP request; use it when the same logical request may arrive as different messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from ..errors import MissingIdempotencyKey

KeyFunc = Callable[[Mapping[str, Any]], "str | None"]
HEADER = "Idempotency-Key"

_MESSAGES = (func.QueueMessage, func.ServiceBusMessage)
_BODIES = (func.QueueMessage, func.ServiceBusMessage, func.HttpRequest)


def message_id(param: str | None = None) -> KeyFunc:
    """Key = the trigger message's id (`QueueMessage.id` / `ServiceBusMessage.message_id`)."""

    def key(args: Mapping[str, Any]) -> str | None:
        msg = _pick(args, param, _MESSAGES, "a queue or Service Bus message")
        value = msg.message_id if isinstance(msg, func.ServiceBusMessage) else msg.id
        return str(value) if value else None

    return key


def header(name: str = HEADER, param: str | None = None) -> KeyFunc:
    """Key = HTTP request header `name` (``Idempotency-Key`` by default)."""

    def key(args: Mapping[str, Any]) -> str | None:
        req = _pick(args, param, (func.HttpRequest,), "an HTTP request")
        value = req.headers.get(name)
        return value.strip() if value and value.strip() else None

    return key


def json_field(path: str, param: str | None = None) -> KeyFunc:
    """Key = the field at dotted `path` in the JSON body (e.g. ``"order.id"``)."""
    parts = path.split(".")

    def key(args: Mapping[str, Any]) -> str | None:
        arg = _pick(args, param, _BODIES, "a message or request with a JSON body")
        try:
            value: Any = json.loads(arg.get_body() or b"null")
        except ValueError:
            raise MissingIdempotencyKey(
                f"body is not JSON, so field {path!r} cannot be read as the idempotency key"
            ) from None
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return None if value is None or value == "" else str(value)

    return key


def argument(param: str) -> KeyFunc:
    """Key = the value of argument `param` itself (for string-typed triggers)."""

    def key(args: Mapping[str, Any]) -> str | None:
        value = args.get(param)
        return None if value in (None, "") else str(value)

    return key


def _pick(args: Mapping[str, Any], param: str | None, types: tuple[type, ...], what: str) -> Any:
    if param is not None:
        if param not in args:
            raise MissingIdempotencyKey(
                f"the function has no argument {param!r} to take the "
                f"idempotency key from (arguments: {sorted(args)})"
            )
        return args[param]
    for value in args.values():
        if isinstance(value, types):
            return value
    raise MissingIdempotencyKey(f"no argument is {what}; name the parameter with param=...")
