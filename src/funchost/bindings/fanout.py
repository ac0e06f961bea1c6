"""How the host turns one output value into the items it adds to a collector (queue,
Service Bus and table outputs), and the text of each item.

The chain, from the sources (semantics §7):

1. The worker sends the encoded value as TypedData (PW `bindings/datumdef.py`
   `datum_as_proto`): `string`, `bytes`, `json` (also for dicts and lists), `int`, `double`,
   and a bool as an `int`.
2. The host turns it back into an object (H `GrpcMessageConversionExtensions.ToObject`):
   JSON is deserialized by Newtonsoft into a JObject / JArray / primitive.
3. `FunctionBinding.ReadAsEnumerable` (H `Binding/FunctionBinding.cs`): a JArray is one
   item per element; a *string* that looks like JSON (`{...}` or `[...]`, trimmed:
   `Utility.IsJson`) is parsed with `JToken.Parse`, an array giving one item per element
   and anything else one item; other values are one item.
4. `BindAsyncCollectorAsync<byte[]|string>` makes each item text with `value.ToString()`:
   for a JObject/JArray that is Newtonsoft's *indented* JSON (two spaces, `"key": value`),
   for a JValue its .NET value as text (a string as is, `True`/`False`, `1.5`). So a JSON
   object string is written re-indented (azure-functions-host#9581), and a string that looks
   like JSON but does not parse fails the invocation (azure-functions-host#9587).

Not reproduced: `JToken.Parse` also turns ISO date strings inside such a JSON *string*
into .NET dates and writes them back in its own format; here they are kept as written
(docs/fidelity.md).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import json5
from azure.functions.meta import Datum

from funchost.errors import BindingError


def items(value: Datum) -> list[str | bytes]:
    """The item texts (or bytes) for `value`, as the real host adds them.

    Raises:
        BindingError: a string that looks like JSON does not parse.
        TypeError: a datum type no binding sends.
    """
    kind, raw = value.type, value.value
    if raw is None:
        return []
    if kind == "bytes":
        return [raw]
    if kind == "string":
        return _from_string(raw)
    if kind == "json":
        return _from_parsed(_parse(raw))
    if kind in ("dict", "list"):  # sent as TypedData json (PW `datum_as_proto`)
        return _from_parsed(raw)
    if kind == "bool":  # sent as TypedData int
        return [str(int(raw))]
    if kind in ("int", "double"):
        return [_dotnet_text(raw)]
    raise TypeError(f"cannot send a value of type '{kind}' to this binding")


def _from_string(text: str) -> list[str | bytes]:
    stripped = text.strip()
    looks_like_json = (stripped.startswith("{") and stripped.endswith("}")) or (
        stripped.startswith("[") and stripped.endswith("]")
    )
    if not looks_like_json:
        return [text]
    parsed = _parse(text)
    if isinstance(parsed, list):
        return [_dotnet_text(element) for element in parsed]
    return [_dotnet_text(parsed)]


def _from_parsed(parsed: Any) -> list[str | bytes]:
    """A value the host deserialized from TypedData json: a string goes through
    `ReadAsEnumerable` again as a string, an array is one item per element."""
    if isinstance(parsed, str):
        return _from_string(parsed)
    if isinstance(parsed, list):
        return [_dotnet_text(element) for element in parsed]
    return [_dotnet_text(parsed)]


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        # Newtonsoft also reads single quotes, unquoted names and comments; json5 reads
        # the same extensions (it is slower, so only after the strict parser refused).
        return json5.loads(text)
    except ValueError as exc:
        raise BindingError(
            f"the value looks like JSON but does not parse ({exc}): the real host parses "
            f"such a value and fails the invocation (azure-functions-host#9587): "
            f"{text[:80]!r}"
        ) from None


def _dotnet_text(value: Any) -> str:
    """`JToken.ToString()`: indented JSON for objects and arrays, a value's .NET text."""
    if isinstance(value, (dict, list)):
        # Newtonsoft's Formatting.Indented; non-ASCII is written as is, and U+2028/U+2029
        # escaped as Newtonsoft's default StringEscapeHandling does.
        text = json.dumps(value, indent=2, ensure_ascii=False)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _dotnet_double(value)
    return str(value)


def _dotnet_double(value: float) -> str:
    """`double.ToString()` on .NET Core 3.0+: the shortest round-trip digits, in E notation
    from an exponent of 15 or of -5 and below (`1E+15`, `1E-05`), else without a `.0`."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    adjusted = exponent + len(text) - 1
    minus = "-" if sign else ""
    if adjusted >= 15 or adjusted < -4:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}E{'+' if adjusted >= 0 else '-'}{abs(adjusted):02d}"
    if exponent >= 0:
        return minus + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{minus}{text[:point]}.{text[point:]}"
    return f"{minus}0.{'0' * -point}{text}"
