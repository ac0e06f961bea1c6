"""Trigger plug-ins: one small Protocol, and the registry mapping binding types to them.

A trigger factory takes a `FunctionSpec` and the `HostServices`, parses the trigger
binding once into its own frozen spec (raising BindingError for a bad one), and returns a
`Listener`. Built-in triggers are listed below; third-party ones register under the
entry-point group `funchost.triggers` with the binding type as the name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from anyio.abc import TaskStatus

from funchost.errors import BindingError

if TYPE_CHECKING:
    from funchost.core.invocation import Outcome
    from funchost.core.services import HostServices
    from funchost.core.spec import FunctionSpec

log = logging.getLogger("funchost.triggers")

ENTRY_POINT_GROUP = "funchost.triggers"


class Listener(Protocol):
    """Receives events for one function and settles them with the broker's own verbs."""

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Listen until cancelled; call `task_status.started()` once listening. A backend
        that is down is logged and retried with backoff; it never ends the host."""

    async def call(self, input: str | None) -> Outcome:
        """Run the function once now, as `POST /admin/functions/{name}` does, with
        `input` converted the way the real host converts it for this trigger."""


TriggerFactory = Callable[["FunctionSpec", "HostServices"], Listener]

# Binding type -> "module:factory", imported only when an app uses it. Types compare
# case-insensitively, as the host compares them.
BUILTIN: dict[str, str] = {
    "httpTrigger": ".http:HttpTrigger",
    "queueTrigger": ".queue:QueueTrigger",
    "blobTrigger": ".blob:BlobTrigger",
    "serviceBusTrigger": ".servicebus:ServiceBusTrigger",
    "timerTrigger": ".timer:TimerTrigger",
}


def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def supported() -> list[str]:
    return sorted(set(BUILTIN) | set(_entry_points()), key=str.lower)


def factory_for(binding_type: str) -> TriggerFactory:
    """The factory for `binding_type`; BindingError lists the supported types."""
    key = binding_type.lower()
    builtin = next((ref for name, ref in BUILTIN.items() if name.lower() == key), None)
    if builtin is not None:
        module, _, name = builtin.partition(":")
        return getattr(importlib.import_module(module, __package__), name)  # type: ignore[no-any-return]
    ep = next((ep for name, ep in _entry_points().items() if name.lower() == key), None)
    if ep is not None:
        return ep.load()  # type: ignore[attr-defined,no-any-return]
    raise BindingError(
        f"no trigger plug-in for '{binding_type}' (supported: {', '.join(supported())})"
    )
