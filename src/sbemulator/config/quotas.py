"""The emulator's quotas: how much one namespace may hold and take at once.

The defaults are the official emulator's ("Usage quotas",
https://learn.microsoft.com/azure/service-bus-messaging/overview-emulator#usage-quotas),
except the connection quota: the official emulator allows 10 connections, and the
Python SDK opens one per sender and receiver (funchost's session trigger alone opens
8), so the default here only guards against floods; `--max-connections 10` gives the
official figure. Each quota is a command-line option and, for a config file, a key of
`UserConfig.Quotas` (an emulator extension), e.g. `{"MaxEntities": 200}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .json_object import JsonObject
    from .model import EmulatorConfig, SubscriptionConfig

MIB = 1024 * 1024


@dataclass(frozen=True)
class Quotas:
    max_entities: int = 50  # queues and topics in the namespace
    max_subscriptions_per_topic: int = 50
    max_correlation_filters_per_topic: int = 1000
    max_connections: int = 1000  # the official emulator: 10 (see the module docstring)
    max_receivers_per_entity: int = 200  # concurrent receivers of a queue or subscription
    max_message_size: int = 256 * 1024  # bytes per message or batch (standard tier)
    max_entity_size: int = 100 * MIB  # bytes stored in a queue or topic
    max_message_ttl: float = 3600.0  # seconds; also an entity's default time to live

    def merged(self, **overrides: Any) -> Quotas:
        """A copy with the values that are not None in `overrides` (command-line options
        win over the config file)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# Config.json keys (UserConfig.Quotas) and the fields they set; sizes in the file are in
# the units the official documentation uses.
QUOTA_KEYS = {
    "MaxEntities": "max_entities",
    "MaxSubscriptionsPerTopic": "max_subscriptions_per_topic",
    "MaxCorrelationFiltersPerTopic": "max_correlation_filters_per_topic",
    "MaxConnections": "max_connections",
    "MaxReceiversPerEntity": "max_receivers_per_entity",
    "MaxMessageSizeInKilobytes": "max_message_size",
    "MaxEntitySizeInMegabytes": "max_entity_size",
    "MaxMessageTimeToLive": "max_message_ttl",
}
_SCALE = {"max_message_size": 1024, "max_entity_size": MIB}


def quotas_from_json(obj: JsonObject) -> Quotas:
    """`UserConfig.Quotas` of a config file.

    Raises:
        ConfigError: a value of the wrong kind, or not positive.
    """
    obj.known(*QUOTA_KEYS)
    values: dict[str, Any] = {}
    for key, name in QUOTA_KEYS.items():
        if obj.raw(key) is None:
            continue
        if name == "max_message_ttl":
            seconds = obj.duration(key, None)
            values[name] = float("inf") if seconds is None else seconds
        else:
            values[name] = obj.integer(key, 0, 1) * _SCALE.get(name, 1)
    return Quotas(**values)


def check_quotas(config: EmulatorConfig, quotas: Quotas) -> list[str]:
    """Warnings for what the quotas cut short (time to live beyond the quota).

    Raises:
        ConfigError: more entities, subscriptions or correlation filters than allowed.
    """
    entities = len(config.queues) + len(config.topics)
    if entities > quotas.max_entities:
        raise ConfigError(
            f"{config.source}: {entities} queues and topics, more than the quota of "
            f"{quotas.max_entities} (raise it with --max-entities or Quotas.MaxEntities)"
        )
    warnings = []
    for topic in config.topics:
        check_topic_quotas(topic.name, topic.subscriptions, quotas, config.source)
    ttls = [(f"queue {q.name!r}", q.properties.default_ttl) for q in config.queues]
    ttls += [(f"topic {t.name!r}", t.default_ttl) for t in config.topics]
    ttls += [
        (f"topic {t.name!r} subscription {s.name!r}", s.properties.default_ttl)
        for t in config.topics
        for s in t.subscriptions
    ]
    for label, ttl in ttls:
        if ttl is not None and ttl > quotas.max_message_ttl:
            warnings.append(
                f"{config.source}: {label}: DefaultMessageTimeToLive {ttl:g}s is beyond the "
                f"emulator's quota of {quotas.max_message_ttl:g}s; messages expire after that"
            )
    return warnings


def check_topic_quotas(
    topic: str, subscriptions: Sequence[SubscriptionConfig], quotas: Quotas, source: str
) -> None:
    """Raises ConfigError if `topic` has more subscriptions or correlation filters than
    the quotas allow."""
    if len(subscriptions) > quotas.max_subscriptions_per_topic:
        raise ConfigError(
            f"{source}: topic {topic!r}: {len(subscriptions)} subscriptions, more than the "
            f"quota of {quotas.max_subscriptions_per_topic} (raise it with "
            "--max-subscriptions-per-topic or Quotas.MaxSubscriptionsPerTopic)"
        )
    filters = sum(1 for s in subscriptions for r in s.rules if r.kind == "correlation")
    if filters > quotas.max_correlation_filters_per_topic:
        raise ConfigError(
            f"{source}: topic {topic!r}: {filters} correlation filters, more than the quota "
            f"of {quotas.max_correlation_filters_per_topic} (raise it with "
            "--max-correlation-filters-per-topic or Quotas.MaxCorrelationFiltersPerTopic)"
        )


__all__ = ["QUOTA_KEYS", "Quotas", "check_quotas", "check_topic_quotas", "quotas_from_json"]
