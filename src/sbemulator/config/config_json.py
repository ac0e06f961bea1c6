"""Entities from a config file in the shape of Microsoft's Service Bus emulator
`Config.json`, parsed once into the frozen dataclasses of `model`.

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
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import sql_filter
from .json_object import JsonObject
from .model import (
    DEFAULT_DUPLICATE_WINDOW,
    DEFAULT_LOCK_DURATION,
    DEFAULT_MAX_DELIVERY_COUNT,
    TRUE_RULE,
    CorrelationFilterConfig,
    EmulatorConfig,
    EntityProperties,
    QueueConfig,
    RuleConfig,
    SubscriptionConfig,
    TopicConfig,
)
from .quotas import quotas_from_json
from .validation import validate

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
    user.known("Namespaces", "Logging", "Quotas")
    quotas = quotas_from_json(user.obj("Quotas"))
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
    config = EmulatorConfig(name, queues, topics, source, tuple(warnings), quotas)
    validate(config)
    return config


def queue_from_json(data: Any, source: str) -> tuple[QueueConfig, list[str]]:
    """One queue in Config.json's shape (`{"Name": ..., "Properties": {...}}`), and the
    warnings reading it gave (for entities defined at run time, e.g. by the admin API).

    Raises:
        ConfigError: naming `source`, the queue and the field at fault.
    """
    warnings: list[str] = []
    return _queue(JsonObject(data, source, "queue", warnings)), warnings


def topic_from_json(data: Any, source: str) -> tuple[TopicConfig, list[str]]:
    """One topic in Config.json's shape, with its subscriptions and their rules.

    Raises:
        ConfigError: naming `source`, the topic and the field at fault.
    """
    warnings: list[str] = []
    return _topic(JsonObject(data, source, "topic", warnings)), warnings


def subscription_from_json(data: Any, source: str) -> tuple[SubscriptionConfig, list[str]]:
    """One subscription in Config.json's shape, with its rules.

    Raises:
        ConfigError: naming `source`, the subscription and the field at fault.
    """
    warnings: list[str] = []
    return _subscription(JsonObject(data, source, "subscription", warnings)), warnings


def rule_from_json(data: Any, source: str) -> tuple[RuleConfig, list[str]]:
    """One rule in Config.json's shape (`{"Name": ..., "Properties": {"FilterType": ...}}`).

    Raises:
        ConfigError: naming `source`, the rule and the field at fault.
    """
    warnings: list[str] = []
    return _rule(JsonObject(data, source, "rule", warnings)), warnings


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
