"""A received Service Bus message as the real host hands it to the worker (semantics §5):
the body, and trigger metadata under the .NET names the library's converter reads
(`MessageId`, `DeliveryCount`, `UserProperties`, ...); for batches the same names with
`Array`. The converter tells one message from a batch by `UserProperties` versus
`UserPropertiesArray`, so one of them is always sent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from azure.functions.meta import Datum


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _properties(message: Any) -> dict[str, Any]:
    props = message.application_properties or {}
    return {str(_text(k)): _jsonable(_text(v)) for k, v in props.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _seconds(value: timedelta | None) -> str | None:
    # The library parses TimeToLive with '%H:%M:%S', '%M:%S' or '%S'; whole seconds read
    # right for any length (a TimeSpan such as "14.00:00:00" would not parse at all).
    return None if value is None else str(int(value.total_seconds()))


def fields(message: Any) -> dict[str, Any]:
    """The metadata values of one message, by the real host's names."""
    props = _properties(message)
    state = getattr(message, "state", None)
    return {
        "MessageId": _text(message.message_id),
        "CorrelationId": _text(message.correlation_id),
        "ContentType": _text(message.content_type),
        "Label": _text(message.subject),
        "Subject": _text(message.subject),
        "To": _text(message.to),
        "ReplyTo": _text(message.reply_to),
        "ReplyToSessionId": _text(message.reply_to_session_id),
        "SessionId": _text(message.session_id),
        "PartitionKey": _text(message.partition_key),
        "TransactionPartitionKey": _text(getattr(message, "transaction_partition_key", None)),
        # .NET counts the current delivery (first = 1); the AMQP header, as the Python SDK
        # shows it, counts earlier ones only.
        "DeliveryCount": (message.delivery_count or 0) + 1,
        "SequenceNumber": message.sequence_number,
        "EnqueuedSequenceNumber": getattr(message, "enqueued_sequence_number", None),
        "EnqueuedTimeUtc": _iso(message.enqueued_time_utc),
        "ExpiresAtUtc": _iso(message.expires_at_utc),
        "LockedUntil": _iso(getattr(message, "locked_until_utc", None)),
        "LockToken": str(message.lock_token) if message.lock_token else None,
        "ScheduledEnqueueTimeUtc": _iso(message.scheduled_enqueue_time_utc),
        "TimeToLive": _seconds(message.time_to_live),
        "DeadLetterReason": _text(message.dead_letter_reason),
        "DeadLetterErrorDescription": _text(message.dead_letter_error_description),
        "DeadLetterSource": _text(message.dead_letter_source),
        "State": int(getattr(state, "value", state) or 0),
        "ApplicationProperties": props,
        "UserProperties": props,
    }


def body_of(message: Any) -> bytes:
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(bytes(part) for part in body)  # a data body: a list of sections


def _datum(value: Any) -> Datum:
    if isinstance(value, (dict, list)):
        return Datum(json.dumps(value), "json")
    if isinstance(value, bool):
        return Datum(json.dumps(value), "json")
    if isinstance(value, int):
        return Datum(value, "int")
    return Datum(str(value), "string")


def message_data(message: Any) -> tuple[Datum, dict[str, Datum], dict[str, Any]]:
    values = {k: v for k, v in fields(message).items() if v is not None}
    body = body_of(message)
    try:
        datum = Datum(body.decode("utf-8"), "string")
        parsed = json.loads(datum.value) if datum.value[:1] == "{" else None
        if isinstance(parsed, dict):  # JSON body properties are binding data too
            values = {**parsed, **values}
    except (UnicodeDecodeError, ValueError):
        datum = Datum(body, "bytes")
    return datum, {k: _datum(v) for k, v in values.items()}, values


def batch_data(messages: list[Any]) -> tuple[Datum, dict[str, Datum], dict[str, Any]]:
    rows = [fields(m) for m in messages]
    metadata = {f"{key}Array": Datum(json.dumps([row[key] for row in rows]), "json")
                for key in rows[0]}
    bodies = SimpleNamespace(bytes=[body_of(m) for m in messages])
    values = {f"{key}Array": [row[key] for row in rows] for key in rows[0]}
    return Datum(bodies, "collection_bytes"), metadata, values


def reason_for(entity: str, messages: list[Any]) -> str:
    first = messages[0]
    return (f"Trigger Details: MessageId: {first.message_id}, SequenceNumber: "
            f"{first.sequence_number}, DeliveryCount: {(first.delivery_count or 0) + 1}, "
            f"EnqueuedTimeUtc: {_iso(first.enqueued_time_utc)}, SessionId: {first.session_id}"
            + (f", Count: {len(messages)}" if len(messages) > 1 else "")
            + f" ({entity})")


def manual_data(body: str, *, many: bool) -> tuple[Datum, dict[str, Datum]]:
    """An admin call's input as one message without broker metadata."""
    if many:
        return (Datum(SimpleNamespace(bytes=[body.encode("utf-8")]), "collection_bytes"),
                {"UserPropertiesArray": Datum("[{}]", "json")})
    return Datum(body, "string"), {"UserProperties": Datum("{}", "json")}
