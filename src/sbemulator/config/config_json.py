"""Entities from a config file in the shape of Microsoft's Service Bus emulator
`Config.json`, parsed once into frozen dataclasses.

    {"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
        "Queues": [{"Name": "q", "Properties": {"LockDuration": "PT1M", ...}}],
        "Topics": [{"Name": "t", "Properties": {...},
                    "Subscriptions": [{"Name": "s", "Properties": {...},
                                       "Rules": [{"Name": "r", "Properties": {
                                           "FilterType": "Correlation" | "Sql",
                                           "CorrelationFilter": {...},
                                           "SqlFilter": {"SqlExpression": "..."}}}]}]}]}],
      "Logging": {"Type": "File"}}}

Missing or mistyped values raise `ConfigError` naming the file, the entity and the field;
unknown keys only produce warnings (kept in `EmulatorConfig.warnings`), so a file written
for the official emulator with extra settings still loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import sql_filter
from .json_object import JsonObject

BUILTIN_SOURCE = "<built-in default config>"

# Service Bus defaults for properties a file leaves out.
DEFAULT_LOCK_DURATION = 60.0
DEFAULT_MAX_DELIVERY_COUNT = 10
DEFAULT_DUPLICATE_WINDOW = 600.0

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/~]{0,259}$")
_SUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,49}$")

# Correlation filter keys and the system property each one matches.
CORRELATION_FIELDS = {
    "contenttype": "content_type",
    "correlationid": "correlation_id",
    "label": "subject",
    "subject": "subject",
    "messageid": "message_id",
    "replyto": "reply_to",
    "replytosessionid": "reply_to_session_id",
    "sessionid": "session_id",
    "to": "to",
}


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

    def with_entities(
        self, queues: tuple[QueueConfig, ...] = (), topics: tuple[TopicConfig, ...] = ()
    ) -> EmulatorConfig:
        """A copy with more entities (from the command line), validated again."""
        merged = replace(self, queues=self.queues + queues, topics=self.topics + topics)
        _validate(merged)
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


def load_config(path: Path) -> EmulatorConfig:
    """Parse the Config.json at `path`.

    Raises:
        ConfigError: unreadable file, invalid JSON, or an invalid entity (named).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_config(data, str(path))


def parse_config(data: Any, source: str) -> EmulatorConfig:
    """Build an `EmulatorConfig` from decoded JSON; `source` names the file in errors."""
    warnings: list[str] = []
    root = JsonObject(data, source, "top level", warnings)
    user = root.obj("UserConfig", required=True)
    user.known("Namespaces", "Logging")
    namespaces = user.array("Namespaces", required=True)
    if len(namespaces) != 1:
        raise ConfigError(
            f"{source}: UserConfig.Namespaces must hold exactly one namespace "
            f"(found {len(namespaces)}); the emulator serves one namespace"
        )
    ns = JsonObject(namespaces[0], source, "Namespaces[0]", warnings)
    ns.known("Name", "Queues", "Topics")
    name = ns.string("Name") or "sbemulatorns"
    queues = tuple(
        _queue(JsonObject(q, source, f"Queues[{i}]", warnings))
        for i, q in enumerate(ns.array("Queues"))
    )
    topics = tuple(
        _topic(JsonObject(t, source, f"Topics[{i}]", warnings))
        for i, t in enumerate(ns.array("Topics"))
    )
    config = EmulatorConfig(name, queues, topics, source, tuple(warnings))
    _validate(config)
    return config


_ENTITY_KEYS = (
    "LockDuration",
    "MaxDeliveryCount",
    "RequiresSession",
    "DefaultMessageTimeToLive",
    "DeadLetteringOnMessageExpiration",
    "ForwardTo",
    "ForwardDeadLetteredMessagesTo",
)


def _entity_properties(props: JsonObject) -> EntityProperties:
    lock = props.duration("LockDuration", DEFAULT_LOCK_DURATION)
    if lock is None:
        raise props.error("LockDuration", "cannot be infinite")
    if not 5 <= lock <= 300:
        props.warnings.append(
            f"{props.source}: {props.where}: LockDuration {lock:g}s is outside "
            "Azure's range (PT5S to PT5M); Azure would reject it"
        )
    return EntityProperties(
        lock_duration=lock,
        max_delivery_count=props.integer("MaxDeliveryCount", DEFAULT_MAX_DELIVERY_COUNT, 1),
        requires_session=props.boolean("RequiresSession", False),
        default_ttl=props.duration("DefaultMessageTimeToLive", None),
        dead_lettering_on_expiration=props.boolean("DeadLetteringOnMessageExpiration", False),
        forward_to=props.target("ForwardTo"),
        forward_dead_lettered_to=props.target("ForwardDeadLetteredMessagesTo"),
    )


def _named(obj: JsonObject, pattern: re.Pattern[str]) -> str:
    name = obj.string("Name", required=True)
    assert name is not None
    if not pattern.match(name):
        raise obj.error(
            "Name",
            f"invalid entity name {name!r} (letters, digits, '.', '-', '_'"
            f"{', /' if pattern is _NAME else ''}; must start with a letter or digit)",
        )
    obj.where = f"{obj.where} {name!r}"
    return name


def _queue(obj: JsonObject) -> QueueConfig:
    obj.known("Name", "Properties")
    name = _named(obj, _NAME)
    props = obj.obj("Properties")
    props.known(*_ENTITY_KEYS, "RequiresDuplicateDetection", "DuplicateDetectionHistoryTimeWindow")
    window = props.duration("DuplicateDetectionHistoryTimeWindow", DEFAULT_DUPLICATE_WINDOW)
    return QueueConfig(
        name,
        _entity_properties(props),
        props.boolean("RequiresDuplicateDetection", False),
        DEFAULT_DUPLICATE_WINDOW if window is None else window,
    )


def _topic(obj: JsonObject) -> TopicConfig:
    obj.known("Name", "Properties", "Subscriptions")
    name = _named(obj, _NAME)
    props = obj.obj("Properties")
    props.known(
        "DefaultMessageTimeToLive",
        "RequiresDuplicateDetection",
        "DuplicateDetectionHistoryTimeWindow",
    )
    window = props.duration("DuplicateDetectionHistoryTimeWindow", DEFAULT_DUPLICATE_WINDOW)
    subs = tuple(
        _subscription(JsonObject(s, obj.source, f"{obj.where} Subscriptions[{i}]", obj.warnings))
        for i, s in enumerate(obj.array("Subscriptions"))
    )
    return TopicConfig(
        name,
        props.duration("DefaultMessageTimeToLive", None),
        props.boolean("RequiresDuplicateDetection", False),
        DEFAULT_DUPLICATE_WINDOW if window is None else window,
        subs,
    )


def _subscription(obj: JsonObject) -> SubscriptionConfig:
    obj.known("Name", "Properties", "Rules")
    name = _named(obj, _SUB_NAME)
    props = obj.obj("Properties")
    props.known(*_ENTITY_KEYS)
    rules = tuple(
        _rule(JsonObject(r, obj.source, f"{obj.where} Rules[{i}]", obj.warnings))
        for i, r in enumerate(obj.array("Rules"))
    )
    seen: set[str] = set()
    for rule in rules:
        if rule.name.lower() in seen:
            raise obj.error("Rules", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name.lower())
    # A subscription without rules gets the $Default TrueFilter, as Service Bus creates it.
    return SubscriptionConfig(name, _entity_properties(props), rules or (TRUE_RULE,))


def _rule(obj: JsonObject) -> RuleConfig:
    obj.known("Name", "Properties")
    name = _named(obj, re.compile(r"^\$?[A-Za-z0-9._\-]{1,50}$"))
    props = obj.obj("Properties", required=True)
    props.known("FilterType", "CorrelationFilter", "SqlFilter", "Action")
    if props.raw("Action") is not None:
        props.warnings.append(
            f"{props.source}: {props.where}: rule actions are not supported; "
            "the Action is ignored and messages are delivered unchanged"
        )
    kind = (props.string("FilterType", required=True) or "").strip().lower()
    if kind in ("correlation", "correlationfilter"):
        correlation = _correlation(props.obj("CorrelationFilter", required=True))
        return RuleConfig(name, "correlation", correlation=correlation)
    if kind in ("sql", "sqlfilter"):
        sql_obj = props.obj("SqlFilter", required=True)
        sql_obj.known("SqlExpression")
        expression = sql_obj.string("SqlExpression", required=True) or ""
        try:
            sql_filter.compile_filter(expression)
        except sql_filter.SqlFilterError as exc:
            raise sql_obj.error("SqlExpression", str(exc)) from None
        return RuleConfig(name, "sql", sql=expression)
    if kind in ("true", "truefilter"):
        return RuleConfig(name, "true")
    if kind in ("false", "falsefilter"):
        return RuleConfig(name, "false")
    raise props.error("FilterType", f"must be 'Correlation' or 'Sql', found {kind!r}")


def _correlation(obj: JsonObject) -> CorrelationFilterConfig:
    system: dict[str, str] = {}
    properties: dict[str, Any] = {}
    for key, original, value in obj.items():
        if key == "properties":
            if not isinstance(value, dict):
                raise obj.error(original, f"must be a JSON object, found {value!r}")
            properties = dict(value)
        elif key in CORRELATION_FIELDS:
            if value is None:
                continue
            if not isinstance(value, str):
                raise obj.error(original, f"must be a string, found {value!r}")
            system[CORRELATION_FIELDS[key]] = value
        else:
            obj.warnings.append(f"{obj.source}: {obj.where}: unknown key {original!r} ignored")
    if not system and not properties:
        raise ConfigError(
            f"{obj.source}: {obj.where}: a correlation filter needs at least one property to match"
        )
    return CorrelationFilterConfig(system, properties)


def _validate(config: EmulatorConfig) -> None:
    """Cross-entity checks: unique names, forwarding targets that exist, no cycles."""
    where = config.source
    names: dict[str, str] = {}
    for kind, name in [("queue", q.name) for q in config.queues] + [
        ("topic", t.name) for t in config.topics
    ]:
        if name.lower() in names:
            raise ConfigError(
                f"{where}: {kind} {name!r}: name already used by {names[name.lower()]}"
            )
        names[name.lower()] = f"{kind} {name!r}"
    forwards: dict[str, str] = {}
    sources = [(f"queue {q.name!r}", q.name.lower(), q.properties) for q in config.queues]
    for t in config.topics:
        seen: set[str] = set()
        for s in t.subscriptions:
            if s.name.lower() in seen:
                raise ConfigError(f"{where}: topic {t.name!r}: duplicate subscription {s.name!r}")
            seen.add(s.name.lower())
            sources.append(
                (
                    f"topic {t.name!r} subscription {s.name!r}",
                    f"{t.name}/subscriptions/{s.name}".lower(),
                    s.properties,
                )
            )
    for label, key, props in sources:
        targets = (
            ("ForwardTo", props.forward_to),
            ("ForwardDeadLetteredMessagesTo", props.forward_dead_lettered_to),
        )
        for fieldname, target in targets:
            if target is None:
                continue
            if target.lower() not in names:
                raise ConfigError(
                    f"{where}: {label}: {fieldname}: no queue or topic named {target!r}"
                )
            if target.lower() == key:
                raise ConfigError(
                    f"{where}: {label}: {fieldname}: an entity cannot forward to itself"
                )
        if props.forward_to:
            forwards[key] = props.forward_to.lower()
    _check_forward_cycles(config, forwards)


def _check_forward_cycles(config: EmulatorConfig, forwards: dict[str, str]) -> None:
    # A topic forwards to every subscription; a subscription or queue to its ForwardTo.
    edges: dict[str, list[str]] = {k: [v] for k, v in forwards.items()}
    for t in config.topics:
        edges[t.name.lower()] = [
            f"{t.name}/subscriptions/{s.name}".lower() for s in t.subscriptions
        ]
    for start in edges:
        path = [start]
        stack = [(start, iter(edges.get(start, [])))]
        on_path = {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                path.pop()
                continue
            if child in on_path:
                cycle = " -> ".join(path[path.index(child) :] + [child])
                raise ConfigError(f"{config.source}: ForwardTo creates a cycle: {cycle}")
            if child in edges:
                on_path.add(child)
                path.append(child)
                stack.append((child, iter(edges[child])))
