"""Poison messages and bad input: undecodable and always-failing messages reach the poison
queue (storage) or the dead-letter queue (Service Bus) after exactly the configured count
while good ones flow; fuzzed message bodies and HTTP requests never crash the host nor get
a 5xx that is not a function's own failure; oversized bodies get 413."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from azure.servicebus import ServiceBusClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.testing import Harness
from tests.integration.queue_helpers import encoded, eventually, peek_all, queue
from tests.reliability.conftest import APP, settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MAX_DEQUEUE = 3


@pytest.fixture(scope="module")
def fuzz_host(storage_connection_string: str) -> Iterator[tuple[Harness, dict[str, str]]]:
    """One host for the fuzzers: many examples, one start."""
    s = settings(
        AzureFunctionsJobHost__extensions__queues__maxDequeueCount=str(MAX_DEQUEUE),
        FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=str(64 * 1024),
    )
    host = Harness(APP, settings={**s, "AzureWebJobsStorage": storage_connection_string})
    host.start()
    try:
        yield host, s
    finally:
        host.stop()


def test_poison_after_exactly_max_dequeue_count_while_good_messages_flow(
    storage_connection_string: str,
    emulators: Callable[..., ServiceBusEmulator],
    report: Callable[..., None],
) -> None:
    s = settings(
        AzureFunctionsJobHost__extensions__queues__maxDequeueCount=str(MAX_DEQUEUE),
    )
    broker = emulators(s, max_delivery=MAX_DEQUEUE)
    host = Harness(
        APP,
        settings={
            **s,
            "AzureWebJobsStorage": storage_connection_string,
            "ServiceBusConnection": broker.connection_string or "",
        },
    ).start()
    try:
        good = [f"ok-{i}" for i in range(10)]
        bad = [f"fail-{i}" for i in range(3)]
        for body in good + bad:
            host.send_queue(s["REL_MIXED_Q"], body)
        host.send_queue(s["REL_MIXED_Q"], "not base64 at all!", raw=True)
        host.send_servicebus(s["REL_MIXED_SBQ"], good + bad)
        host.wait_for("mixed_job", len(good), ok=True)
        host.wait_for("mixed_job", MAX_DEQUEUE * len(bad), ok=False, timeout=60)
        host.wait_for("mixed_servicebus_job", len(good), ok=True)
        host.wait_for("mixed_servicebus_job", MAX_DEQUEUE * len(bad), ok=False, timeout=60)
        host.wait_idle()
        runs = [r for r in host.invocations("mixed_job") if not r.ok]
        sb_runs = [r for r in host.invocations("mixed_servicebus_job") if not r.ok]
    finally:
        host.stop()
    # Storage: each failing message ran exactly maxDequeueCount times, the undecodable one
    # never; all four sit in the poison queue, copied as stored.
    assert len(runs) == MAX_DEQUEUE * len(bad)
    poison = sorted(peek_all(queue(storage_connection_string, s["REL_MIXED_Q"] + "-poison")))
    assert poison == sorted([*(encoded(b) for b in bad), "not base64 at all!"])
    # Service Bus: dead-lettered by the broker after MaxDeliveryCount deliveries.
    assert len(sb_runs) == MAX_DEQUEUE * len(bad)
    with (
        ServiceBusClient.from_connection_string(broker.connection_string or "") as sb,
        sb.get_queue_receiver(s["REL_MIXED_SBQ"], sub_queue="deadletter") as dlq,
    ):
        dead = dlq.peek_messages(max_message_count=10, sequence_number=1)
    assert sorted(str(m) for m in dead) == sorted(bad)
    assert {m.dead_letter_reason for m in dead} == {"MaxDeliveryCountExceeded"}
    report(
        "poison and dead letters",
        good=len(good),
        failing=len(bad),
        undecodable=1,
        attempts_each=MAX_DEQUEUE,
        poisoned=len(poison),
        dead_lettered=len(dead),
    )


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=2048),
        st.dictionaries(st.text(max_size=8), st.integers()).map(json.dumps),
    )
)
def test_fuzzed_queue_bodies_never_crash_the_host(
    fuzz_host: tuple[Harness, dict[str, str]], body: str | bytes
) -> None:
    host, s = fuzz_host
    tag = uuid.uuid4().hex[:8]
    payload = (body.encode("utf-8") if isinstance(body, str) else body) + tag.encode()
    host.send_queue(s["REL_MIXED_Q"], payload)
    # Runs (a body starting with "fail" fails into poison after MAX_DEQUEUE attempts).
    eventually(
        lambda: (
            any(tag in line for line in host.logs)
            or (host.invocations("mixed_job") and not host.invocations("mixed_job")[-1].ok)
        ),
        what="the fuzzed message ran",
    )
    assert host.host is not None and host.host.state == "Running"


METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
PATHS = st.one_of(
    st.sampled_from(
        [
            "/api/echo/x",
            "/api/open",
            "/api/files/a.txt",
            "/api/rows/p/r",
            "/admin/host/status",
            "/admin/functions/echo",
            "/",
            "/api/",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40).map(
        lambda t: "/api/" + t
    ),
)
HEADER_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=METHODS,
    path=PATHS,
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
    body=st.binary(max_size=4096),
)
def test_fuzzed_http_requests_get_no_5xx_and_never_crash_the_host(
    fuzz_host: tuple[Harness, dict[str, str]],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    host, _ = fuzz_host
    try:
        response = httpx.request(method, host.url + path, headers=headers, content=body, timeout=30)
    except (httpx.InvalidURL, httpx.LocalProtocolError):
        return  # not sendable: httpx refuses it before the host sees it
    # 500 only for a function's own failure, which names its invocation.
    if response.status_code == 500:
        assert "invocationId" in response.json(), response.text
    else:
        assert response.status_code < 500, (method, path, response.status_code, response.text)
    assert host.get("/admin/host/ping").status_code == 200


def test_oversized_bodies_get_413_and_the_host_stays_up(
    fuzz_host: tuple[Harness, dict[str, str]], report: Callable[..., None]
) -> None:
    host, _ = fuzz_host
    big = b"x" * (64 * 1024 + 1)
    declared = host.post("/api/echo/big", content=big)
    assert declared.status_code == 413 and "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT" in declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: caught as it streams
        for _ in range(100):
            yield b"y" * 4096

    streamed = host.post("/api/echo/big", content=chunks())
    assert streamed.status_code == 413
    assert host.post("/api/echo/fine", content=b"z" * 1000).json() == {"name": "fine", "size": 1000}
    report(
        "oversized bodies",
        limit="64 KiB",
        declared=declared.status_code,
        streamed=streamed.status_code,
    )
