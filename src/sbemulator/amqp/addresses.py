"""Link addresses as the SDK writes them, reduced to what they name.

Entity links use a full URI (`amqps://localhost:5672/orders`, the scheme stays amqps
without TLS); `$cbs` and management nodes use plain names (`orders/$management`).
Subscriptions are `topic/Subscriptions/name`, dead-letter queues `<entity>/$DeadLetterQueue`.
Names are case-insensitive in Service Bus, so paths are lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

CBS = "cbs"
MANAGEMENT = "management"
ENTITY = "entity"

_MANAGEMENT_SUFFIX = "/$management"


@dataclass(frozen=True)
class Address:
    kind: str  # CBS, MANAGEMENT or ENTITY
    path: str  # the entity's lower-case path; "" for $cbs


def entity_path(address: str) -> str:
    text = address.strip()
    if "://" in text:
        text = urlsplit(text).path
    return unquote(text).strip("/").lower()


def parse_address(address: str | None) -> Address | None:
    """What `address` names, or None for an empty address."""
    if not address:
        return None
    path = entity_path(address)
    if path == "$cbs":
        return Address(CBS, "")
    if path.endswith(_MANAGEMENT_SUFFIX):
        return Address(MANAGEMENT, path[: -len(_MANAGEMENT_SUFFIX)])
    return Address(ENTITY, path)
