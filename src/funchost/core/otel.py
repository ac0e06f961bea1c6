"""The OpenTelemetry pipeline of one host: a span and metrics per invocation, exported to
OTLP (HTTP/protobuf) and/or Azure Monitor. Imported only when an exporter is configured
(`funchost.core.telemetry`).

The providers are the host's own, not OpenTelemetry's global ones, so several hosts in one
process (tests) export separately and the app's own set-up is left alone. The span is the
current one while the function runs, so the app's own instrumentation nests under it and
`opentelemetry.propagate.inject` sees it.

Metrics (semantic conventions for FaaS, plus the queue lag): `faas.invocations`,
`faas.errors`, `faas.timeouts` (counters), `faas.invoke_duration` (histogram, seconds) by
`faas.name` and `faas.trigger`; `funchost.queue.lag` (histogram, seconds from enqueue to
the start of the invocation) by `messaging.system` and `messaging.destination.name`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from funchost import __version__
from funchost.core.invocation import Failed, FunctionTimeoutError, Invocation, Invoke, Outcome
from funchost.core.span_shape import SpanShape, shape_of
from funchost.core.telemetry import TelemetrySettings
from funchost.core.tracing import TRACEPARENT, current_traceparent
from funchost.errors import ConfigError

try:
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ConfigError(
        f"telemetry is configured ({exc.name} is missing): install the OpenTelemetry SDK "
        "with `pip install 'funchost[telemetry]'`"
    ) from None

if TYPE_CHECKING:
    from funchost.core.services import HostServices

log = logging.getLogger("funchost.telemetry")

KINDS = {"server": SpanKind.SERVER, "consumer": SpanKind.CONSUMER, "internal": SpanKind.INTERNAL}
_PROPAGATOR = TraceContextTextMapPropagator()


class OtelPipeline:
    """Providers, exporters and instruments of one host."""

    def __init__(self, settings: TelemetrySettings, services: HostServices) -> None:
        self._environ = services.environ
        self._prefix = services.config.http.route_prefix
        resource = Resource.create(_resource(services))
        span_exporters, metric_exporters = _exporters(settings)
        # Closed by the host at its end (`close`), not at the process's exit.
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        for exporter in span_exporters:
            self.tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        readers = [PeriodicExportingMetricReader(e) for e in metric_exporters]
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
        self.tracer = self.tracer_provider.get_tracer("funchost", __version__)
        meter = self.meter_provider.get_meter("funchost", __version__)
        self.invocations = meter.create_counter("faas.invocations", "{invocation}")
        self.errors = meter.create_counter("faas.errors", "{error}")
        self.timeouts = meter.create_counter("faas.timeouts", "{timeout}")
        self.duration = meter.create_histogram("faas.invoke_duration", "s")
        self.lag = meter.create_histogram(
            "funchost.queue.lag", "s", "From enqueue to the start of the invocation"
        )
        log.info(
            "Telemetry: exporting traces and metrics to %s",
            " and ".join(
                name
                for name, on in (
                    (f"OTLP {settings.otlp_endpoint}", settings.otlp_endpoint),
                    ("Azure Monitor", settings.azure_monitor),
                )
                if on
            ),
        )

    def close(self) -> None:
        """Export what is left (bounded by the exporters' own timeouts) and stop."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=5000)

    def wrap(self, inner: Invoke) -> Invoke:
        async def invoke(inv: Invocation) -> Outcome:
            shape = shape_of(inv, self._environ, self._prefix)
            span = self._start(shape)
            token = current_traceparent.set(_traceparent(span))
            began = time.perf_counter()
            outcome: Outcome | None = None
            try:
                with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                    outcome = await inner(inv)
                return outcome
            finally:
                current_traceparent.reset(token)
                self._finish(span, shape, outcome, time.perf_counter() - began)

        return invoke

    def _start(self, shape: SpanShape) -> Any:
        links: list[Link] = []
        context = None
        if shape.parents:
            contexts = [_PROPAGATOR.extract({TRACEPARENT: p}) for p in shape.parents]
            if shape.batch:
                links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts]
            else:
                context = contexts[0]
        if context is None:
            from opentelemetry.context import Context

            context = Context()  # a new trace, never the caller's ambient span
        return self.tracer.start_span(
            shape.name, context, KINDS[shape.kind], shape.attributes, links
        )

    def _finish(self, span: Any, shape: SpanShape, outcome: Outcome | None, seconds: float) -> None:
        labels = {"faas.name": shape.attributes["faas.name"], "faas.trigger": shape.trigger}
        failed = outcome is None or isinstance(outcome, Failed)
        if isinstance(outcome, Failed):
            span.record_exception(outcome.error)
            span.set_status(Status(StatusCode.ERROR, f"{type(outcome.error).__name__}"))
            if isinstance(outcome.error, FunctionTimeoutError):
                self.timeouts.add(1, labels)
        elif outcome is None:
            span.set_status(Status(StatusCode.ERROR, "the host stopped before it finished"))
        if shape.kind == "server":
            status = 500 if failed else _http_status(outcome)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        self.invocations.add(1, labels)
        if failed:
            self.errors.add(1, labels)
        self.duration.record(seconds, labels)
        if shape.enqueued is not None:
            self.lag.record(
                max(0.0, time.time() - seconds - shape.enqueued),
                {
                    "messaging.system": shape.system or "",
                    "messaging.destination.name": shape.destination or "",
                },
            )


def _traceparent(span: Any) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _http_status(outcome: Outcome | None) -> int:
    """The status code of the function's HTTP response (200 when it sent none)."""
    for datum in getattr(outcome, "results", {}).values():
        value = getattr(datum, "value", None)
        if getattr(datum, "type", None) == "http" and isinstance(value, dict):
            code = getattr(value.get("status_code"), "value", None)
            if code is not None:
                return int(code)
    return 200


def _resource(services: HostServices) -> dict[str, Any]:
    """Resource attributes as the real host's `FunctionsResourceDetector` sets them;
    `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` win (read by the SDK)."""
    env = services.environ
    site = env.get("WEBSITE_SITE_NAME")
    attributes: dict[str, Any] = {
        "service.name": env.get("OTEL_SERVICE_NAME") or site or services.config.app_dir.name,
        "service.version": __version__,
        "service.instance.id": services.instance_id,
        "faas.version": __version__,
        "process.pid": os.getpid(),
        "host.id": services.host_id,
    }
    if site:
        attributes["cloud.provider"] = "azure"
        attributes["cloud.platform"] = "azure_functions"
        if env.get("REGION_NAME"):
            attributes["cloud.region"] = env["REGION_NAME"]
    return attributes


def _exporters(settings: TelemetrySettings) -> tuple[list[SpanExporter], list[MetricExporter]]:
    spans: list[SpanExporter] = []
    metrics: list[MetricExporter] = []
    if settings.otlp_endpoint:
        from funchost.core.otel_exporters import otlp

        span_exporter, metric_exporter = otlp(settings.otlp_endpoint)
        spans.append(span_exporter)
        metrics.append(metric_exporter)
    if settings.azure_monitor:
        from funchost.core.otel_exporters import azure_monitor

        span_exporter, metric_exporter = azure_monitor(settings.azure_monitor)
        spans.append(span_exporter)
        metrics.append(metric_exporter)
    return spans, metrics
