"""Request and response messages of the `$cbs` and `$management` nodes, decoded and
encoded by proton's `Message`.

These are small and nothing in them is kept or forwarded, so a full decode and encode
costs nothing that matters (unlike the messages the broker stores, see `codec`). What
needs care is proton's habit of handing back binary values as views into its own buffers:
`decode_request` copies them out (and turns arrays into lists) before the `Message` goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proton import UNDESCRIBED, Array, Described, Message, ProtonException, int32, symbol

from .codec import CodecError
from .message_parsing import sections


@dataclass(frozen=True)
class Request:
    """A decoded request: `message_id` goes back as the reply's correlation-id."""

    message_id: Any = None
    reply_to: str | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None

    def prop(self, name: str) -> Any:
        return self.application_properties.get(name)


def decode_request(raw: bytes) -> Request:
    """The request encoded in `raw`.

    Raises:
        CodecError: `raw` is not an AMQP message.
    """
    # proton's decoder takes any bytes (garbage gives an empty message), so the shape is
    # checked first: a malformed request is refused, not answered as an unknown operation.
    sections(raw)
    message = Message()
    try:
        message.decode(raw)
    except (ProtonException, ValueError) as exc:  # ValueError: text that is not UTF-8
        raise CodecError(f"not an AMQP message ({exc})") from None
    properties: Mapping[str, Any] = message.properties or {}
    return Request(
        message_id=owned(message.id),
        reply_to=message.reply_to,
        application_properties={str(k): owned(v) for k, v in properties.items()},
        body=owned(message.body),
    )


def owned(value: Any) -> Any:
    """`value` as plain Python data that outlives the proton object it came from: binary
    values (memoryviews into proton's buffer, garbage once it is freed) become bytes,
    arrays become lists, described values their value."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {owned(k): owned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [owned(v) for v in value]
    if isinstance(value, Array):
        return [owned(v) for v in value.elements]
    if isinstance(value, Described):
        return owned(value.value)
    return value


def encode_response(
    correlation_id: Any, application_properties: Mapping[str, Any], body: Any = None
) -> bytes:
    """A reply: correlation-id set to the request's message-id (an int goes out as the
    ulong it came in as), the status in application properties, `body` as an AMQP value
    (none when it is None). Typed values (arrays, timestamps) are proton's types."""
    reply = Message(
        correlation_id=correlation_id, properties=dict(application_properties), body=body
    )
    return bytes(reply.encode())


def amqp_array(kind: int, values: Iterable[Any]) -> Array:
    """An AMQP array of one element type (`kind`, a `proton.Data` type code such as
    `Data.LONG`), which the SDK expects where a list would not do: lock-token
    expirations, sequence numbers."""
    # proton annotates Array's descriptor as AMQP data, yet UNDESCRIBED is its own "none".
    return Array(UNDESCRIBED, kind, *values)  # type: ignore[arg-type]  # proton mistypes UNDESCRIBED


def status_properties(
    status: int, description: str, *, hyphenated: bool = False, condition: str | None = None
) -> dict[str, Any]:
    """Status application properties: CBS spells them `status-code`, management
    `statusCode` (the SDK reads each node's own spelling); the code is an AMQP int."""
    if hyphenated:
        return {"status-code": int32(status), "status-description": description}
    props: dict[str, Any] = {"statusCode": int32(status), "statusDescription": description}
    if condition is not None:
        props["errorCondition"] = symbol(condition)
    return props
