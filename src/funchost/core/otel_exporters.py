"""The exporters the host can send to, each imported only when configured, with an error
that says what to install when its package is missing."""

from __future__ import annotations

import os
from typing import Any

from funchost.errors import ConfigError


def otlp(endpoint: str) -> tuple[Any, Any]:
    """OTLP span and metric exporters for base URL `endpoint` (signal paths appended, as the
    OTLP specification says for OTEL_EXPORTER_OTLP_ENDPOINT). HTTP/protobuf, the OTLP
    default; `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` needs the gRPC exporter package."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip().lower()
    base = endpoint.rstrip("/")
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc "
                "(pip install opentelemetry-exporter-otlp-proto-grpc), or use http/protobuf"
            ) from None
        return OTLPSpanExporter(endpoint=base), OTLPMetricExporter(endpoint=base)
    if protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: funchost exports http/protobuf or grpc"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set: install the OTLP exporter with "
            "`pip install 'funchost[telemetry]'`"
        ) from None
    return (
        OTLPSpanExporter(endpoint=f"{base}/v1/traces"),
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
    )


def azure_monitor(connection_string: str) -> tuple[Any, Any]:
    """Azure Monitor (Application Insights) span and metric exporters."""
    try:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorMetricExporter,
            AzureMonitorTraceExporter,
        )
    except ImportError:
        raise ConfigError(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set: install the Azure Monitor exporter "
            "with `pip install 'funchost[azure-monitor]'`"
        ) from None
    return (
        AzureMonitorTraceExporter(connection_string=connection_string),
        AzureMonitorMetricExporter(connection_string=connection_string),
    )
