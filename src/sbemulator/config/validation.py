"""Checks across entities, run on every config built: names unique (case-insensitive,
as in Service Bus), ForwardTo and ForwardDeadLetteredMessagesTo naming an entity that
exists and is not the source itself, and no ForwardTo cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .model import EmulatorConfig, EntityProperties


def validate(config: EmulatorConfig) -> None:
    """Raises:
    ConfigError: naming the config's source, the entity and the field at fault."""
    names = _unique_names(config)
    forwards: dict[str, str] = {}
    for label, key, props in _receiving_entities(config):
        _check_targets(config.source, label, key, props, names)
        if props.forward_to:
            forwards[key] = props.forward_to.lower()
    _check_forward_cycles(config, forwards)


def _unique_names(config: EmulatorConfig) -> dict[str, str]:
    """Queue and topic names (lower-case) -> how errors name them ("queue 'orders'")."""
    names: dict[str, str] = {}
    entities = [("queue", q.name) for q in config.queues]
    entities += [("topic", t.name) for t in config.topics]
    for kind, name in entities:
        if name.lower() in names:
            raise ConfigError(
                f"{config.source}: {kind} {name!r}: name already used by {names[name.lower()]}"
            )
        names[name.lower()] = f"{kind} {name!r}"
    return names


def _receiving_entities(config: EmulatorConfig) -> list[tuple[str, str, EntityProperties]]:
    """(label for errors, lower-case path, properties) of every queue and subscription."""
    found = [(f"queue {q.name!r}", q.name.lower(), q.properties) for q in config.queues]
    for t in config.topics:
        seen: set[str] = set()
        for s in t.subscriptions:
            if s.name.lower() in seen:
                raise ConfigError(
                    f"{config.source}: topic {t.name!r}: duplicate subscription {s.name!r}"
                )
            seen.add(s.name.lower())
            label = f"topic {t.name!r} subscription {s.name!r}"
            found.append((label, f"{t.name}/subscriptions/{s.name}".lower(), s.properties))
    return found


def _check_targets(
    source: str, label: str, key: str, props: EntityProperties, names: dict[str, str]
) -> None:
    targets = (
        ("ForwardTo", props.forward_to),
        ("ForwardDeadLetteredMessagesTo", props.forward_dead_lettered_to),
    )
    for fieldname, target in targets:
        if target is None:
            continue
        if target.lower() not in names:
            raise ConfigError(f"{source}: {label}: {fieldname}: no queue or topic named {target!r}")
        if target.lower() == key:
            raise ConfigError(f"{source}: {label}: {fieldname}: an entity cannot forward to itself")


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
                cycle = " -> ".join([*path[path.index(child) :], child])
                raise ConfigError(f"{config.source}: ForwardTo creates a cycle: {cycle}")
            if child in edges:
                on_path.add(child)
                path.append(child)
                stack.append((child, iter(edges[child])))
