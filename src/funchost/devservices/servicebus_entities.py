"""The Service Bus entities an app's bindings name, as `sbemulator` command-line options,
so `funchost dev` can run an app on the emulator without a Config.json."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from funchost.core.expressions import has_parameters, resolve_settings
from funchost.core.spec import FunctionSpec

SERVICE_BUS_TYPES = ("servicebus", "servicebustrigger")


def connection_names(functions: Iterable[FunctionSpec]) -> set[str]:
    """The connection settings the app's Service Bus bindings use (default `ServiceBus`)."""
    return {
        (b.text("connection") or "ServiceBus")
        for f in functions
        for b in f.bindings
        if b.type.lower() in SERVICE_BUS_TYPES
    }


def emulator_args(functions: Iterable[FunctionSpec], environ: Mapping[str, str]) -> list[str]:
    """`--queue`/`--topic` options for every entity named; `--auto-create` when a name is
    only known at run time (an output with `{expressions}`)."""
    queues: dict[str, bool] = {}  # name -> requires session
    topics: dict[str, set[str]] = {}
    dynamic = False
    for function in functions:
        for b in function.bindings:
            if b.type.lower() not in SERVICE_BUS_TYPES:
                continue
            what = f"Service Bus binding '{b.name}' of '{function.name}'"
            try:
                queue = b.text("queueName")
                topic = b.text("topicName")
                queue = resolve_settings(queue, environ, what=what) if queue else None
                topic = resolve_settings(topic, environ, what=what) if topic else None
            except Exception:  # noqa: BLE001 - the host reports unresolved settings itself
                continue
            if any(name and has_parameters(name) for name in (queue, topic)):
                dynamic = True
                continue
            sessions = str(b.get("isSessionsEnabled", False)).lower() == "true"
            if queue:
                queues[queue] = queues.get(queue, False) or sessions
            elif topic:
                subs = topics.setdefault(topic, set())
                sub = b.text("subscriptionName")
                if sub:
                    subs.add(sub)
    args: list[str] = []
    for name, sessions in sorted(queues.items()):
        args += ["--queue", f"{name}:RequiresSession=true" if sessions else name]
    for name, subs in sorted(topics.items()):
        args += ["--topic", f"{name}:{','.join(sorted(subs))}" if subs else name]
    if dynamic:
        args.append("--auto-create")
    return args
