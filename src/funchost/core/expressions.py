"""Binding expressions in paths, queue names and keys (semantics §7; learn "binding
expression patterns"): `{name}` from trigger metadata and JSON body properties (`{a.b}`
for nested ones), `{rand-guid}`, `{sys.randguid}`, `{DateTime}`, `{sys.utcnow}`, and
`%AppSetting%` from the app settings. `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from funchost.core.spec import BindingInfo
from funchost.errors import BindingError

_SETTING = re.compile(r"%([^%]+)%")
_PARAM = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


def resolve_settings(text: str, environ: Mapping[str, str], *, what: str) -> str:
    """Replace `%Name%` with app settings, at load time; a missing one is a BindingError."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        value = environ.get(name)
        if value is None:
            lowered = {k.lower(): v for k, v in environ.items()}
            value = lowered.get(name.lower())
        if value is None:
            raise BindingError(f"{what}: app setting '%{name}%' is not set")
        return value

    return _SETTING.sub(repl, text)


def required_setting(
    binding: BindingInfo, key: str, environ: Mapping[str, str], *, what: str
) -> str:
    """A binding property that must be given, with its `%AppSetting%` references resolved."""
    raw = binding.text(key)
    if not raw:
        raise BindingError(f"{what}: {key} is required")
    return resolve_settings(raw, environ, what=what)


def has_parameters(text: str) -> bool:
    return any(m.group(1) for m in _PARAM.finditer(text))


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        key = next((k for k in node if str(k).lower() == part.lower()), None)
        if key is None:
            return None
        node = node[key]
    return node


def _format(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(text: str, data: Mapping[str, Any], *, what: str) -> str:
    """Fill `{...}` parameters from binding data; a missing one names the parameter."""
    now = datetime.now(timezone.utc)

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        name = m.group(1).strip()
        low = name.lower()
        if low in ("rand-guid", "sys.randguid"):
            return str(uuid.uuid4())
        if low in ("datetime", "sys.utcnow"):
            return now.strftime("%Y-%m-%dT%H-%M-%SZ") if low == "datetime" else now.isoformat()
        value = _lookup(data, name)
        if value is None:
            raise BindingError(
                f"{what}: no value for the binding parameter '{{{name}}}' "
                f"(available: {', '.join(sorted(data)) or 'none'})"
            )
        return _format(value)

    return _PARAM.sub(repl, text)
