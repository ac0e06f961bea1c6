"""What a span says about an invocation, per trigger, in OpenTelemetry's semantic
conventions (FaaS, HTTP server, messaging consumer). Pure: no OpenTelemetry import.

The parent is the trace context the trigger's caller put in the message or request
(`funchost.core.tracing.carried`); a batch's messages become links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from funchost.core.expressions import resolve_settings
from funchost.core.invocation import Invocation
from funchost.core.tracing import carried

QUEUE_SYSTEM = "azure_storage_queue"  # not in the conventions' list; Service Bus is
SECRET_QUERY = {"code"}  # function keys: never exported (H `ActivitySanitizingProcessor`)


@dataclass(frozen=True)
class SpanShape:
    """The span of one invocation.

    Attributes:
        kind: "server" (HTTP), "consumer" (messages) or "internal".
        parents: W3C traceparents found; the first is the parent, all are links when the
            invocation is a batch.
        enqueued: epoch seconds the (first) message was enqueued, for the queue lag.
        system, destination: messaging system and entity, for metrics.
    """

    name: str
    kind: str
    attributes: dict[str, Any]
    parents: tuple[str, ...] = ()
    batch: bool = False
    enqueued: float | None = None
    system: str | None = None
    destination: str | None = None
    trigger: str = "other"
    extra: Mapping[str, Any] = field(default_factory=dict)


def shape_of(inv: Invocation, environ: Mapping[str, str], route_prefix: str) -> SpanShape:
    kind = inv.function.trigger.type.lower()
    common = {"faas.invocation_id": inv.id, "faas.name": inv.function.name}
    if kind == "httptrigger":
        return _http(inv, common, route_prefix)
    if kind == "queuetrigger":
        return _queue(inv, common, environ)
    if kind == "servicebustrigger":
        return _service_bus(inv, common, environ)
    if kind == "blobtrigger":
        path = str(inv.binding_data.get("BlobTrigger") or "")
        container, _, name = path.partition("/")
        attributes = {
            **common,
            "faas.trigger": "datasource",
            "faas.document.collection": container,
            "faas.document.name": name,
            "faas.document.operation": "edit",
        }
        return SpanShape(inv.function.name, "consumer", attributes, trigger="datasource")
    if kind == "timertrigger":
        attributes = {
            **common,
            "faas.trigger": "timer",
            "faas.cron": str(inv.function.trigger.get("schedule") or ""),
            "faas.time": datetime.now(timezone.utc).isoformat(),
        }
        return SpanShape(inv.function.name, "internal", attributes, trigger="timer")
    attributes = {**common, "faas.trigger": "other"}
    return SpanShape(inv.function.name, "internal", attributes)


def _http(inv: Invocation, common: dict[str, Any], prefix: str) -> SpanShape:
    request = inv.trigger.value if isinstance(inv.trigger.value, Mapping) else {}
    headers = {k: getattr(v, "value", v) for k, v in (request.get("headers") or {}).items()}
    method = str(getattr(request.get("method"), "value", "GET"))
    url = str(getattr(request.get("url"), "value", ""))
    route = str(inv.function.trigger.get("route") or inv.function.name)
    route = "/" + "/".join(p for p in (prefix.strip("/"), route.strip("/")) if p)
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        **common,
        "faas.trigger": "http",
        "http.request.method": method,
        "http.route": route,
        "url.full": _sanitized(url),
        "url.path": parts.path,
        "url.scheme": parts.scheme or "http",
        "server.address": parts.hostname or "",
    }
    if parts.port:
        attributes["server.port"] = parts.port
    if "user-agent" in headers:
        attributes["user_agent.original"] = str(headers["user-agent"])
    return SpanShape(
        f"{method} {route}",
        "server",
        attributes,
        parents=carried(inv).parents,
        trigger="http",
    )


def _sanitized(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "REDACTED" if k.lower() in SECRET_QUERY else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _queue(inv: Invocation, common: dict[str, Any], environ: Mapping[str, str]) -> SpanShape:
    queue = _entity(inv, "queueName", environ).lower()
    data = inv.binding_data
    attributes: dict[str, Any] = {
        **common,
        "faas.trigger": "pubsub",
        "messaging.system": QUEUE_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
    }
    if data.get("Id"):
        attributes["messaging.message.id"] = str(data["Id"])
    if data.get("DequeueCount") is not None:
        attributes["messaging.azure_storage_queue.dequeue_count"] = int(data["DequeueCount"])
    return SpanShape(
        f"process {queue}",
        "consumer",
        attributes,
        parents=carried(inv).parents,
        enqueued=_epoch(data.get("InsertionTime")),
        system=QUEUE_SYSTEM,
        destination=queue,
        trigger="pubsub",
    )


def _service_bus(inv: Invocation, common: dict[str, Any], environ: Mapping[str, str]) -> SpanShape:
    trigger = inv.function.trigger
    topic = trigger.get("topicName")
    entity = _entity(inv, "topicName" if topic else "queueName", environ)
    data = inv.binding_data
    batch = "ApplicationPropertiesArray" in data or "UserPropertiesArray" in data
    attributes: dict[str, Any] = {
        **common,
        "faas.trigger": "pubsub",
        "messaging.system": "servicebus",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": entity,
    }
    if topic and trigger.get("subscriptionName"):
        attributes["messaging.destination.subscription.name"] = resolve_settings(
            str(trigger.get("subscriptionName")), environ, what="telemetry"
        )
    parents = carried(inv).parents
    if batch:
        rows = list(data.get("ApplicationPropertiesArray") or data.get("UserPropertiesArray") or [])
        attributes["messaging.batch.message_count"] = len(rows)
        enqueued = _epoch((data.get("EnqueuedTimeUtcArray") or [None])[0])
    else:
        enqueued = _epoch(data.get("EnqueuedTimeUtc"))
        if data.get("MessageId"):
            attributes["messaging.message.id"] = str(data["MessageId"])
        if data.get("DeliveryCount") is not None:
            attributes["messaging.servicebus.message.delivery_count"] = int(data["DeliveryCount"])
        if enqueued is not None:
            attributes["messaging.servicebus.message.enqueued_time"] = int(enqueued)
    return SpanShape(
        f"process {entity}",
        "consumer",
        attributes,
        parents=parents,
        batch=batch,
        enqueued=enqueued,
        system="servicebus",
        destination=entity,
        trigger="pubsub",
    )


def _entity(inv: Invocation, key: str, environ: Mapping[str, str]) -> str:
    raw = str(inv.function.trigger.get(key) or "")
    try:
        return resolve_settings(raw, environ, what="telemetry")
    except Exception:  # noqa: BLE001 - the trigger validated it at start; show it as written
        return raw


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
