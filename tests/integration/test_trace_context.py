"""`context.trace_context` of message triggers, through the host with the real SDKs (issue 15,
item 7). The real host sends the current Activity (H `WorkerFunctionInvoker.cs`): a Service
Bus message carries its sender's context in `Diagnostic-Id` (the .NET SDK) or `traceparent`
(the Python SDK) application properties, which the invocation continues; a storage queue
message carries none, so each invocation starts a trace of its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from funchost.testing import Harness, InvocationRecord
from tests.integration.queue_helpers import APPS, logged, wait_for_where
from tests.servicebus_fixtures import running_emulator

pytestmark = pytest.mark.integration

APP = APPS / "trace_context"
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FRESH = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00")


@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[Harness]:
    with running_emulator(APP / "Config.json") as sb:
        settings = {
            "AzureWebJobsStorage": storage_connection_string,
            "AzureWebJobsServiceBus": sb.connection_string,
            "TRACE_QUEUE": "trace-" + uuid.uuid4().hex[:12],
        }
        with Harness(APP, settings=settings) as harness:
            yield harness


def traced(host: Harness, function: str, tag: str) -> tuple[str, str]:
    """The (traceparent, tracestate) the invocation that got body `tag` logged."""

    def mine(record: InvocationRecord) -> bool:
        return any(line.startswith(f"TRACE {tag} ") for line in record.logs)

    (record,) = wait_for_where(host, function, mine)
    (line,) = logged([record], f"TRACE {tag} ")
    parent, state = line.split(" ")
    return parent, "" if state == "-" else state


@pytest.mark.parametrize("key", ["Diagnostic-Id", "traceparent"])
def test_a_service_bus_message_continues_its_senders_trace(host: Harness, key: str) -> None:
    tag = uuid.uuid4().hex[:8]
    props = {key: PARENT, "tracestate": "rojo=00f067aa0ba902b7"}
    host.send_servicebus("trace-in", tag, application_properties=props)
    parent, state = traced(host, "on_servicebus", tag)
    version, trace, span, flags = parent.split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span != "00f067aa0ba902b7" and state == "rojo=00f067aa0ba902b7"


def test_a_service_bus_message_without_a_trace_starts_one(host: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    host.send_servicebus("trace-in", tag)
    parent, state = traced(host, "on_servicebus", tag)
    assert FRESH.fullmatch(parent) and state == ""


def test_queue_messages_each_start_a_trace_of_their_own(host: Harness) -> None:
    tags = [uuid.uuid4().hex[:8] for _ in range(2)]
    for tag in tags:
        host.send_queue(host.environ["TRACE_QUEUE"], tag)
    parents = [traced(host, "on_queue", tag)[0] for tag in tags]
    assert all(FRESH.fullmatch(p) for p in parents)
    assert parents[0].split("-")[1] != parents[1].split("-")[1]
