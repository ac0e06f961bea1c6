"""Telemetry on a real host: the spans of one job's four hops reach an OTLP receiver (a
local OTLP/HTTP endpoint decoding the protobuf payloads) and share one trace id, each hop
the child of the one before, with the trigger's semantic-convention attributes; metrics
arrive too. The hops are carried by a queue output binding, the library's Service Bus
sender, a Service Bus output binding and the library's storage queue sender
(tests/apps/telemetry_app)."""

from __future__ import annotations

import uuid

import pytest

from funchost.testing.plugin import HostFactory
from tests.conftest import REPO
from tests.otlp_receiver import otlp_receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

APP = REPO / "tests" / "apps" / "telemetry_app"
SERVER, CONSUMER = 2, 5  # OTLP SpanKind values


def test_a_four_hop_job_is_one_trace_exported_over_otlp(funchost: HostFactory) -> None:
    tag = uuid.uuid4().hex[:10]
    with otlp_receiver() as receiver:
        host = funchost.start(
            APP,
            settings={
                "TEL_QUEUE_1": f"tel1{tag}",
                "TEL_QUEUE_2": f"tel2{tag}",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "500",
                "OTEL_SERVICE_NAME": "telemetry-test",
            },
        )
        incoming = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        response = host.post(
            "/api/start?code=secret", json={"job": tag}, headers={"traceparent": incoming}
        )
        assert response.status_code == 202
        (run,) = host.wait_for("hop_four", timeout=60)
        assert run.ok, run.error
        names = {
            "POST /api/start",
            f"process tel1{tag}",
            "process telemetry-hop-1",
            "process telemetry-hop-2",
            f"process tel2{tag}",
        }
        spans = {s.name: s for s in receiver.wait_for_spans(names) if s.name in names}
        chain = [spans[n] for n in sorted(names, key=_hop_order(tag))]

        assert {s.trace_id for s in chain} == {"ab" * 16}, "one trace, the caller's"
        assert chain[0].parent_span_id == "cd" * 8
        for parent, child in zip(chain, chain[1:]):
            assert child.parent_span_id == parent.span_id, (parent.name, child.name)

        http, first = chain[0], chain[1]
        assert http.kind == SERVER
        assert http.attributes["http.request.method"] == "POST"
        assert http.attributes["http.route"] == "/api/start"
        assert http.attributes["http.response.status_code"] == 202
        assert "secret" not in http.attributes["url.full"]
        assert http.attributes["faas.trigger"] == "http"
        assert first.kind == CONSUMER
        assert first.attributes["messaging.destination.name"] == f"tel1{tag}"
        assert first.attributes["messaging.operation.type"] == "process"
        assert chain[2].attributes["messaging.system"] == "servicebus"
        assert chain[2].attributes["messaging.servicebus.message.delivery_count"] == 1
        assert {s.service_name for s in chain} == {"telemetry-test"}
        assert all(s.attributes["faas.invocation_id"] for s in chain)

        _wait(
            lambda: (
                {"faas.invocations", "faas.invoke_duration", "funchost.queue.lag"}
                <= receiver.metrics
            )
        )
        host.stop()  # flushes its exporters while the receiver still listens


def _hop_order(tag: str):  # type: ignore[no-untyped-def]
    order = [
        "POST /api/start",
        f"process tel1{tag}",
        "process telemetry-hop-1",
        "process telemetry-hop-2",
        f"process tel2{tag}",
    ]
    return order.index


def _wait(probe, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
