"""The W3C trace context an invocation runs in (`context.trace_context`).

The real host sends the worker the current .NET `Activity`: its id (a W3C `traceparent`),
its trace state and its tags (H `Description/Workers/WorkerFunctionInvoker.cs`,
`Grpc/Extensions/ScriptInvocationContextExtensions.cs` `GetRpcTraceContext`). An HTTP
request's activity continues the caller's `traceparent` and `tracestate` headers (ASP.NET
Core's hosting diagnostics): the same trace id and flags, a span id of its own. A Service Bus
message carries its sender's context in the `Diagnostic-Id` application property (the
Azure SDKs' senders; the Python SDK also writes `traceparent` and `tracestate`), which the
invocation continues the same way. Anything else (a queue message, a blob, a timer, a
batch, a request without a valid header) starts a trace of its own. Tags are empty: the
host adds them only with the Application Insights agent or OpenTelemetry
(`GrpcWorkerChannel.cs` `AddAdditionalTraceContext`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from funchost.core.invocation import Invocation

# version-traceid-parentid-flags; all-zero ids and version ff are invalid (W3C Trace Context
# §3.2.2); a later version may append fields after the flags.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def trace_context(invocation: Invocation) -> tuple[str, str]:
    """`(traceparent, tracestate)` of the invocation: its trigger's continued, else new."""
    parent, state = _carried(invocation)
    found = _TRACEPARENT.fullmatch(parent.strip().lower()) if parent else None
    if found is None or not _valid(found):
        return f"00-{_hex(128)}-{_hex(64)}-00", ""
    return f"00-{found.group(2)}-{_hex(64)}-{found.group(4)}", state


def _valid(found: re.Match[str]) -> bool:
    version, trace, span, _, rest = found.groups()
    if version == "ff" or trace == _ZERO_TRACE or span == _ZERO_SPAN:
        return False
    return version != "00" or rest is None


def _carried(invocation: Invocation) -> tuple[str, str]:
    """The traceparent and tracestate the trigger brought, if any."""
    trigger = invocation.trigger
    if trigger.type == "http" and isinstance(trigger.value, dict):
        headers = trigger.value.get("headers") or {}  # lower-cased names
        return _text(headers.get("traceparent")), _text(headers.get("tracestate"))
    properties = invocation.binding_data.get("ApplicationProperties")
    if isinstance(properties, Mapping):  # one Service Bus message (a batch has ...Array)
        return (
            _text(properties.get("traceparent") or properties.get("Diagnostic-Id")),
            _text(properties.get("tracestate")),
        )
    return "", ""


def _text(value: Any) -> str:
    value = getattr(value, "value", value)  # a Datum
    return value if isinstance(value, str) else ""


def _hex(bits: int) -> str:
    """A random id, never all zeros. From `random`: ids need to be unique, not secret."""
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"
