"""The Service Bus entities an app's bindings name, so `funchost dev` can give the emulator
every one of them: added to the app's `servicebus.config.json` (the official emulator's
Config.json shape) or to the emulator's built-in entities, in a config file of its own."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funchost.core.expressions import has_parameters, resolve_settings
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.errors import HostError

SERVICE_BUS_TYPES = ("servicebus", "servicebustrigger")


def connection_names(functions: Iterable[FunctionSpec]) -> set[str]:
    """The connection settings the app's Service Bus bindings use (default `ServiceBus`)."""
    return {
        (b.text("connection") or "ServiceBus")
        for f in functions
        for b in f.bindings
        if b.type.lower() in SERVICE_BUS_TYPES
    }


@dataclass(frozen=True)
class EntityUse:
    """One binding's queue, or topic (and subscription, for a trigger), settings resolved."""

    function: str
    connection: str
    queue: str | None = None
    topic: str | None = None
    subscription: str | None = None
    sessions: bool = False

    @property
    def description(self) -> str:
        if self.queue:
            return f"queue '{self.queue}'"
        if self.subscription:
            return f"topic '{self.topic}' with subscription '{self.subscription}'"
        return f"topic '{self.topic}'"


@dataclass(frozen=True)
class AppEntities:
    uses: tuple[EntityUse, ...]
    dynamic: bool  # an output names its entity with {expressions}: known only at run time

    def queues(self) -> dict[str, bool]:
        """Queue name -> requires sessions (any trigger with sessions makes it so)."""
        found: dict[str, bool] = {}
        for use in self.uses:
            if use.queue:
                found[use.queue] = found.get(use.queue, False) or use.sessions
        return found

    def topics(self) -> dict[str, set[str]]:
        """Topic name -> the subscriptions the triggers read."""
        found: dict[str, set[str]] = {}
        for use in self.uses:
            if use.topic:
                found.setdefault(use.topic, set()).update(
                    [use.subscription] if use.subscription else []
                )
        return found


def _service_bus_bindings(
    functions: Iterable[FunctionSpec],
) -> Iterator[tuple[str, BindingInfo]]:
    """(function name, binding) for every Service Bus trigger and output."""
    for function in functions:
        for b in function.bindings:
            if b.type.lower() in SERVICE_BUS_TYPES:
                yield function.name, b


def _entity_names(
    b: BindingInfo, environ: Mapping[str, str], what: str
) -> tuple[str | None, str | None] | None:
    """The binding's queue and topic names, settings resolved; None when a setting is
    missing (the host reports unresolved settings itself)."""
    try:
        queue, topic = b.text("queueName"), b.text("topicName")
        return (
            resolve_settings(queue, environ, what=what) if queue else None,
            resolve_settings(topic, environ, what=what) if topic else None,
        )
    except HostError:
        return None


def app_entities(functions: Iterable[FunctionSpec], environ: Mapping[str, str]) -> AppEntities:
    """Every entity the app's Service Bus bindings name with a fixed name."""
    uses: list[EntityUse] = []
    dynamic = False
    for function, b in _service_bus_bindings(functions):
        names = _entity_names(b, environ, f"Service Bus binding '{b.name}' of '{function}'")
        if names is None:
            continue
        queue, topic = names
        if any(name and has_parameters(name) for name in (queue, topic)):
            dynamic = True
            continue
        connection = b.text("connection") or "ServiceBus"
        sessions = str(b.get("isSessionsEnabled", False)).lower() == "true"
        if queue:
            uses.append(EntityUse(function, connection, queue=queue, sessions=sessions))
        elif topic:
            sub = b.text("subscriptionName") if b.is_trigger else None
            uses.append(EntityUse(function, connection, topic=topic, subscription=sub))
    return AppEntities(tuple(uses), dynamic)


def emulator_args(functions: Iterable[FunctionSpec], environ: Mapping[str, str]) -> list[str]:
    """`--queue`/`--topic` options for every entity named; `--auto-create` when a name is
    only known at run time (an output with `{expressions}`)."""
    entities = app_entities(functions, environ)
    args: list[str] = []
    for name, sessions in sorted(entities.queues().items()):
        args += ["--queue", f"{name}:RequiresSession=true" if sessions else name]
    for name, subs in sorted(entities.topics().items()):
        args += ["--topic", f"{name}:{','.join(sorted(subs))}" if subs else name]
    if entities.dynamic:
        args.append("--auto-create")
    return args


def emulator_config(entities: AppEntities, user_config: dict[str, Any] | None) -> dict[str, Any]:
    """A Config.json for the emulator: the app's `servicebus.config.json` (else the
    emulator's built-in entities) plus every queue, topic and subscription the bindings name
    that it lacks. Names compare case-insensitively, as Service Bus compares them."""
    from sbemulator.config.config_writer import queue_json, subscription_json, topic_json
    from sbemulator.config.model import (
        EntityProperties,
        QueueConfig,
        SubscriptionConfig,
        TopicConfig,
        default_config,
    )

    if user_config is None:
        builtin = default_config()
        user_config = {
            "UserConfig": {
                "Namespaces": [
                    {
                        "Name": builtin.namespace,
                        "Queues": [queue_json(q) for q in builtin.queues],
                        "Topics": [topic_json(t) for t in builtin.topics],
                    }
                ]
            }
        }
    config: dict[str, Any] = json.loads(json.dumps(user_config))  # a deep copy to add to
    namespace = config["UserConfig"]["Namespaces"][0]
    queues = namespace.setdefault("Queues", [])
    known = {str(q.get("Name", "")).lower() for q in queues}
    for name, sessions in sorted(entities.queues().items()):
        if name.lower() not in known:
            props = EntityProperties(requires_session=sessions)
            queues.append(queue_json(QueueConfig(name, props)))
    topics = namespace.setdefault("Topics", [])
    by_name = {str(t.get("Name", "")).lower(): t for t in topics}
    for name, subs in sorted(entities.topics().items()):
        topic = by_name.get(name.lower())
        if topic is None:
            topics.append(topic_json(TopicConfig(name)))
            topic = topics[-1]
        present = {str(s.get("Name", "")).lower() for s in topic.setdefault("Subscriptions", [])}
        topic["Subscriptions"] += [
            subscription_json(SubscriptionConfig(sub))
            for sub in sorted(subs)
            if sub.lower() not in present
        ]
    return config


def read_user_config(path: Path) -> dict[str, Any] | None:
    """The app's Config.json when it has the shape entities can be added to, else None (the
    emulator then reads the file itself and names what is wrong with it)."""
    try:
        data = json.loads(path.read_text("utf-8-sig"))
        (namespace,) = data["UserConfig"]["Namespaces"]
        topics = namespace.get("Topics", [])
        entities = [*namespace.get("Queues", []), *topics]
        entities += [s for t in topics for s in t.get("Subscriptions", [])]
        if all(isinstance(e, dict) for e in entities):
            return data  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None
