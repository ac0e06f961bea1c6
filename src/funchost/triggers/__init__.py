"""Trigger plug-ins: one small Protocol, and the registry mapping binding types to them.

This room may import `funchost.core`, `funchost.config`, and the support rooms
(`funchost.storage`, `funchost.timer`, `funchost.http`); nothing outside the plug-in rooms
imports a trigger module except through this registry.

A trigger factory takes the `FunctionSpec`, the `HostServices` and the function's composed
`Invoke` (timeout, logging, retries and in-flight tracking already wrapped around it),
parses the trigger binding once into its own frozen spec (raising BindingError for a bad
one) and returns a `Listener`. A factory that wants the runtime retry policy
(`@app.retry`, host.json `retry`) applied to its invocations says so with a
`runtime_retries = True` attribute (on Azure only timer, Event Hubs, Kafka and Cosmos DB
triggers do, semantics §1.2); without it, failures go back to the trigger, which retries
through its broker's redelivery. Built-in triggers are listed below; third-party ones
register under the entry-point group `funchost.triggers` with the binding type as the name.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from anyio.abc import TaskStatus

from funchost.errors import BindingError

if TYPE_CHECKING:
    from funchost.core.invocation import Invoke, Outcome
    from funchost.core.services import HostServices
    from funchost.core.spec import FunctionSpec

log = logging.getLogger("funchost.triggers")

ENTRY_POINT_GROUP = "funchost.triggers"


class Listener(Protocol):
    """Receives events for one function, runs each through the function's `Invoke`, and
    settles it with the broker's own verbs from the full `Outcome`."""

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Listen until cancelled; call `task_status.started()` once listening. A backend
        that is down is logged and retried with backoff; it never ends the host. After a
        crash the host calls `run` again (with a task status that ignores `started()`)."""

    async def call(self, input: str | None) -> Outcome:
        """Run the function once now, as `POST /admin/functions/{name}` does, with
        `input` converted the way the real host converts it for this trigger."""


@runtime_checkable
class Backlog(Protocol):
    """A listener that can tell whether work is waiting for it (optional): what a test
    harness waits on to know the host is idle, and what a dashboard shows."""

    async def backlog(self) -> int:
        """Events waiting to be picked up (visible messages, at least the first one), 0
        when there are none. Storage errors propagate."""


class TriggerFactory(Protocol):
    """Builds the listener of one function (a class with this constructor will do)."""

    def __call__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> Listener:
        """Parse the trigger binding of `spec`; raise BindingError when it is invalid."""


def runtime_retries(factory: TriggerFactory) -> bool:
    """Whether the runtime retry policy applies to this trigger's invocations (the
    factory's optional `runtime_retries` attribute; default False)."""
    return bool(getattr(factory, "runtime_retries", False))


# Binding type -> "module:factory", imported only when an app uses it. Types compare
# case-insensitively, as the host compares them.
BUILTIN: dict[str, str] = {
    "httpTrigger": "funchost.triggers.http:HttpTrigger",
    "queueTrigger": "funchost.triggers.queue:QueueTrigger",
    "blobTrigger": "funchost.triggers.blob:BlobTrigger",
    "serviceBusTrigger": "funchost.triggers.servicebus:ServiceBusTrigger",
    "timerTrigger": "funchost.triggers.timer:TimerTrigger",
    "warmupTrigger": "funchost.triggers.warmup:WarmupTrigger",
}


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def supported() -> list[str]:
    return sorted(set(BUILTIN) | set(_entry_points()), key=str.lower)


def factory_for(binding_type: str) -> TriggerFactory:
    """The factory for `binding_type`; BindingError lists the supported types."""
    key = binding_type.lower()
    builtin = next((ref for name, ref in BUILTIN.items() if name.lower() == key), None)
    if builtin is not None:
        module, _, name = builtin.partition(":")
        factory: TriggerFactory = getattr(importlib.import_module(module), name)
        return factory
    ep = next((ep for name, ep in _entry_points().items() if name.lower() == key), None)
    if ep is not None:
        loaded: TriggerFactory = ep.load()
        return loaded
    raise BindingError(
        f"no trigger plug-in for '{binding_type}' (supported: {', '.join(supported())})"
    )
