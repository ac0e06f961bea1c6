"""The config as frozen dataclasses: the namespace's queues, topics, subscriptions and
rules with their properties, Service Bus defaults for what a file leaves out, and the
built-in config used without `--config`. Built by `config_json` (and the command line)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .quotas import Quotas
from .validation import validate

BUILTIN_SOURCE = "<built-in default config>"

# Service Bus defaults for properties a file leaves out.
DEFAULT_LOCK_DURATION = 60.0
DEFAULT_MAX_DELIVERY_COUNT = 10
DEFAULT_DUPLICATE_WINDOW = 600.0


@dataclass(frozen=True)
class EntityProperties:
    """Settings of anything messages are received from: a queue or a subscription."""

    lock_duration: float = DEFAULT_LOCK_DURATION
    max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT
    requires_session: bool = False
    default_ttl: float | None = None  # None: messages never expire
    dead_lettering_on_expiration: bool = False
    forward_to: str | None = None
    forward_dead_lettered_to: str | None = None


@dataclass(frozen=True)
class QueueConfig:
    name: str
    properties: EntityProperties = EntityProperties()
    requires_duplicate_detection: bool = False
    duplicate_detection_window: float = DEFAULT_DUPLICATE_WINDOW


@dataclass(frozen=True)
class CorrelationFilterConfig:
    # System property name (snake_case, see CORRELATION_FIELDS) -> required value.
    system: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleConfig:
    name: str
    kind: str  # "true", "false", "correlation" or "sql"
    correlation: CorrelationFilterConfig | None = None
    sql: str | None = None


TRUE_RULE = RuleConfig("$Default", "true")


@dataclass(frozen=True)
class SubscriptionConfig:
    name: str
    properties: EntityProperties = EntityProperties()
    rules: tuple[RuleConfig, ...] = (TRUE_RULE,)


@dataclass(frozen=True)
class TopicConfig:
    name: str
    default_ttl: float | None = None
    requires_duplicate_detection: bool = False
    duplicate_detection_window: float = DEFAULT_DUPLICATE_WINDOW
    subscriptions: tuple[SubscriptionConfig, ...] = ()


@dataclass(frozen=True)
class EmulatorConfig:
    namespace: str = "sbemulatorns"
    queues: tuple[QueueConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    source: str = BUILTIN_SOURCE
    warnings: tuple[str, ...] = ()
    quotas: Quotas = field(default_factory=Quotas)  # UserConfig.Quotas; options override

    def with_entities(
        self, queues: tuple[QueueConfig, ...] = (), topics: tuple[TopicConfig, ...] = ()
    ) -> EmulatorConfig:
        """A copy with more entities (from the command line), validated again."""
        merged = replace(self, queues=self.queues + queues, topics=self.topics + topics)
        validate(merged)
        return merged


def default_config() -> EmulatorConfig:
    """Usable out of the box, named like the official emulator's sample."""
    return EmulatorConfig(
        queues=(
            QueueConfig("queue.1"),
            QueueConfig("queue.2"),
            QueueConfig("session.queue.1", EntityProperties(requires_session=True)),
        ),
        topics=(
            TopicConfig(
                "topic.1",
                subscriptions=(
                    SubscriptionConfig("subscription.1"),
                    SubscriptionConfig("subscription.2"),
                ),
            ),
        ),
    )
