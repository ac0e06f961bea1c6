"""Service Bus trigger and output against the project's emulator (semantics §5), over the
real azure-servicebus SDK."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue

from tests.hostprocess import APPS, HostProcess
from tests.integration.queue_helpers import queue, read_all, wait_until
from tests.servicebus_fixtures import running_emulator

pytestmark = pytest.mark.integration

CONFIG = APPS / "servicebus" / "Config.json"


@pytest.fixture(scope="module")
def sb() -> Iterator[str]:
    # An emulator of this module's own, with the entities the fixture app names.
    with running_emulator(CONFIG) as endpoint:
        yield endpoint.connection_string


@pytest.fixture(scope="module")
def audit_queue() -> str:
    return "audit-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def host(sb: str, storage_connection_string: str, audit_queue: str) -> Iterator[HostProcess]:
    proc = HostProcess("servicebus", env={"AzureWebJobsServiceBus": sb,
                                          "AzureWebJobsStorage": storage_connection_string,
                                          "AUDIT_QUEUE": audit_queue}, args=["--no-auth"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def send(conn: str, entity: str, *messages: ServiceBusMessage) -> None:
    with ServiceBusClient.from_connection_string(conn) as client, \
            client.get_queue_sender(entity) as sender:
        sender.send_messages(list(messages))


def test_message_runs_with_metadata_and_outputs_to_service_bus_and_storage(
        host: HostProcess, sb: str, storage_connection_string: str, audit_queue: str) -> None:
    send(sb, "sb-in", ServiceBusMessage("hello sb", message_id="m-1", correlation_id="corr-7",
                                        reply_to="replies", content_type="text/plain",
                                        subject="greeting",
                                        application_properties={"tenant": "t1", "n": 3}))
    m = host.wait_for_output(r"META (\{.*\"body\": \"hello sb\".*\})", timeout=20)
    assert m is not None, host.output()[-3000:]
    meta = json.loads(m.group(1))
    assert meta["message_id"] == "m-1" and meta["correlation_id"] == "corr-7"
    assert meta["reply_to"] == "replies" and meta["content_type"] == "text/plain"
    assert meta["subject"] == "greeting"
    assert meta["application_properties"] == {"tenant": "t1", "n": 3}
    assert meta["delivery_count"] == 1  # .NET counts the current delivery (semantics §5)
    assert meta["sequence_number"] >= 1 and meta["lock_token"] and meta["enqueued_time_utc"]
    for key in ("MessageId", "DeliveryCount", "EnqueuedTimeUtc", "SequenceNumber",
                "UserProperties", "ApplicationProperties", "LockToken", "ReplyTo"):
        assert key in meta["metadata_keys"]
    with ServiceBusClient.from_connection_string(sb) as client, \
            client.get_queue_receiver("sb-out", max_wait_time=10) as receiver:
        got = receiver.receive_messages(max_message_count=1, max_wait_time=10)
        assert [str(g) for g in got] == ["echo:hello sb"]
        receiver.complete_message(got[0])
    audit = read_all(queue(storage_connection_string, audit_queue), 1)
    assert json.loads(audit[0]) == {"id": "m-1", "body": "hello sb"}
    # Completed: nothing left on the input queue.
    with ServiceBusClient.from_connection_string(sb) as client, \
            client.get_queue_receiver("sb-in") as receiver:
        assert receiver.peek_messages(max_message_count=5) == []


def test_failures_abandon_until_broker_dead_letters_after_max_delivery_count(
        host: HostProcess, sb: str) -> None:
    send(sb, "sb-fail", ServiceBusMessage("doomed"))
    with ServiceBusClient.from_connection_string(sb) as client, \
            client.get_queue_receiver("sb-fail", sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                                      max_wait_time=30) as dlq:
        dead = dlq.receive_messages(max_message_count=1, max_wait_time=30)
        assert [str(d) for d in dead] == ["doomed"]
        assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"
        dlq.complete_message(dead[0])
    attempts = [int(n) for n in re.findall(r"ATTEMPT doomed (\d+)", host.output())]
    assert attempts == [1, 2, 3]  # MaxDeliveryCount 3 on this queue


def test_sessions_keep_order_within_each_session(host: HostProcess, sb: str) -> None:
    messages = [ServiceBusMessage(f"{sid}-{i}", session_id=sid)
                for i in range(6) for sid in ("alpha", "beta", "gamma")]
    send(sb, "sb-sessions", *messages)
    assert wait_until(lambda: len(re.findall(r"SESSION \w+ \w+-\d", host.output())) >= 18,
                      timeout=40), host.output()[-2000:]
    for sid in ("alpha", "beta", "gamma"):
        seen = re.findall(rf"SESSION {sid} ({sid}-\d)", host.output())
        assert seen == [f"{sid}-{i}" for i in range(6)]


def test_batch_trigger_gets_lists(host: HostProcess, sb: str) -> None:
    send(sb, "sb-batch", *[ServiceBusMessage(f"b{i}") for i in range(10)])
    assert wait_until(lambda: sum(int(n) for n in re.findall(r"BATCH (\d+)", host.output())) >= 10,
                      timeout=30)
    bodies = [b for batch in re.findall(r"BATCH \d+ (\[.*\])", host.output())
              for b in json.loads(batch)]
    assert sorted(bodies) == sorted(f"b{i}" for i in range(10))
    assert any(int(n) > 1 for n in re.findall(r"BATCH (\d+)", host.output()))


def test_lock_is_renewed_while_a_slow_function_runs(host: HostProcess, sb: str) -> None:
    send(sb, "sb-slow", ServiceBusMessage("long job"))
    assert host.wait_for_output(r"SLOW DONE long job", timeout=30)
    time.sleep(1)
    # Completed after renewals: no redelivery, no lost-lock warning.
    assert len(re.findall(r"SLOW DONE long job", host.output())) == 1
    assert "Settling message" not in host.output()


def test_topic_subscription_trigger(host: HostProcess, sb: str) -> None:
    with ServiceBusClient.from_connection_string(sb) as client, \
            client.get_topic_sender("sb-topic") as sender:
        sender.send_messages(ServiceBusMessage("to all subscriptions"))
    assert host.wait_for_output(r"TOPIC to all subscriptions", timeout=20)


def test_admin_invoke_of_a_service_bus_function(host: HostProcess) -> None:
    import httpx
    r = httpx.post(f"{host.url}/admin/functions/sb_batch", json={"input": "manual"})
    assert r.status_code == 202
    assert host.wait_for_output(r'BATCH 1 \["manual"\]', timeout=10)
