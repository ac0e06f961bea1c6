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
    elif value.tzinfo is not timezone.utc:  # the SDK's are UTC already: no conversion
        value = value.astimezone(timezone.utc)
    return value.isoformat()


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


def _amqp_text(props: Any, name: str) -> str | None:
    """A string field of the AMQP properties section, decoded as the SDK's getters do."""
    value = getattr(props, name, None)
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def fields(message: Any) -> dict[str, Any]:
    """The metadata values of one message, by the real host's names."""
    props = _properties(message)
    state = getattr(message, "state", None)
    # The properties section read once: each SDK getter (message_id, subject, ...) first
    # tests the section's truthiness, which lists its attributes, ~5 us a getter (measured).
    amqp = message.raw_amqp_message.properties
    subject = _amqp_text(amqp, "subject")
    enqueued, ttl = message.enqueued_time_utc, message.time_to_live
    return {
        "MessageId": _amqp_text(amqp, "message_id"),
        "CorrelationId": _amqp_text(amqp, "correlation_id"),
        "ContentType": _amqp_text(amqp, "content_type"),
        "Label": subject,
        "Subject": subject,
        "To": _amqp_text(amqp, "to"),
        "ReplyTo": _amqp_text(amqp, "reply_to"),
        "ReplyToSessionId": _amqp_text(amqp, "reply_to_group_id"),
        "SessionId": _amqp_text(amqp, "group_id"),
        "PartitionKey": _text(message.partition_key),
        "TransactionPartitionKey": _text(getattr(message, "transaction_partition_key", None)),
        # .NET counts the current delivery (first = 1); the AMQP header, as the Python SDK
        # shows it, counts earlier ones only.
        "DeliveryCount": (message.delivery_count or 0) + 1,
        "SequenceNumber": message.sequence_number,
        "EnqueuedSequenceNumber": getattr(message, "enqueued_sequence_number", None),
        "EnqueuedTimeUtc": _iso(enqueued),
        # What the SDK's expires_at_utc computes, from the two read once above.
        "ExpiresAtUtc": _iso(enqueued + ttl) if enqueued and ttl else None,
        "LockedUntil": _iso(getattr(message, "locked_until_utc", None)),
        "LockToken": str(message.lock_token) if message.lock_token else None,
        "ScheduledEnqueueTimeUtc": _iso(message.scheduled_enqueue_time_utc),
        "TimeToLive": _seconds(ttl),
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
    kind = type(value)
    if kind is str:
        return Datum(value, "string")
    if kind is int:
        return Datum(value, "int")
    if kind is dict or kind is list or kind is bool:
        return Datum(json.dumps(value) if value != {} else "{}", "json")
    return Datum(str(value), "string")


def message_data(
    message: Any, row: dict[str, Any]
) -> tuple[Datum, dict[str, Datum], dict[str, Any]]:
    """The datum, trigger metadata and binding data of one message whose `fields` are
    `row`."""
    values = {k: v for k, v in row.items() if v is not None}
    body = body_of(message)
    try:
        datum = Datum(body.decode("utf-8"), "string")
        parsed = json.loads(datum.value) if datum.value[:1] == "{" else None
        if isinstance(parsed, dict):  # JSON body properties are binding data too
            values = {**parsed, **values}
    except (UnicodeDecodeError, ValueError):
        datum = Datum(body, "bytes")
    return datum, {k: _datum(v) for k, v in values.items()}, values


def batch_data(
    messages: list[Any], rows: list[dict[str, Any]]
) -> tuple[Datum, dict[str, Datum], dict[str, Any]]:
    values = {f"{key}Array": [row[key] for row in rows] for key in rows[0]}
    metadata = {key: Datum(json.dumps(column), "json") for key, column in values.items()}
    bodies = SimpleNamespace(bytes=[body_of(m) for m in messages])
    return Datum(bodies, "collection_bytes"), metadata, values


def reason_for(entity: str, first: dict[str, Any], count: int) -> str:
    """The Executing line's reason, from the `fields` of the (first) message."""
    return (
        f"Trigger Details: MessageId: {first['MessageId']}, SequenceNumber: "
        f"{first['SequenceNumber']}, DeliveryCount: {first['DeliveryCount']}, "
        f"EnqueuedTimeUtc: {first['EnqueuedTimeUtc']}, SessionId: {first['SessionId']}"
        + (f", Count: {count}" if count > 1 else "")
        + f" ({entity})"
    )


def manual_data(body: str, *, many: bool) -> tuple[Datum, dict[str, Datum]]:
    """An admin call's input as one message without broker metadata."""
    if many:
        return (
            Datum(SimpleNamespace(bytes=[body.encode("utf-8")]), "collection_bytes"),
            {"UserPropertiesArray": Datum("[{}]", "json")},
        )
    return Datum(body, "string"), {"UserProperties": Datum("{}", "json")}
