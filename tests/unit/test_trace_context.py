"""`context.trace_context` (H `WorkerFunctionInvoker.cs`: the current Activity's id, state and
tags; PW `bindings/tracecontext.py`: both spellings). Through the host, over HTTP and Service
Bus, in tests/integration/test_fidelity_logs.py and test_trace_context.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from azure.functions.meta import Datum

from funchost.core.context import InvocationContext
from funchost.core.invocation import Invocation
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.core.tracing import carried, current_traceparent, trace_context

W3C = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _invocation(trigger: Datum, binding_data: dict[str, Any] | None = None) -> Invocation:
    binding = BindingInfo("t", "httpTrigger", "in", {})
    spec = FunctionSpec(
        name="f",
        func=lambda: None,
        trigger=binding,
        bindings=(binding,),
        inputs=(),
        outputs=(),
        returns=None,
        is_async=False,
        needs_context=True,
        directory=".",
        script_file="function_app.py",
        function_json={},
    )
    return Invocation(spec, trigger, "test", binding_data=binding_data or {})


def _http(headers: dict[str, str]) -> Invocation:
    value = {"headers": {k: Datum(v, "string") for k, v in headers.items()}}
    return _invocation(Datum(value, "http"))


def _fresh(parent: str) -> bool:
    found = W3C.fullmatch(parent)
    return bool(found) and found.group(1) != "0" * 32 and found.group(3) == "00"  # type: ignore[union-attr]


def test_an_http_request_continues_the_callers_trace() -> None:
    parent, state = trace_context(_http({"traceparent": PARENT, "tracestate": "congo=t61"}))
    found = W3C.fullmatch(parent)
    assert found is not None
    # Same trace and flags, a span of its own (ASP.NET Core's request activity).
    assert found.group(1) == "0af7651916cd43dd8448eb211c80319c"
    assert found.group(2) != "b7ad6b7169203331" and found.group(3) == "01"
    assert state == "congo=t61"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero span id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff
        PARENT + "-extra",  # version 00 has no more fields
    ],
)
def test_an_invalid_traceparent_starts_a_trace_of_its_own(header: str) -> None:
    parent, state = trace_context(_http({"traceparent": header, "tracestate": "a=b"}))
    assert _fresh(parent) and state == ""


def test_a_later_version_may_carry_more_fields() -> None:
    parent, _ = trace_context(_http({"traceparent": "01" + PARENT[2:] + "-more"}))
    assert parent.startswith("00-0af7651916cd43dd8448eb211c80319c-")


@pytest.mark.parametrize("key", ["traceparent", "Diagnostic-Id"])
def test_one_service_bus_message_continues_its_senders_trace(key: str) -> None:
    props = {key: PARENT, "tracestate": "s=1"}
    inv = _invocation(Datum("body", "string"), {"ApplicationProperties": props})
    parent, state = trace_context(inv)
    assert parent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c" and state == "s=1"


def test_other_triggers_start_a_new_trace_each_time() -> None:
    inv = _invocation(Datum("queue message", "string"), {"DequeueCount": 1})
    first, second = trace_context(inv)[0], trace_context(inv)[0]
    assert _fresh(first) and _fresh(second) and first != second


def test_the_context_offers_both_spellings() -> None:
    tc: Any = InvocationContext(_http({"traceparent": PARENT})).trace_context
    assert tc.trace_parent == tc.Traceparent and tc.trace_parent.startswith("00-0af76519")
    assert tc.trace_state == tc.Tracestate == ""
    assert tc.attributes == tc.Attributes == {}


def test_while_a_span_runs_the_context_is_that_span() -> None:
    # The real host's activity is the span when it exports OpenTelemetry; the span's parent
    # is the caller's, so the trace id is the caller's either way.
    span = "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01"
    token = current_traceparent.set(span)
    try:
        parent, state = trace_context(_http({"traceparent": PARENT, "tracestate": "a=b"}))
    finally:
        current_traceparent.reset(token)
    assert (parent, state) == (span, "a=b")


def test_a_queue_bodys_traceparent_parents_the_span_only() -> None:
    inv = _invocation(Datum("{}", "json"), {"traceparent": PARENT.upper()})
    found = carried(inv)
    assert found.parents == (PARENT,) and not found.continued
    assert trace_context(inv)[0].split("-")[1] != PARENT.split("-")[1]


def test_a_service_bus_batch_links_each_valid_message() -> None:
    rows = [{"traceparent": PARENT}, {"Diagnostic-Id": "garbage"}, {}]
    found = carried(
        _invocation(Datum([], "collection_string"), {"ApplicationPropertiesArray": rows})
    )
    assert found.parents == (PARENT,) and found.batch
