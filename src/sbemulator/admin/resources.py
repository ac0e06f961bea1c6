"""The management API's resources: which request means which operation, the operation
run on the broker (through `run`, on the reactor's thread), and the reply.

    GET    /$namespaceinfo
    GET    /$Resources/queues | /$Resources/topics       ?$skip=0&$top=100
    GET    /{queue or topic}
    PUT    /{queue or topic}                              (If-Match: * updates)
    DELETE /{queue or topic}
    GET    /{topic}/subscriptions                         ?$skip&$top
    GET|PUT|DELETE /{topic}/subscriptions/{subscription}
    GET    /{topic}/subscriptions/{subscription}/rules    ?$skip&$top
    GET|PUT|DELETE /{topic}/subscriptions/{subscription}/rules/{rule}
    GET    /health                                        (the official emulator's)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ..broker.namespace import Broker
from ..config.config_json import (
    queue_from_json,
    rule_from_json,
    subscription_from_json,
    topic_from_json,
)
from ..config.quotas import MIB
from ..config.sas import InvalidToken, SharedAccessKey
from ..errors import ArgumentError, BrokerError, ConfigError, EntityNotFound
from . import atom

log = logging.getLogger(__name__)

T = TypeVar("T")
Run = Callable[[Callable[[], T]], T]
ENTRY = "application/atom+xml;type=entry;charset=utf-8"
FEED = "application/atom+xml;type=feed;charset=utf-8"
PAGE = 100


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = ENTRY


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    base: str  # scheme://host[:port] the client used


class AdminApi:
    def __init__(
        self, broker: Broker, run: Run[Any], clock: Callable[[], float], key: SharedAccessKey | None
    ) -> None:
        self.broker = broker
        self.run = run
        self.clock = clock
        self.key = key

    def handle(self, request: Request) -> Reply:
        url = urlsplit(request.target)
        segments = [unquote(s) for s in url.path.split("/") if s]
        if request.method == "GET" and [s.lower() for s in segments] == ["health"]:
            body = {"status": "healthy", "message": "Service is healthy."}
            return Reply(200, json.dumps(body), "application/json")
        try:
            self._authorize(request)
            reply: Reply = self.run(lambda: self._dispatch(request, segments, parse_qs(url.query)))
            return reply
        except BrokerError as exc:
            return Reply(exc.status, atom.error(exc.status, exc.description), "application/xml")
        except InvalidToken as exc:
            return Reply(401, atom.error(401, str(exc)), "application/xml")

    def _authorize(self, request: Request) -> None:
        if self.key is not None:
            self.key.check(request.headers.get("authorization", ""), self.clock())

    # -- on the reactor thread ---------------------------------------------------------
    def _dispatch(
        self, request: Request, segments: list[str], query: dict[str, list[str]]
    ) -> Reply:
        low = [s.lower() for s in segments]
        if low == ["$namespaceinfo"] and request.method == "GET":
            return self._namespace(request)
        if len(low) == 2 and low[0] == "$resources" and request.method == "GET":
            return self._list_entities(request, low[1], query)
        if "subscriptions" in low[1:]:
            i = low.index("subscriptions", 1)
            return self._subscriptions(request, "/".join(segments[:i]), segments[i + 1 :], query)
        if segments:
            return self._entity(request, "/".join(segments))
        raise ArgumentError(f"No such resource: {request.method} {request.target}")

    def _now(self) -> float:
        return self.clock()

    def _author(self) -> str:
        return self.broker.config.namespace

    def _url(self, request: Request, path: str, **params: Any) -> str:
        query = urlencode({**params, "api-version": "2021-05"})
        return f"{request.base}/{quote(path, safe='/$')}?{query}"

    def _namespace(self, request: Request) -> Reply:
        name, created = self._author(), self.broker.catalog.times(self._first_key())[0]
        content = atom.namespace_xml(name, created or self._now())
        url = self._url(request, "$namespaceinfo")
        return Reply(200, atom.entry(name, url, content, created, created, name))

    def _first_key(self) -> str:
        config = self.broker.config
        names = [q.name for q in config.queues] + [t.name for t in config.topics]
        return names[0] if names else ""

    # -- queues and topics -------------------------------------------------------------
    def _entity(self, request: Request, name: str) -> Reply:
        catalog = self.broker.catalog
        if request.method == "GET":
            found = self._entity_entry(request, name)
            return (
                found if found is not None else Reply(200, atom.not_found_feed(self._now()), FEED)
            )
        if request.method == "DELETE":
            catalog.delete(name)
            return Reply(200, "", "application/xml")
        if request.method != "PUT":
            raise ArgumentError(f"{request.method} is not supported on {name}.")
        create = "if-match" not in request.headers
        for kind in ("QueueDescription", "TopicDescription"):
            try:
                element = atom.description(request.body, kind)
            except ArgumentError:
                continue
            data, meta = atom.read_entity(name, element)
            if kind == "QueueDescription":
                catalog.put_queue(_read(queue_from_json, data), meta, self._now(), create=create)
            else:
                catalog.put_topic(_read(topic_from_json, data), meta, self._now(), create=create)
            reply = self._entity_entry(request, name)
            assert reply is not None
            return Reply(201 if create else 200, reply.body)
        raise ArgumentError(
            "The request body holds neither a QueueDescription nor a TopicDescription."
        )

    def _entity_entry(self, request: Request, name: str) -> Reply | None:
        catalog, quotas = self.broker.catalog, self.broker.quotas
        max_mb = quotas.max_entity_size // MIB
        q, t = catalog.queue(name), catalog.topic(name)
        if q is not None:
            key = q.name
            content = atom.queue_xml(
                q,
                catalog.counts(key),
                catalog.times(key),
                catalog.meta.get(key.lower(), {}),
                quotas.max_message_ttl,
                max_mb,
            )
        elif t is not None:
            key = t.name
            content = atom.topic_xml(
                t,
                catalog.counts(key),
                catalog.times(key),
                catalog.meta.get(key.lower(), {}),
                quotas.max_message_ttl,
                max_mb,
            )
        else:
            return None
        created, updated = catalog.times(key)
        url = self._url(request, key)
        return Reply(200, atom.entry(key, url, content, created, updated, self._author()))

    def _list_entities(self, request: Request, kind: str, query: dict[str, list[str]]) -> Reply:
        config = self.broker.config
        if kind == "queues":
            names = [q.name for q in config.queues]
        elif kind == "topics":
            names = [t.name for t in config.topics]
        else:
            raise EntityNotFound(f"No such resource collection: {kind}")
        entries = [self._entity_entry(request, n) for n in names]
        bodies = [e.body for e in entries if e is not None]
        return self._page(request, f"$Resources/{kind}", kind.capitalize(), bodies, query)

    def _page(
        self,
        request: Request,
        path: str,
        title: str,
        bodies: list[str],
        query: dict[str, list[str]],
    ) -> Reply:
        skip = _int(query, "$skip", 0)
        top = _int(query, "$top", PAGE)
        page = bodies[skip : skip + top]
        next_url = None
        if skip + top < len(bodies):
            next_url = self._url(request, path, **{"$skip": skip + top, "$top": top})
        url = self._url(request, path, **{"$skip": skip, "$top": top})
        return Reply(200, atom.feed(title, url, page, next_url, self._now()), FEED)

    # -- subscriptions and rules -------------------------------------------------------
    def _subscriptions(
        self, request: Request, topic: str, rest: list[str], query: dict[str, list[str]]
    ) -> Reply:
        catalog = self.broker.catalog
        t = catalog.topic(topic)
        if not rest and request.method == "GET":
            if t is None:
                raise EntityNotFound(f"The messaging entity '{topic}' could not be found.")
            bodies = [self._subscription_entry(request, t.name, s.name) for s in t.subscriptions]
            return self._page(request, f"{t.name}/subscriptions", "Subscriptions", bodies, query)
        if len(rest) == 1:
            return self._subscription(request, topic, rest[0])
        if len(rest) >= 2 and rest[1].lower() == "rules":
            return self._rules(request, topic, rest[0], rest[2:], query)
        raise ArgumentError(f"No such resource: {request.method} {request.target}")

    def _subscription_entry(self, request: Request, topic: str, name: str) -> str:
        catalog = self.broker.catalog
        s = catalog.subscription(topic, name)
        assert s is not None
        key = f"{topic}/subscriptions/{s.name}"
        times = catalog.times(topic, s.name)
        content = atom.subscription_xml(
            s,
            catalog.counts(topic, s.name),
            times,
            catalog.meta.get(key.lower(), {}),
            self.broker.quotas.max_message_ttl,
        )
        return atom.entry(s.name, self._url(request, key), content, *times, self._author())

    def _subscription(self, request: Request, topic: str, name: str) -> Reply:
        catalog = self.broker.catalog
        if request.method == "GET":
            if catalog.subscription(topic, name) is None:
                return Reply(200, atom.not_found_feed(self._now()), FEED)
            return Reply(200, self._subscription_entry(request, topic, name))
        if request.method == "DELETE":
            catalog.delete_subscription(topic, name)
            return Reply(200, "", "application/xml")
        create = "if-match" not in request.headers
        data, meta = atom.read_entity(
            name, atom.description(request.body, "SubscriptionDescription")
        )
        sub = _read(subscription_from_json, data)
        catalog.put_subscription(topic, sub, meta, self._now(), create=create)
        t = catalog.topic(topic)
        assert t is not None
        return Reply(201 if create else 200, self._subscription_entry(request, t.name, sub.name))

    def _rules(
        self,
        request: Request,
        topic: str,
        subscription: str,
        rest: list[str],
        query: dict[str, list[str]],
    ) -> Reply:
        catalog = self.broker.catalog
        s = catalog.subscription(topic, subscription)
        if not rest and request.method == "GET":
            if s is None:
                raise EntityNotFound(f"No subscription '{topic}/Subscriptions/{subscription}'.")
            bodies = [self._rule_entry(request, topic, subscription, r.name) for r in s.rules]
            path = f"{topic}/subscriptions/{subscription}/rules"
            return self._page(request, path, "Rules", bodies, query)
        if len(rest) != 1:
            raise ArgumentError(f"No such resource: {request.method} {request.target}")
        name = rest[0]
        if request.method == "GET":
            rule = next((r for r in s.rules if r.name.lower() == name.lower()), None) if s else None
            if rule is None:
                return Reply(200, atom.not_found_feed(self._now()), FEED)
            return Reply(200, self._rule_entry(request, topic, subscription, rule.name))
        if request.method == "DELETE":
            catalog.delete_rule(topic, subscription, name)
            return Reply(200, "", "application/xml")
        create = "if-match" not in request.headers
        data, meta = atom.read_rule(name, atom.description(request.body, "RuleDescription"))
        rule_config = _read(rule_from_json, data)
        catalog.put_rule(topic, subscription, rule_config, create=create)
        key = f"{topic}/subscriptions/{subscription}/rules/{name}".lower()
        catalog.meta[key] = meta
        catalog.created.setdefault(key, self._now())
        return Reply(201 if create else 200, self._rule_entry(request, topic, subscription, name))

    def _rule_entry(self, request: Request, topic: str, subscription: str, name: str) -> str:
        catalog = self.broker.catalog
        s = catalog.subscription(topic, subscription)
        assert s is not None
        rule = next(r for r in s.rules if r.name.lower() == name.lower())
        key = f"{topic}/subscriptions/{subscription}/rules/{rule.name}"
        created = catalog.created.get(key.lower(), catalog.times(topic, subscription)[0])
        action = catalog.meta.get(key.lower(), {}).get("Action")
        content = atom.rule_xml(rule, created, action)
        return atom.entry(
            rule.name, self._url(request, key), content, created, created, self._author()
        )


def _int(query: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return max(0, int(query.get(key, [str(default)])[0]))
    except ValueError:
        return default


def _read(reader: Callable[[Any, str], tuple[T, list[str]]], data: Any) -> T:
    """Read an entity as the config reader does; its errors are the request's."""
    try:
        config, warnings = reader(data, "request")
    except ConfigError as exc:
        raise ArgumentError(str(exc).removeprefix("request: ")) from None
    for warning in warnings:
        log.info("%s", warning)
    return config
