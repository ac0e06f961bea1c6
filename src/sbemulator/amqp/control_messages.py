"""Request/response messages of the `$cbs` and `$management` nodes, decoded and encoded
with the same codec as the data plane (so binary values are real copies, never views
into a decoder's buffer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import (
    AMQP_VALUE,
    APPLICATION_PROPERTIES,
    DATA,
    PROPERTIES,
    Described,
    Int,
    Symbol,
    ULong,
    compound,
    decode,
    encode,
    section,
)
from .message_parsing import sections


@dataclass
class Request:
    message_id: Any = None
    reply_to: str | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    def prop(self, name: str) -> Any:
        return self.application_properties.get(name)


def decode_request(raw: bytes) -> Request:
    """Raises CodecError for bytes that are not a message."""
    req = Request()
    for s in sections(raw):
        value, _ = decode(raw, s.value)
        if s.code == PROPERTIES and isinstance(value, list):
            fields = value + [None] * 5
            req.message_id, req.reply_to = fields[0], fields[4]
        elif s.code == APPLICATION_PROPERTIES and isinstance(value, dict):
            req.application_properties = {str(_plain(k)): _plain(v) for k, v in value.items()}
        elif s.code in (AMQP_VALUE, DATA):
            req.body = value
    return req


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Described) else value


def encode_response(
    correlation_id: Any, application_properties: dict[str, Any], body: Any = None
) -> bytes:
    """A reply: correlation-id set to the request's message-id, status in application
    properties, `body` as an AMQP value."""
    if isinstance(correlation_id, int) and not isinstance(correlation_id, bool):
        correlation_id = ULong(correlation_id)  # ids are ulong, uuid, binary or string
    props = [None, None, None, None, None, correlation_id]
    parts = [
        section(PROPERTIES, compound(0xC0, b"".join(encode(v) for v in props), len(props))),
        section(APPLICATION_PROPERTIES, encode(application_properties)),
    ]
    parts.append(section(AMQP_VALUE, encode(body)))
    return b"".join(parts)


def status_properties(
    status: int, description: str, *, hyphenated: bool = False, condition: str | None = None
) -> dict[str, Any]:
    """Status application properties: CBS spells them `status-code`, management
    `statusCode` (the SDK reads each node's own spelling)."""
    if hyphenated:
        return {"status-code": Int(status), "status-description": description}
    props: dict[str, Any] = {"statusCode": Int(status), "statusDescription": description}
    if condition is not None:
        props["errorCondition"] = Symbol(condition)
    return props
