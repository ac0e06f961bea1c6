"""The Service Bus entities an app's bindings name, as `sbemulator` command-line options,
so `funchost dev` can run an app on the emulator without a Config.json."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

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


def emulator_args(functions: Iterable[FunctionSpec], environ: Mapping[str, str]) -> list[str]:
    """`--queue`/`--topic` options for every entity named; `--auto-create` when a name is
    only known at run time (an output with `{expressions}`)."""
    queues: dict[str, bool] = {}  # name -> requires session
    topics: dict[str, set[str]] = {}
    dynamic = False
    for function, b in _service_bus_bindings(functions):
        names = _entity_names(b, environ, f"Service Bus binding '{b.name}' of '{function}'")
        if names is None:
            continue
        queue, topic = names
        if any(name and has_parameters(name) for name in (queue, topic)):
            dynamic = True
        elif queue:
            sessions = str(b.get("isSessionsEnabled", False)).lower() == "true"
            queues[queue] = queues.get(queue, False) or sessions
        elif topic:
            sub = b.text("subscriptionName")
            topics.setdefault(topic, set()).update([sub] if sub else [])
    args: list[str] = []
    for name, sessions in sorted(queues.items()):
        args += ["--queue", f"{name}:RequiresSession=true" if sessions else name]
    for name, subs in sorted(topics.items()):
        args += ["--topic", f"{name}:{','.join(sorted(subs))}" if subs else name]
    if dynamic:
        args.append("--auto-create")
    return args
