"""The ATOM/XML of the Service Bus management API, as `ServiceBusAdministrationClient`
writes requests and reads replies (the shapes are those of the service's responses
recorded in the SDK's tests): entries holding a QueueDescription, TopicDescription,
SubscriptionDescription, RuleDescription or NamespaceInfo; feeds of entries; errors.

Request bodies are read into Config.json's shape, so an entity defined over HTTP is
checked exactly as one in a config file; what Service Bus has and the emulator does not
emulate (user metadata, partitioning, ...) is kept as text and echoed back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from ..broker.catalog import Counts
from ..config.config_writer import SYSTEM_KEYS, duration_text
from ..config.model import QueueConfig, RuleConfig, SubscriptionConfig, TopicConfig
from ..errors import ArgumentError

ATOM = "http://www.w3.org/2005/Atom"
SB = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
COUNTS = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
XSD = "http://www.w3.org/2001/XMLSchema"
NEVER_ACCESSED = "0001-01-01T00:00:00Z"

# Properties the emulator keeps in its model (the Config.json keys of the same name).
ENTITY_KEYS = (
    "LockDuration",
    "MaxDeliveryCount",
    "RequiresSession",
    "DefaultMessageTimeToLive",
    "DeadLetteringOnMessageExpiration",
    "ForwardTo",
    "ForwardDeadLetteredMessagesTo",
    "RequiresDuplicateDetection",
    "DuplicateDetectionHistoryTimeWindow",
)
# Properties echoed back as they were sent, not emulated.
ECHOED = (
    "MaxSizeInMegabytes",
    "EnableBatchedOperations",
    "AutoDeleteOnIdle",
    "EnablePartitioning",
    "EnableExpress",
    "Status",
    "UserMetadata",
    "MaxMessageSizeInKilobytes",
    "DeadLetteringOnFilterEvaluationExceptions",
    "SupportOrdering",
    "FilteringMessagesBeforePublishing",
)
_DEFAULT_ECHO = {
    "EnableBatchedOperations": "true",
    "AutoDeleteOnIdle": "P10675199DT2H48M5.4775807S",
    "EnablePartitioning": "false",
    "EnableExpress": "false",
    "Status": "Active",
    "SupportOrdering": "true",
    "FilteringMessagesBeforePublishing": "false",
    "DeadLetteringOnFilterEvaluationExceptions": "true",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- reading requests -------------------------------------------------------------------
def description(body: bytes, kind: str) -> ET.Element:
    """The `kind` element (e.g. "QueueDescription") inside an entry's content.

    Raises:
        ArgumentError: not an ATOM entry holding that description.
    """
    try:
        root = ET.fromstring(body)  # bodies are size-capped (a development tool)
    except ET.ParseError as exc:
        raise ArgumentError(f"The request body is not XML: {exc}") from None
    content = root.find(f"{{{ATOM}}}content")
    found = [child for child in content] if content is not None else []
    if not found or _local(found[0].tag) != kind:
        raise ArgumentError(f"The request body is not an ATOM entry holding a {kind}.")
    return found[0]


def _children(element: ET.Element) -> dict[str, ET.Element]:
    return {_local(child.tag): child for child in element}


def _entity_name(text: str) -> str:
    """ForwardTo as the SDK sends it (`sb://namespace/target`) or as a plain name."""
    return urlsplit(text).path.strip("/") if "://" in text else text.strip()


def read_entity(name: str, element: ET.Element) -> tuple[dict[str, Any], dict[str, str]]:
    """A queue, topic or subscription description as Config.json would have it, and the
    echoed-only properties."""
    fields = _children(element)
    props: dict[str, Any] = {}
    for key in ENTITY_KEYS:
        if key in fields:
            text = (fields[key].text or "").strip()
            props[key] = _entity_name(text) if key.startswith("Forward") else text
    meta = {key: (fields[key].text or "") for key in ECHOED if key in fields}
    return {"Name": name, "Properties": props}, meta


def read_rule(name: str, element: ET.Element) -> tuple[dict[str, Any], dict[str, str]]:
    """A RuleDescription as a Config.json rule; the action (not emulated) is echoed.

    Raises:
        ArgumentError: a filter of an unknown type.
    """
    fields = _children(element)
    flt = fields.get("Filter")
    kind = flt.get(f"{{{XSI}}}type", "TrueFilter") if flt is not None else "TrueFilter"
    props: dict[str, Any]
    if kind == "CorrelationFilter" and flt is not None:
        props = {"FilterType": "Correlation", "CorrelationFilter": _correlation(flt)}
    elif kind == "SqlFilter" and flt is not None:
        parts = _children(flt)
        expression = (parts["SqlExpression"].text or "") if "SqlExpression" in parts else ""
        parameters = _key_values(parts["Parameters"]) if "Parameters" in parts else {}
        props = {"FilterType": "Sql", "SqlFilter": {"SqlExpression": _bind(expression, parameters)}}
    elif kind in ("TrueFilter", "FalseFilter"):
        props = {"FilterType": kind}
    else:
        raise ArgumentError(f"Unsupported rule filter type {kind!r}.")
    meta = {}
    action = fields.get("Action")
    if action is not None and action.get(f"{{{XSI}}}type") == "SqlRuleAction":
        meta["Action"] = ET.tostring(action, encoding="unicode")
    return {"Name": name, "Properties": props}, meta


def _correlation(flt: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child in _children(flt).items():
        if key == "Properties":
            out["Properties"] = _key_values(child)
        elif key in SYSTEM_KEYS.values() and child.text is not None:
            out[key] = child.text
    return out


def _key_values(parent: ET.Element) -> dict[str, Any]:
    """KeyValueOfstringanyType pairs with their xsi types, as Python values."""
    out: dict[str, Any] = {}
    for pair in parent:
        parts = _children(pair)
        if "Key" not in parts or "Value" not in parts:
            continue
        value = parts["Value"]
        kind = value.get(f"{{{XSI}}}type", "string").rsplit(":", 1)[-1]
        out[parts["Key"].text or ""] = _typed(value.text or "", kind)
    return out


def _typed(text: str, kind: str) -> Any:
    if kind in ("int", "long"):
        return int(text)
    if kind == "double":
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    return text  # string, dateTime and duration compare as their text here


_PARAMETER = re.compile(r"'(?:[^']|'')*'|@\w+")


def _bind(expression: str, parameters: Mapping[str, Any]) -> str:
    """A SQL filter's @parameters replaced by their values as literals (the emulator's
    filter language has no parameters)."""

    def literal(m: re.Match[str]) -> str:
        token = m.group(0)
        if token.startswith("'") or token not in parameters:
            return token
        value = parameters[token]
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, (int, float)):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    return _PARAMETER.sub(literal, expression) if parameters else expression


# -- writing replies --------------------------------------------------------------------
def timestamp(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _elements(pairs: Iterable[tuple[str, Any]]) -> str:
    out = []
    for name, value in pairs:
        if value is None:
            continue
        if name == "CountDetails":  # rendered whole by _counts, with its namespace
            out.append(str(value))
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(f"<{name}>{escape(text)}</{name}>")
    return "".join(out)


def _counts(c: Counts) -> str:
    names = (
        ("ActiveMessageCount", c.active),
        ("DeadLetterMessageCount", c.dead_letter),
        ("ScheduledMessageCount", c.scheduled),
        ("TransferMessageCount", 0),
        ("TransferDeadLetterMessageCount", c.transfer_dead_letter),
    )
    inner = "".join(f"<d2p1:{n}>{v}</d2p1:{n}>" for n, v in names)
    return f'<CountDetails xmlns:d2p1="{COUNTS}">{inner}</CountDetails>'


def _echo(meta: Mapping[str, str], key: str, default: str | None = None) -> str | None:
    return meta.get(key, _DEFAULT_ECHO.get(key, default))


def queue_xml(
    q: QueueConfig,
    counts: Counts,
    times: tuple[float, float],
    meta: Mapping[str, str],
    ttl_cap: float,
    max_size_mb: int,
) -> str:
    p = q.properties
    return _description(
        "QueueDescription",
        [
            ("LockDuration", duration_text(p.lock_duration)),
            ("MaxSizeInMegabytes", _echo(meta, "MaxSizeInMegabytes", str(max_size_mb))),
            ("RequiresDuplicateDetection", q.requires_duplicate_detection),
            ("RequiresSession", p.requires_session),
            ("DefaultMessageTimeToLive", duration_text(_ttl(p.default_ttl, ttl_cap))),
            ("DeadLetteringOnMessageExpiration", p.dead_lettering_on_expiration),
            ("DuplicateDetectionHistoryTimeWindow", duration_text(q.duplicate_detection_window)),
            ("MaxDeliveryCount", p.max_delivery_count),
            ("EnableBatchedOperations", _echo(meta, "EnableBatchedOperations")),
            ("SizeInBytes", counts.size),
            ("MessageCount", counts.total),
            ("IsAnonymousAccessible", False),
            ("AuthorizationRules", ""),
            ("Status", _echo(meta, "Status")),
            ("ForwardTo", p.forward_to),
            ("CreatedAt", timestamp(times[0])),
            ("UpdatedAt", timestamp(times[1])),
            ("AccessedAt", NEVER_ACCESSED),
            ("SupportOrdering", _echo(meta, "SupportOrdering")),
            ("CountDetails", _counts(counts)),
            ("AutoDeleteOnIdle", _echo(meta, "AutoDeleteOnIdle")),
            ("EnablePartitioning", _echo(meta, "EnablePartitioning")),
            ("EntityAvailabilityStatus", "Available"),
            ("EnableExpress", _echo(meta, "EnableExpress")),
            ("ForwardDeadLetteredMessagesTo", p.forward_dead_lettered_to),
            ("UserMetadata", meta.get("UserMetadata")),
        ],
    )


def topic_xml(
    t: TopicConfig,
    counts: Counts,
    times: tuple[float, float],
    meta: Mapping[str, str],
    ttl_cap: float,
    max_size_mb: int,
) -> str:
    return _description(
        "TopicDescription",
        [
            ("DefaultMessageTimeToLive", duration_text(_ttl(t.default_ttl, ttl_cap))),
            ("MaxSizeInMegabytes", _echo(meta, "MaxSizeInMegabytes", str(max_size_mb))),
            ("RequiresDuplicateDetection", t.requires_duplicate_detection),
            ("DuplicateDetectionHistoryTimeWindow", duration_text(t.duplicate_detection_window)),
            ("EnableBatchedOperations", _echo(meta, "EnableBatchedOperations")),
            ("SizeInBytes", counts.size),
            ("FilteringMessagesBeforePublishing", _echo(meta, "FilteringMessagesBeforePublishing")),
            ("IsAnonymousAccessible", False),
            ("AuthorizationRules", ""),
            ("Status", _echo(meta, "Status")),
            ("CreatedAt", timestamp(times[0])),
            ("UpdatedAt", timestamp(times[1])),
            ("AccessedAt", NEVER_ACCESSED),
            ("SupportOrdering", _echo(meta, "SupportOrdering")),
            ("CountDetails", _counts(counts)),
            ("SubscriptionCount", counts.subscriptions),
            ("AutoDeleteOnIdle", _echo(meta, "AutoDeleteOnIdle")),
            ("EnablePartitioning", _echo(meta, "EnablePartitioning")),
            ("EntityAvailabilityStatus", "Available"),
            ("EnableSubscriptionPartitioning", False),
            ("EnableExpress", _echo(meta, "EnableExpress")),
            ("UserMetadata", meta.get("UserMetadata")),
        ],
    )


def subscription_xml(
    s: SubscriptionConfig,
    counts: Counts,
    times: tuple[float, float],
    meta: Mapping[str, str],
    ttl_cap: float,
) -> str:
    p = s.properties
    return _description(
        "SubscriptionDescription",
        [
            ("LockDuration", duration_text(p.lock_duration)),
            ("RequiresSession", p.requires_session),
            ("DefaultMessageTimeToLive", duration_text(_ttl(p.default_ttl, ttl_cap))),
            ("DeadLetteringOnMessageExpiration", p.dead_lettering_on_expiration),
            (
                "DeadLetteringOnFilterEvaluationExceptions",
                _echo(meta, "DeadLetteringOnFilterEvaluationExceptions"),
            ),
            ("MessageCount", counts.total),
            ("MaxDeliveryCount", p.max_delivery_count),
            ("EnableBatchedOperations", _echo(meta, "EnableBatchedOperations")),
            ("Status", _echo(meta, "Status")),
            ("ForwardTo", p.forward_to),
            ("CreatedAt", timestamp(times[0])),
            ("UpdatedAt", timestamp(times[1])),
            ("AccessedAt", NEVER_ACCESSED),
            ("CountDetails", _counts(counts)),
            ("AutoDeleteOnIdle", _echo(meta, "AutoDeleteOnIdle")),
            ("ForwardDeadLetteredMessagesTo", p.forward_dead_lettered_to),
            ("EntityAvailabilityStatus", "Available"),
            ("UserMetadata", meta.get("UserMetadata")),
        ],
    )


def rule_xml(rule: RuleConfig, created: float, action: str | None) -> str:
    if rule.kind == "correlation" and rule.correlation is not None:
        c = rule.correlation
        order = (
            "correlation_id",
            "message_id",
            "to",
            "reply_to",
            "subject",
            "session_id",
            "reply_to_session_id",
            "content_type",
        )
        inner = _elements((SYSTEM_KEYS[k], c.system.get(k)) for k in order)
        if c.properties:
            inner += f"<Properties>{_key_value_xml(c.properties)}</Properties>"
        flt = f'<Filter i:type="CorrelationFilter">{inner}</Filter>'
    else:
        expression = {"true": "1=1", "false": "1=0"}.get(rule.kind, rule.sql or "")
        kind = {"true": "TrueFilter", "false": "FalseFilter"}.get(rule.kind, "SqlFilter")
        flt = (
            f'<Filter i:type="{kind}"><SqlExpression>{escape(expression)}</SqlExpression>'
            "<CompatibilityLevel>20</CompatibilityLevel></Filter>"
        )
    action_xml = _action(action)
    return (
        f'<RuleDescription xmlns="{SB}" xmlns:i="{XSI}">{flt}{action_xml}'
        f"<CreatedAt>{timestamp(created)}</CreatedAt><Name>{escape(rule.name)}</Name>"
        "</RuleDescription>"
    )


def _action(stored: str | None) -> str:
    if not stored:
        return '<Action i:type="EmptyRuleAction"/>'
    element = ET.fromstring(stored)  # written by this module
    parts = _children(element)
    expression = escape(parts["SqlExpression"].text or "") if "SqlExpression" in parts else ""
    parameters = _key_values(parts["Parameters"]) if "Parameters" in parts else {}
    params = f"<Parameters>{_key_value_xml(parameters)}</Parameters>" if parameters else ""
    return (
        f'<Action i:type="SqlRuleAction"><SqlExpression>{expression}</SqlExpression>'
        f"<CompatibilityLevel>20</CompatibilityLevel>{params}</Action>"
    )


def _key_value_xml(values: Mapping[str, Any]) -> str:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            kind, text = "boolean", "true" if value else "false"
        elif isinstance(value, int):
            kind, text = ("int" if -(2**31) <= value < 2**31 else "long"), str(value)
        elif isinstance(value, float):
            kind, text = "double", repr(value)
        else:
            kind, text = "string", str(value)
        out.append(
            f"<KeyValueOfstringanyType><Key>{escape(key)}</Key>"
            f'<Value i:type="d6p1:{kind}" xmlns:d6p1="{XSD}">{escape(text)}</Value>'
            "</KeyValueOfstringanyType>"
        )
    return "".join(out)


def _ttl(entity: float | None, cap: float) -> float | None:
    if entity is None:
        return None if cap == float("inf") else cap
    return min(entity, cap)


def _description(kind: str, pairs: list[tuple[str, Any]]) -> str:
    return f'<{kind} xmlns="{SB}" xmlns:i="{XSI}">{_elements(pairs)}</{kind}>'


def entry(title: str, url: str, content: str, created: float, updated: float, author: str) -> str:
    return (
        f'<entry xmlns="{ATOM}"><id>{escape(url)}</id><title type="text">{escape(title)}</title>'
        f"<published>{timestamp(created)[:19]}Z</published>"
        f"<updated>{timestamp(updated)[:19]}Z</updated>"
        f"<author><name>{escape(author)}</name></author>"
        f'<link rel="self" href={quoteattr(url)}/>'
        f'<content type="application/xml">{content}</content></entry>'
    )


def feed(title: str, url: str, entries: Iterable[str], next_url: str | None, now: float) -> str:
    links = f'<link rel="self" href={quoteattr(url)}/>'
    if next_url:
        links += f'<link rel="next" href={quoteattr(next_url)}/>'
    body = "".join(entries)
    return (
        f'<feed xmlns="{ATOM}"><title type="text">{escape(title)}</title>'
        f"<id>{escape(url)}</id><updated>{timestamp(now)[:19]}Z</updated>{links}{body}</feed>"
    )


def not_found_feed(now: float) -> str:
    """What Service Bus answers a GET of an entity that does not exist: an empty feed
    (with 200; the SDK raises ResourceNotFoundError on it)."""
    return (
        f'<feed xmlns="{ATOM}"><title type="text">Publicly Listed Services</title>'
        '<subtitle type="text">This is the list of publicly-listed services currently '
        f"available.</subtitle><id>uuid:sbemulator</id><updated>{timestamp(now)[:19]}Z"
        "</updated><generator>Service Bus 1.1</generator></feed>"
    )


def namespace_xml(name: str, created: float) -> str:
    return (
        f'<NamespaceInfo xmlns="{SB}" xmlns:i="{XSI}"><CreatedTime>{timestamp(created)}'
        f"</CreatedTime><MessagingSKU>Standard</MessagingSKU><ModifiedTime>"
        f"{timestamp(created)}</ModifiedTime><Name>{escape(name)}</Name>"
        "<NamespaceType>Messaging</NamespaceType></NamespaceInfo>"
    )


def error(status: int, detail: str) -> str:
    return f"<Error><Code>{status}</Code><Detail>{escape(detail)}</Detail></Error>"
