"""How the host turns one output value into items (H `FunctionBinding.ReadAsEnumerable`,
semantics §7): a JSON array, given as a list or as a string that parses as one, becomes one
item per element; anything else is one item."""

from __future__ import annotations

import json
from typing import Any

from azure.functions.meta import Datum


def items(value: Datum) -> list[str | bytes]:
    """The item texts (or bytes) for `value`."""
    kind, raw = value.type, value.value
    if raw is None:
        return []
    if kind == "bytes":
        return [raw]
    if kind == "list":
        return [_text(v) for v in raw]
    if kind == "dict":
        return [json.dumps(raw)]
    if kind in ("int", "double", "bool"):
        return [json.dumps(raw)]
    if kind in ("string", "json"):
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            return [raw]
        if isinstance(parsed, list):
            return [_text(v) for v in parsed]
        return [raw]
    raise TypeError(f"cannot send a value of type '{kind}' to this binding")


def _text(element: Any) -> str:
    return element if isinstance(element, str) else json.dumps(element)
