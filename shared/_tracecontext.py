"""The trace context the library's messages carry, so one job's hops form one trace.

When OpenTelemetry is installed and a span is current (the Functions host's invocation
span: funchost's, or Azure's Python worker's with ``PYTHON_ENABLE_OPENTELEMETRY``), its W3C
``traceparent`` goes with each message the library sends:

- Service Bus: application properties ``traceparent`` and ``Diagnostic-Id`` (what the
  Service Bus SDKs write and the Functions host reads to continue the trace);
- Storage queues, which have no message properties: a top-level ``"traceparent"`` in the
  JSON object body (a host reads it as the parent of the next invocation's span).

Without OpenTelemetry, or without a current span, messages are sent unchanged. OpenTelemetry
is imported on first use, and only if it is installed: the library does not depend on it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

TRACEPARENT = "traceparent"
DIAGNOSTIC_ID = "Diagnostic-Id"
#: Service Bus application properties, as the SDK types them.
Properties = dict[str | bytes, Any]


@functools.cache
def _otel_trace() -> Any:
    """The opentelemetry.trace module, or None when OpenTelemetry is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, or None."""
    trace = _otel_trace()
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def with_traceparent(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` with ``"traceparent"`` added when there is a current span and it has none."""
    parent = current_traceparent()
    if parent is None or TRACEPARENT in body:
        return body
    return {TRACEPARENT: parent, **body}


def trace_properties(properties: Mapping[str | bytes, Any] | None = None) -> Properties | None:
    """Service Bus application properties with the trace context added (None when there is
    nothing to send)."""
    parent = current_traceparent()
    if parent is None:
        return None if properties is None else dict(properties)
    return {TRACEPARENT: parent, DIAGNOSTIC_ID: parent, **(properties or {})}
