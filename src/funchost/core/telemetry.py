"""Telemetry: which exporters the host uses, and the trace context outgoing messages carry.

Exporters follow the real host (H `ScriptHostBuilderExtensions.ConfigureTelemetry`,
`OpenTelemetryConfigurationExtensions.ConfigureOpenTelemetry`): host.json `telemetryMode`
`OpenTelemetry` exports to OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and to Azure
Monitor when `APPLICATIONINSIGHTS_CONNECTION_STRING` is; the default mode
(`ApplicationInsights`) sends to Application Insights only (the real host with its classic
SDK, funchost with the Azure Monitor exporter: the same tables).

With no exporter nothing of OpenTelemetry is imported and invocations are not wrapped: the
only cost left is one ContextVar read per message an output binding sends. With one, every
invocation is a span (`funchost.core.otel`) whose W3C `traceparent` is in
`funchost.core.tracing.current_traceparent` while it runs, so output bindings can stamp it
on what they send:

- Service Bus: application properties `traceparent` and `Diagnostic-Id`, what the Service
  Bus SDKs write and the real host's Service Bus extension reads.
- Storage queues have no message properties (the real host carries nothing across them;
  azure-functions-dotnet-worker#1126): a JSON object body gets a top-level `"traceparent"`
  property, the workaround that thread describes. Other bodies are sent unchanged.

The jobs library (`shared/`) stamps its own messages the same way, from OpenTelemetry's
current span, so one job's hops form one trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from funchost.config.host_config import TELEMETRY_MODES, HostConfig
from funchost.core.tracing import DIAGNOSTIC_ID, TRACEPARENT, current_traceparent
from funchost.errors import HostError

if TYPE_CHECKING:
    from funchost.core.invocation import Invoke
    from funchost.core.services import HostServices

log = logging.getLogger("funchost.telemetry")

OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
AZURE_MONITOR = "APPLICATIONINSIGHTS_CONNECTION_STRING"


@dataclass(frozen=True)
class TelemetrySettings:
    """Where telemetry goes, decided once from host.json and the app settings.

    Attributes:
        mode: host.json `telemetryMode` as the real host reads it.
        otlp_endpoint: the OTLP base URL, when OTLP export is on.
        azure_monitor: the Application Insights connection string, when that export is on.
        notes: why a configured exporter is not used (logged once at start).
    """

    mode: str = "ApplicationInsights"
    otlp_endpoint: str | None = None
    azure_monitor: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def exporting(self) -> bool:
        return bool(self.otlp_endpoint or self.azure_monitor)

    @classmethod
    def from_config(cls, config: HostConfig, environ: Mapping[str, str]) -> TelemetrySettings:
        notes: list[str] = []
        mode = config.telemetry_mode
        if mode not in TELEMETRY_MODES:
            notes.append(
                f"host.json telemetryMode {mode!r} is not one of {', '.join(TELEMETRY_MODES)}; "
                "using ApplicationInsights (as the real host does)"
            )
            mode = "ApplicationInsights"
        otlp = (environ.get(OTLP_ENDPOINT) or "").strip() or None
        monitor = (environ.get(AZURE_MONITOR) or "").strip() or None
        if otlp and mode != "OpenTelemetry":
            notes.append(
                f'{OTLP_ENDPOINT} is set but host.json has no "telemetryMode": '
                '"OpenTelemetry": not exporting to OTLP (the real host needs that mode too)'
            )
            otlp = None
        return cls(mode, otlp, monitor, tuple(notes))


class _Exporting:
    """The host's exporting pipeline, or None: one per host (see `HostServices.shared`)."""

    def __init__(self, services: HostServices) -> None:
        settings = TelemetrySettings.from_config(services.config, services.environ)
        for note in settings.notes:
            log.warning("%s", note)
        self.pipeline: Any = None
        if not settings.exporting:
            return
        try:
            from funchost.core.otel import OtelPipeline  # the SDK only when it is used

            self.pipeline = pipeline = OtelPipeline(settings, services)
            services.per_host.on_close(lambda: anyio.to_thread.run_sync(pipeline.close))
        except HostError as exc:  # telemetry must not keep the functions from running
            log.error("Telemetry is off: %s", exc)


def instrument(invoke: Invoke, services: HostServices) -> Invoke:
    """What the host composes around each function's invoke (outside the Executing/Executed
    lines, so they belong to the span): the invocation history the dashboard shows, and a
    span and metrics per invocation when an exporter is configured."""
    from funchost.core.history import InvocationHistory

    invoke = InvocationHistory.of(services).wrap(invoke)
    pipeline = services.shared(_Exporting, lambda: _Exporting(services)).pipeline
    return invoke if pipeline is None else pipeline.wrap(invoke)


# -- what outgoing messages carry ----------------------------------------------------------


def stamp_json(item: str | bytes) -> str | bytes:
    """`item` with the running invocation's traceparent as a top-level `"traceparent"`
    property when it is a JSON object without one; otherwise `item` itself. The rest of the
    text is kept as written (the property is spliced in, not re-serialised)."""
    parent = current_traceparent.get()
    if parent is None:
        return item
    text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return item
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return item
    if not isinstance(parsed, dict) or TRACEPARENT in parsed:
        return item
    rest = stripped[1:]
    joiner = "" if not parsed else ","
    stamped = '{"' + TRACEPARENT + '":' + json.dumps(parent) + joiner + rest
    return stamped.encode("utf-8") if isinstance(item, bytes) else stamped


def trace_properties() -> dict[str | bytes, Any] | None:
    """Application properties for a Service Bus message: the running invocation's trace
    context, or None when there is none."""
    parent = current_traceparent.get()
    if parent is None:
        return None
    return {TRACEPARENT: parent, DIAGNOSTIC_ID: parent}
