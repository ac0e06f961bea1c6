"""The namespace's entities changed at run time (the administration API): queues,
topics, subscriptions and rules created, updated and deleted.

Every change is checked as a config file would be (names, ForwardTo targets and cycles,
quotas) by building the namespace's config as it would be after it; only then are the
live entities changed. The journal records each change in Config.json's shape, and
`replay` applies the recorded changes again after a restart, before messages come
back. Also kept here: when each entity was created and last updated, and the
properties the admin API echoes without emulating them (user metadata, ...).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..config import config_writer as writer
from ..config.config_json import (
    queue_from_json,
    rule_from_json,
    subscription_from_json,
    topic_from_json,
)
from ..config.model import (
    EmulatorConfig,
    EntityProperties,
    QueueConfig,
    RuleConfig,
    SubscriptionConfig,
    TopicConfig,
)
from ..config.quotas import check_quotas, check_topic_quotas
from ..config.validation import validate
from ..errors import ArgumentError, ConfigError, EntityExists, EntityNotFound, QuotaExceeded
from .message import MessageState
from .message_queue import MessageQueue
from .namespace import DuplicateDetector, Subscription, Topic
from .rules import subscription_predicate

if TYPE_CHECKING:
    from .namespace import Broker

log = logging.getLogger(__name__)

SOURCE = "administration API"


@dataclass(frozen=True)
class Counts:
    """What runtime properties report for a queue, topic or subscription."""

    active: int = 0
    dead_letter: int = 0
    scheduled: int = 0
    transfer_dead_letter: int = 0
    total: int = 0
    size: int = 0
    subscriptions: int = 0


def _key(*names: str) -> str:
    return "/subscriptions/".join(n.lower() for n in names)


class Catalog:
    def __init__(self, broker: Broker, now: float) -> None:
        self.broker = broker
        self.created: dict[str, float] = {}  # entity key -> creation time
        self.updated: dict[str, float] = {}
        self.meta: dict[str, dict[str, str]] = {}  # entity key -> echoed-only properties
        config = broker.config
        keys = [q.name.lower() for q in config.queues] + [t.name.lower() for t in config.topics]
        keys += [_key(t.name, s.name) for t in config.topics for s in t.subscriptions]
        for key in keys:
            self.created[key] = self.updated[key] = now

    # -- reading -------------------------------------------------------------------
    def queue(self, name: str) -> QueueConfig | None:
        return next((q for q in self.broker.config.queues if q.name.lower() == name.lower()), None)

    def topic(self, name: str) -> TopicConfig | None:
        return next((t for t in self.broker.config.topics if t.name.lower() == name.lower()), None)

    def subscription(self, topic: str, name: str) -> SubscriptionConfig | None:
        t = self.topic(topic)
        subs = t.subscriptions if t is not None else ()
        return next((s for s in subs if s.name.lower() == name.lower()), None)

    def times(self, *names: str) -> tuple[float, float]:
        key = _key(*names)
        return self.created.get(key, 0.0), self.updated.get(key, 0.0)

    def counts(self, *names: str) -> Counts:
        """Message counts of a queue, a topic (its scheduled messages, its size across
        subscriptions) or a subscription (`topic, subscription`)."""
        broker = self.broker
        key = _key(*names)
        if len(names) == 1 and key in broker.topics:
            topic = broker.topics[key]
            return Counts(
                scheduled=len(topic.scheduled),
                total=len(topic.scheduled),
                size=broker.entity_size(key),
                subscriptions=len(topic.subscriptions),
            )
        queue = broker.receivable[key]
        dlq = broker.receivable[f"{key}/$deadletterqueue"]
        transfer = broker.receivable[f"{key}/$transfer/$deadletterqueue"]
        states = [m.state for m in queue.messages.values()]
        active = sum(1 for s in states if s == MessageState.ACTIVE)
        scheduled = sum(1 for s in states if s == MessageState.SCHEDULED)
        total = len(states) + len(dlq.messages) + len(transfer.messages)
        return Counts(
            active, len(dlq.messages), scheduled, len(transfer.messages), total, queue.size
        )

    # -- changing ------------------------------------------------------------------
    def put_queue(self, q: QueueConfig, meta: dict[str, str], now: float, *, create: bool) -> None:
        """Create (`create`) or update a queue.

        Raises:
            EntityExists, EntityNotFound: it exists (create), or not (update).
            ArgumentError: an invalid definition (ForwardTo, RequiresSession changed).
            QuotaExceeded: one entity too many.
        """
        old = self.queue(q.name)
        self._exists(old is not None or q.name.lower() in self.broker.topics, create, q.name)
        queues = list(self.broker.config.queues)
        if old is None:
            queues.append(q)
        else:
            _same_sessions(old.properties.requires_session, q.properties.requires_session)
            queues[queues.index(old)] = q
        self._commit(replace(self.broker.config, queues=tuple(queues)), create)
        broker = self.broker
        if old is None:
            broker.add_queue(q)
        else:
            queue = broker.queues[q.name.lower()]
            _set_properties(queue, q.properties)
            self._dedup(queue.path, q.requires_duplicate_detection, q.duplicate_detection_window)
        self._touched(q.name.lower(), meta, now, created=old is None)
        self._record("queue", writer.queue_json(q), meta, create)

    def put_topic(self, t: TopicConfig, meta: dict[str, str], now: float, *, create: bool) -> None:
        """Create or update a topic (its subscriptions are changed on their own).

        Raises:
            EntityExists, EntityNotFound, ArgumentError, QuotaExceeded: as `put_queue`.
        """
        old = self.topic(t.name)
        self._exists(old is not None or t.name.lower() in self.broker.queues, create, t.name)
        topics = list(self.broker.config.topics)
        if old is None:
            t = replace(t, subscriptions=())
            topics.append(t)
        else:
            t = replace(t, subscriptions=old.subscriptions)
            topics[topics.index(old)] = t
        self._commit(replace(self.broker.config, topics=tuple(topics)), create)
        broker = self.broker
        if old is None:
            broker.add_topic(t)
        else:
            broker.topics[t.name.lower()].config = t
            self._dedup(
                t.name.lower(), t.requires_duplicate_detection, t.duplicate_detection_window
            )
        self._touched(t.name.lower(), meta, now, created=old is None)
        self._record("topic", writer.topic_json(t), meta, create)

    def put_subscription(
        self, topic: str, s: SubscriptionConfig, meta: dict[str, str], now: float, *, create: bool
    ) -> None:
        """Create or update a subscription (an update keeps its rules).

        Raises:
            EntityNotFound: no such topic (or subscription, for an update).
            EntityExists, ArgumentError, QuotaExceeded: as `put_queue`.
        """
        t = self._topic(topic)
        old = self.subscription(topic, s.name)
        self._exists(old is not None, create, f"{t.name}/Subscriptions/{s.name}")
        subs = list(t.subscriptions)
        if old is None:
            subs.append(s)
        else:
            _same_sessions(old.properties.requires_session, s.properties.requires_session)
            s = replace(s, rules=old.rules)
            subs[subs.index(old)] = s
        self._replace_topic(t, replace(t, subscriptions=tuple(subs)), create)
        live = self.broker.topics[t.name.lower()]
        if old is None:
            self.broker.add_subscription(live, s)
        else:
            _set_properties(self._live_subscription(live, s.name).queue, s.properties)
        self._touched(_key(t.name, s.name), meta, now, created=old is None)
        change = {"Topic": t.name, **writer.subscription_json(s)}
        self._record("subscription", change, meta, create)

    def put_rule(self, topic: str, subscription: str, rule: RuleConfig, *, create: bool) -> None:
        """Add a rule to a subscription, or replace one of its rules.

        Raises:
            EntityNotFound: no such topic, subscription (or rule, for an update).
            EntityExists: the rule exists (create).
            ArgumentError, QuotaExceeded: an invalid rule, too many filters.
        """
        t = self._topic(topic)
        s = self._subscription(t, subscription)
        old = next((r for r in s.rules if r.name.lower() == rule.name.lower()), None)
        self._exists(old is not None, create, f"rule {rule.name}")
        rules = list(s.rules)
        if old is None:
            rules.append(rule)
        else:
            rules[rules.index(old)] = rule
        self._set_rules(t, s, tuple(rules))
        change = {"Topic": t.name, "Subscription": s.name, **writer.rule_json(rule)}
        self._record("rule", change, {}, create)

    def delete_rule(self, topic: str, subscription: str, name: str) -> None:
        """Raises EntityNotFound: no such topic, subscription or rule."""
        t = self._topic(topic)
        s = self._subscription(t, subscription)
        rules = tuple(r for r in s.rules if r.name.lower() != name.lower())
        if len(rules) == len(s.rules):
            raise EntityNotFound(f"No rule '{name}' in {t.name}/Subscriptions/{s.name}.")
        self._set_rules(t, s, rules)
        self._record("delete-rule", {"Topic": t.name, "Subscription": s.name, "Name": name}, {})

    def delete(self, name: str) -> None:
        """Delete a queue or topic and every message in it.

        Raises:
            EntityNotFound: no such queue or topic.
        """
        broker = self.broker
        config = broker.config
        key = name.lower()
        if key in broker.queues:
            config = replace(
                config, queues=tuple(q for q in config.queues if q.name.lower() != key)
            )
        elif key in broker.topics:
            config = replace(
                config, topics=tuple(t for t in config.topics if t.name.lower() != key)
            )
        else:
            raise EntityNotFound(f"The messaging entity '{name}' could not be found.")
        self._commit(config, False)
        broker.remove_entity(key)
        for k in [k for k in self.created if k == key or k.startswith(key + "/")]:
            self.created.pop(k, None)
            self.updated.pop(k, None)
            self.meta.pop(k, None)
        self._record("delete", {"Name": name}, {})

    def delete_subscription(self, topic: str, name: str) -> None:
        """Raises EntityNotFound: no such topic or subscription."""
        t = self._topic(topic)
        s = self._subscription(t, name)
        subs = tuple(x for x in t.subscriptions if x is not s)
        self._replace_topic(t, replace(t, subscriptions=subs), False)
        self.broker.remove_subscription(self.broker.topics[t.name.lower()], s.name)
        self._record("delete-subscription", {"Topic": t.name, "Name": s.name}, {})

    # -- replay ----------------------------------------------------------------------
    def replay(self, changes: list[str], now: float) -> None:
        """Apply changes the journal kept (in order); one that no longer applies (the
        config file changed since) is skipped with a warning."""
        for text in changes:
            change = json.loads(text)
            try:
                self._apply(change, now)
            except (ConfigError, ArgumentError, EntityExists, EntityNotFound, QuotaExceeded) as exc:
                log.warning("an administration change kept on disk no longer applies: %s", exc)

    def _apply(self, change: dict[str, Any], now: float) -> None:
        kind, data, meta = change["kind"], change["entity"], change.get("meta", {})
        create = change.get("create", False)
        if kind == "queue":
            self.put_queue(_read(queue_from_json, data), meta, now, create=create)
        elif kind == "topic":
            self.put_topic(_read(topic_from_json, data), meta, now, create=create)
        elif kind == "subscription":
            sub = _read(subscription_from_json, data)
            self.put_subscription(data["Topic"], sub, meta, now, create=create)
        elif kind == "rule":
            rule = _read(rule_from_json, data)
            self.put_rule(data["Topic"], data["Subscription"], rule, create=create)
        elif kind == "delete-rule":
            self.delete_rule(data["Topic"], data["Subscription"], data["Name"])
        elif kind == "delete-subscription":
            self.delete_subscription(data["Topic"], data["Name"])
        elif kind == "delete":
            self.delete(data["Name"])

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _exists(exists: bool, create: bool, name: str) -> None:
        if create and exists:
            raise EntityExists(f"The messaging entity '{name}' already exists.")
        if not create and not exists:
            raise EntityNotFound(f"The messaging entity '{name}' could not be found.")

    def _topic(self, name: str) -> TopicConfig:
        t = self.topic(name)
        if t is None:
            raise EntityNotFound(f"The messaging entity '{name}' could not be found.")
        return t

    @staticmethod
    def _subscription(t: TopicConfig, name: str) -> SubscriptionConfig:
        s = next((x for x in t.subscriptions if x.name.lower() == name.lower()), None)
        if s is None:
            raise EntityNotFound(
                f"The messaging entity '{t.name}/Subscriptions/{name}' could not be found."
            )
        return s

    @staticmethod
    def _live_subscription(topic: Topic, name: str) -> Subscription:
        prefix = f"{topic.path}/subscriptions/{name.lower()}"
        return next(s for s in topic.subscriptions if s.queue.path == prefix)

    def _replace_topic(self, old: TopicConfig, new: TopicConfig, create: bool) -> None:
        topics = list(self.broker.config.topics)
        topics[topics.index(old)] = new
        config = replace(self.broker.config, topics=tuple(topics))
        try:
            check_topic_quotas(new.name, new.subscriptions, config.quotas, SOURCE)
        except ConfigError as exc:
            raise QuotaExceeded(str(exc)) from None
        self._commit(config, create=False)
        self.broker.topics[new.name.lower()].config = new

    def _set_rules(
        self, t: TopicConfig, s: SubscriptionConfig, rules: tuple[RuleConfig, ...]
    ) -> None:
        new = replace(s, rules=rules)
        subs = tuple(new if x is s else x for x in t.subscriptions)
        self._replace_topic(t, replace(t, subscriptions=subs), False)
        live = self.broker.topics[t.name.lower()]
        self._live_subscription(live, s.name).predicate = subscription_predicate(rules)

    def _commit(self, config: EmulatorConfig, create: bool) -> None:
        """Check the namespace as it would be; make it the broker's config.

        Raises:
            QuotaExceeded: a new entity beyond the entity quota.
            ArgumentError: names, forward targets or cycles that a file could not have.
        """
        if create and len(config.queues) + len(config.topics) > len(
            self.broker.config.queues
        ) + len(self.broker.config.topics):
            self.broker.check_entity_quota()
        try:
            validate(config)
            for warning in check_quotas(config, config.quotas):
                log.warning("%s", warning)
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{config.source}: ")
            if "quota" in message:
                raise QuotaExceeded(message) from None
            raise ArgumentError(message) from None
        self.broker.config = config

    def _dedup(self, path: str, enabled: bool, window: float) -> None:
        dedup = self.broker.dedup
        if not enabled:
            dedup.pop(path, None)
        elif path not in dedup or dedup[path].window != window:
            dedup[path] = DuplicateDetector(window)

    def _touched(self, key: str, meta: dict[str, str], now: float, *, created: bool) -> None:
        if created:
            self.created[key] = now
        self.updated[key] = now
        self.meta[key] = dict(meta)

    def _record(
        self, kind: str, entity: dict[str, Any], meta: dict[str, str], create: bool = False
    ) -> None:
        change = {"kind": kind, "create": create, "entity": entity, "meta": meta}
        self.broker.journal.entity_changed(json.dumps(change, sort_keys=True))


def _same_sessions(before: bool, after: bool) -> None:
    if before != after:
        raise ArgumentError("RequiresSession cannot be changed on an existing entity.")


def _set_properties(queue: MessageQueue, props: EntityProperties) -> None:
    """New settings for a live queue or subscription (its dead-letter queue follows
    the lock duration, as when it was built)."""
    queue.props = props
    dlq = queue.dead_letter_queue
    if dlq is not None:
        dlq.props = replace(dlq.props, lock_duration=props.lock_duration)


def _read(reader: Any, data: dict[str, Any]) -> Any:
    config, _warnings = reader(data, SOURCE)
    return config
