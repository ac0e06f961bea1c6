"""What the host knows about each function, computed once at load time.

Nothing downstream reads the library's dict representation again: triggers and bindings
parse `BindingInfo.raw` once into their own frozen specs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from funchost.config.host_config import RetryOptions

RETURN = "$return"


@dataclass(frozen=True)
class BindingInfo:
    """One entry of the function's `bindings`, as function.json would hold it."""

    name: str
    type: str
    direction: str  # "in" | "out" | "inout"
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def is_trigger(self) -> bool:
        return self.type.lower().endswith("trigger")

    def get(self, key: str, default: Any = None) -> Any:
        """A binding property, case-insensitively (the library writes camelCase)."""
        low = key.lower()
        return next((v for k, v in self.raw.items() if k.lower() == low), default)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, default)
        return None if value is None else str(value)


@dataclass(frozen=True)
class ParamSpec:
    """A Python parameter (or the return value) bound to a binding."""

    name: str
    binding: BindingInfo
    pytype: Any  # the annotation (for Out[T], T); None when unannotated
    converter: str  # key into the converter registry, or "generic"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    func: Callable[..., Any] = field(repr=False)
    trigger: BindingInfo
    bindings: tuple[BindingInfo, ...]
    inputs: tuple[ParamSpec, ...]  # the trigger parameter included
    outputs: tuple[ParamSpec, ...]  # func.Out[...] parameters
    returns: ParamSpec | None  # the `$return` binding (or implicit generic return)
    is_async: bool
    needs_context: bool
    directory: str
    script_file: str
    function_json: Mapping[str, Any] = field(repr=False)
    retry: RetryOptions | None = None
    disabled: bool = False
    http_type: str = "function"  # "asgi" / "wsgi" for AsgiFunctionApp / WsgiFunctionApp

    @property
    def function_id(self) -> str:
        # The worker's id for a function (PW functions.py `add_indexed_function`).
        return str(uuid.uuid5(uuid.NAMESPACE_OID, self.name))

    @property
    def trigger_param(self) -> ParamSpec:
        return next(p for p in self.inputs if p.binding is self.trigger)

    @property
    def qualified_name(self) -> str:
        return f"Functions.{self.name}"
