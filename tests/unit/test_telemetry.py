"""Telemetry decisions and what outgoing messages carry (no exporter involved)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from azure.functions.meta import Datum

from funchost.config.host_config import HostConfig
from funchost.core.invocation import Invocation
from funchost.core.span_shape import shape_of
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.core.telemetry import TelemetrySettings, stamp_json, trace_properties
from funchost.core.tracing import current_traceparent

PARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


def _config(tmp_path: Path, mode: str | None) -> HostConfig:
    host = {"version": "2.0"} | ({"telemetryMode": mode} if mode else {})
    (tmp_path / "host.json").write_text(json.dumps(host))
    return HostConfig.load(tmp_path, {})


@pytest.mark.parametrize(
    ("mode", "env", "otlp", "monitor", "noted"),
    [
        # H ScriptHostBuilderExtensions.ConfigureTelemetry: OTLP only in OpenTelemetry mode.
        (None, {}, None, None, False),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, None, None, True),
        (
            "openTelemetry",
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"},
            "http://x:4318",
            None,
            False,
        ),
        (
            None,
            {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=k"},
            None,
            "InstrumentationKey=k",
            False,
        ),
        (
            "OpenTelemetry",
            {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=k"},
            None,
            "InstrumentationKey=k",
            False,
        ),
        ("Bogus", {}, None, None, True),
    ],
)
def test_exporters_follow_the_real_hosts_telemetry_mode(
    tmp_path: Path,
    mode: str | None,
    env: dict[str, str],
    otlp: str | None,
    monitor: str | None,
    noted: bool,
) -> None:
    settings = TelemetrySettings.from_config(_config(tmp_path, mode), env)
    assert (settings.otlp_endpoint, settings.azure_monitor) == (otlp, monitor)
    assert bool(settings.notes) is noted
    assert settings.exporting is bool(otlp or monitor)


def test_nothing_is_stamped_outside_an_exported_invocation() -> None:
    assert stamp_json('{"a": 1}') == '{"a": 1}'
    assert trace_properties() is None


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ('{"a": 1}', '{"traceparent":"%s","a": 1}' % PARENT),
        ("{}", '{"traceparent":"%s"}' % PARENT),
        (b' {"a":[1]}', b'{"traceparent":"%s","a":[1]}' % PARENT.encode()),
        ('{"traceparent": "mine"}', '{"traceparent": "mine"}'),  # the app's own wins
        ("[1, 2]", "[1, 2]"),
        ("plain text", "plain text"),
        ('{"broken"', '{"broken"'),
        (b"\xff\xfe", b"\xff\xfe"),
    ],
)
def test_json_object_bodies_carry_the_traceparent_the_rest_is_kept(
    item: str | bytes, expected: str | bytes
) -> None:
    token = current_traceparent.set(PARENT)
    try:
        stamped = stamp_json(item)
        assert stamped == expected
        assert trace_properties() == {"traceparent": PARENT, "Diagnostic-Id": PARENT}
    finally:
        current_traceparent.reset(token)


def _spec(trigger: dict[str, object]) -> FunctionSpec:
    binding = BindingInfo("msg", str(trigger["type"]), "in", trigger)
    return FunctionSpec(
        name="fn",
        func=print,
        trigger=binding,
        bindings=(binding,),
        inputs=(),
        outputs=(),
        returns=None,
        is_async=False,
        needs_context=False,
        directory="",
        script_file="",
        function_json={},
    )


def test_span_shapes_follow_the_semantic_conventions() -> None:
    queue = Invocation(
        _spec({"type": "queueTrigger", "queueName": "%Q%"}),
        Datum("{}", "string"),
        "r",
        binding_data={
            "Id": "m1",
            "DequeueCount": 2,
            "traceparent": PARENT.upper(),
            "InsertionTime": "2026-01-01T00:00:00+00:00",
        },
    )
    shape = shape_of(queue, {"Q": "Orders"}, "api")
    assert (shape.name, shape.kind, shape.parents) == ("process orders", "consumer", (PARENT,))
    assert shape.attributes["messaging.message.id"] == "m1"
    assert shape.enqueued == 1767225600.0

    bus = Invocation(
        _spec({"type": "serviceBusTrigger", "topicName": "t", "subscriptionName": "s"}),
        Datum("{}", "string"),
        "r",
        binding_data={"ApplicationProperties": {"Diagnostic-Id": PARENT}, "DeliveryCount": 1},
    )
    shape = shape_of(bus, {}, "api")
    assert shape.parents == (PARENT,)
    assert shape.attributes["messaging.destination.subscription.name"] == "s"

    batch = Invocation(
        _spec({"type": "serviceBusTrigger", "queueName": "q", "cardinality": "many"}),
        Datum(None, "collection_bytes"),
        "r",
        binding_data={"ApplicationPropertiesArray": [{"traceparent": PARENT}, {}]},
    )
    shape = shape_of(batch, {}, "api")
    assert shape.batch and shape.parents == (PARENT,)
    assert shape.attributes["messaging.batch.message_count"] == 2


def test_without_an_exporter_opentelemetry_is_never_imported(tmp_path: Path) -> None:
    code = (
        "import sys, anyio\n"
        "from funchost.config.host_config import HostConfig\n"
        "from funchost.core.clients import ClientCache\n"
        "from funchost.core.services import HostServices\n"
        "from funchost.core.telemetry import instrument\n"
        "async def inner(inv): return inv\n"
        "async def main():\n"
        f"    config = HostConfig.load(__import__('pathlib').Path({str(tmp_path)!r}), {{}})\n"
        "    services = HostServices(config, {}, 'h', 'i', ClientCache({}))\n"
        "    wrapped = instrument(inner, services)\n"
        "    await services.per_host.aclose()\n"
        "    assert not any(m.startswith('opentelemetry') for m in sys.modules), 'imported'\n"
        "anyio.run(main)\n"
    )
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
