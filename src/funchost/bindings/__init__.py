"""Input and output binding plug-ins, and their registry.

An input binding reads its value before the function runs; an output binding writes the
value the function set, after it returned and before the trigger settles. The registry maps
the binding type of function.json to a factory that parses the binding once into its own
frozen spec. `http` outputs are not written anywhere: the HTTP trigger answers with them.

Like `funchost.triggers`, this room may import `funchost.core`, `funchost.config` and the
support rooms (`storage`, `http`); the host reaches it only through this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from funchost.core.invocation import InputBinding, OutputBinding
from funchost.errors import BindingError

if TYPE_CHECKING:
    from funchost.core.services import HostServices
    from funchost.core.spec import BindingInfo


Factory = Callable[["BindingInfo", "HostServices"], Any]

# Binding type (lower-case) -> "module:factory". Modules import lazily, so an app that uses
# only HTTP does not pay for the storage SDKs at start.
INPUTS: dict[str, str] = {
    "blob": ".blob:BlobInput",
    "table": ".table:TableInput",
}
OUTPUTS: dict[str, str] = {
    "queue": ".queue:QueueOutput",
    "blob": ".blob:BlobOutput",
    "table": ".table:TableOutput",
    "servicebus": ".servicebus:ServiceBusOutput",
}
# Outputs the trigger itself consumes (the HTTP response).
TRIGGER_OUTPUTS = {"http"}


def _load(ref: str) -> Factory:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module, __package__), name)  # type: ignore[no-any-return]


def create_input(binding: BindingInfo, services: HostServices) -> InputBinding:
    ref = INPUTS.get(binding.type.lower())
    if ref is None:
        raise BindingError(
            f"binding '{binding.name}': no input binding plug-in for type "
            f"'{binding.type}' (supported: {', '.join(sorted(INPUTS)) or 'none'})"
        )
    return _load(ref)(binding, services)  # type: ignore[no-any-return]


def create_output(binding: BindingInfo, services: HostServices) -> OutputBinding | None:
    if binding.type.lower() in TRIGGER_OUTPUTS:
        return None
    ref = OUTPUTS.get(binding.type.lower())
    if ref is None:
        raise BindingError(
            f"binding '{binding.name}': no output binding plug-in for type "
            f"'{binding.type}' (supported: "
            f"{', '.join(sorted(OUTPUTS | dict.fromkeys(TRIGGER_OUTPUTS, '')))}"
        )
    return _load(ref)(binding, services)  # type: ignore[no-any-return]
