"""The W3C trace context an invocation runs in (`context.trace_context`), and where a
trigger's caller put it. The one place funchost reads, validates and continues trace context;
`funchost.core.span_shape` takes its span parents from `carried`, and output bindings stamp
`current_traceparent` on what they send (`funchost.core.telemetry`).

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

When the host exports telemetry, the invocation's span is that activity: `context.trace_context`
is the span's own traceparent (`current_traceparent`), whose parent `carried` found. That
span also continues a storage queue message's JSON `"traceparent"` property (funchost's and
the jobs library's stamp) and links a Service Bus batch's messages.
"""

from __future__ import annotations

import contextvars
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from funchost.core.invocation import Invocation

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
DIAGNOSTIC_ID = "Diagnostic-Id"  # the Service Bus SDKs' name for the same value

#: The running invocation's span as a W3C traceparent, while telemetry is exported.
current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "funchost_traceparent", default=None
)

# version-traceid-parentid-flags; all-zero ids and version ff are invalid (W3C Trace Context
# §3.2.2); a later version may append fields after the flags.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True)
class Carried:
    """The trace context an invocation's trigger brought.

    Attributes:
        parents: valid traceparents, as version 00; one, or one per message of a batch.
        state: the `tracestate` that goes with a single parent.
        batch: the parents are a batch's messages (links, not a parent).
        continued: the real host's activity continues the parent (HTTP, one Service Bus
            message); a queue body's property only parents funchost's span.
    """

    parents: tuple[str, ...] = ()
    state: str = ""
    batch: bool = False
    continued: bool = False


def trace_context(invocation: Invocation) -> tuple[str, str]:
    """`(traceparent, tracestate)` of the invocation: its span's, its trigger's continued,
    else new."""
    carried_ = carried(invocation)
    state = carried_.state if carried_.continued and carried_.parents else ""
    current = current_traceparent.get()
    if current is not None:
        return current, state
    if not carried_.continued or not carried_.parents:
        return f"00-{_hex(128)}-{_hex(64)}-00", ""
    _, trace, _, flags = carried_.parents[0].split("-")
    return f"00-{trace}-{_hex(64)}-{flags}", state


def carried(invocation: Invocation) -> Carried:
    """Where the trigger's caller put the trace context, validated."""
    trigger, data = invocation.trigger, invocation.binding_data
    if trigger.type == "http" and isinstance(trigger.value, dict):
        headers = trigger.value.get("headers") or {}  # lower-cased names
        return _one(headers.get(TRACEPARENT), headers.get(TRACESTATE), continued=True)
    properties = data.get("ApplicationProperties") or data.get("UserProperties")
    if isinstance(properties, Mapping):  # one Service Bus message
        parent = properties.get(TRACEPARENT) or properties.get(DIAGNOSTIC_ID)
        return _one(parent, properties.get(TRACESTATE), continued=True)
    rows = data.get("ApplicationPropertiesArray") or data.get("UserPropertiesArray")
    if isinstance(rows, list | tuple):  # a Service Bus batch: each message is a link
        found = (
            parse_traceparent(r.get(TRACEPARENT) or r.get(DIAGNOSTIC_ID))
            for r in rows
            if isinstance(r, Mapping)
        )
        return Carried(tuple(p for p in found if p), batch=True)
    if TRACEPARENT in data:  # a storage queue message's JSON body property
        return _one(data.get(TRACEPARENT), None, continued=False)
    return Carried()


def parse_traceparent(value: Any) -> str | None:
    """`value` (text, bytes or a Datum) as a version-00 traceparent, or None if invalid."""
    value = getattr(value, "value", value)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    found = _TRACEPARENT.fullmatch(value.strip().lower())
    if found is None:
        return None
    version, trace, span, flags, rest = found.groups()
    if version == "ff" or trace == _ZERO_TRACE or span == _ZERO_SPAN:
        return None
    if version == "00" and rest is not None:
        return None
    return f"00-{trace}-{span}-{flags}"


def _one(parent: Any, state: Any, *, continued: bool) -> Carried:
    found = parse_traceparent(parent)
    if found is None:
        return Carried()
    return Carried((found,), _text(state), continued=continued)


def _text(value: Any) -> str:
    value = getattr(value, "value", value)  # a Datum
    return value if isinstance(value, str) else ""


def _hex(bits: int) -> str:
    """A random id, never all zeros. From `random`: ids need to be unique, not secret."""
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"
