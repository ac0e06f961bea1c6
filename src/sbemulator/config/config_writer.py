"""The config model written back in Config.json's shape: what `config_json` reads,
`config_json` reads again. The journal keeps entities defined at run time this way, and
the admin API builds them this way before they are read (and checked) like a file's."""

from __future__ import annotations

from typing import Any

from .durations import format_duration
from .model import (
    CorrelationFilterConfig,
    EntityProperties,
    QueueConfig,
    RuleConfig,
    SubscriptionConfig,
    TopicConfig,
)

NEVER = "P10675199DT2H48M5.4775807S"  # TimeSpan.MaxValue: how Service Bus writes "never"

SYSTEM_KEYS = {
    "content_type": "ContentType",
    "correlation_id": "CorrelationId",
    "subject": "Label",
    "message_id": "MessageId",
    "reply_to": "ReplyTo",
    "reply_to_session_id": "ReplyToSessionId",
    "session_id": "SessionId",
    "to": "To",
}


def duration_text(seconds: float | None) -> str:
    return NEVER if seconds is None else format_duration(seconds)


def _entity_properties(p: EntityProperties) -> dict[str, Any]:
    return {
        "LockDuration": duration_text(p.lock_duration),
        "MaxDeliveryCount": p.max_delivery_count,
        "RequiresSession": p.requires_session,
        "DefaultMessageTimeToLive": duration_text(p.default_ttl),
        "DeadLetteringOnMessageExpiration": p.dead_lettering_on_expiration,
        "ForwardTo": p.forward_to or "",
        "ForwardDeadLetteredMessagesTo": p.forward_dead_lettered_to or "",
    }


def queue_json(q: QueueConfig) -> dict[str, Any]:
    props = _entity_properties(q.properties)
    props["RequiresDuplicateDetection"] = q.requires_duplicate_detection
    props["DuplicateDetectionHistoryTimeWindow"] = duration_text(q.duplicate_detection_window)
    return {"Name": q.name, "Properties": props}


def topic_json(t: TopicConfig) -> dict[str, Any]:
    return {
        "Name": t.name,
        "Properties": {
            "DefaultMessageTimeToLive": duration_text(t.default_ttl),
            "RequiresDuplicateDetection": t.requires_duplicate_detection,
            "DuplicateDetectionHistoryTimeWindow": duration_text(t.duplicate_detection_window),
        },
        "Subscriptions": [subscription_json(s) for s in t.subscriptions],
    }


def subscription_json(s: SubscriptionConfig) -> dict[str, Any]:
    return {
        "Name": s.name,
        "Properties": _entity_properties(s.properties),
        "Rules": [rule_json(r) for r in s.rules],
    }


def rule_json(r: RuleConfig) -> dict[str, Any]:
    props: dict[str, Any] = {
        "FilterType": {"true": "TrueFilter", "false": "FalseFilter"}.get(r.kind)
    }
    if r.kind == "correlation":
        props["FilterType"] = "Correlation"
        props["CorrelationFilter"] = correlation_json(r.correlation or CorrelationFilterConfig())
    elif r.kind == "sql":
        props["FilterType"] = "Sql"
        props["SqlFilter"] = {"SqlExpression": r.sql}
    return {"Name": r.name, "Properties": props}


def correlation_json(c: CorrelationFilterConfig) -> dict[str, Any]:
    out: dict[str, Any] = {SYSTEM_KEYS[k]: v for k, v in c.system.items()}
    if c.properties:
        out["Properties"] = dict(c.properties)
    return out
