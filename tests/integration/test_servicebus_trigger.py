"""Service Bus trigger and output against the project's emulator (semantics §5), over the
real azure-servicebus SDK, on the in-process harness. One host for the module (opening and
closing Service Bus links costs about a second per host); each function has its own
entities, each test tags its message bodies and reads back only its own invocations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceiver,
    ServiceBusSubQueue,
)

from funchost.testing import Harness, InvocationRecord
from funchost.triggers.servicebus import RECEIVERS_SETTING
from tests.integration.queue_helpers import (
    APPS,
    eventually,
    logged,
    queue,
    read_all,
    wait_for_where,
)
from tests.servicebus_fixtures import running_emulator

pytestmark = pytest.mark.integration

APP = APPS / "servicebus"
CONFIG = APP / "Config.json"
ADMIN_REASON = "This function was programmatically called via the host APIs."


@pytest.fixture(scope="module")
def sb() -> Iterator[str]:
    # An emulator of this module's own, with the entities the fixture app names (the
    # `funchost` fixture would point the app at the session's emulator, which has none).
    with running_emulator(CONFIG) as endpoint:
        yield endpoint.connection_string


@pytest.fixture(scope="module")
def audit_queue() -> str:
    return "audit-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def host(sb: str, storage_connection_string: str, audit_queue: str) -> Iterator[Harness]:
    settings = {
        "AzureWebJobsServiceBus": sb,
        "AzureWebJobsStorage": storage_connection_string,
        "AUDIT_QUEUE": audit_queue,
        # maxConcurrentCalls 4 split over two receivers (2 + 2): every test here runs
        # with more than one receiver, as an app on the default settings does.
        RECEIVERS_SETTING: "2",
    }
    with Harness(APP, settings=settings) as harness:
        yield harness


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


class Broker:
    """The test's side of the emulator: one client, a receiver kept open per queue (each
    link costs about half a second to open and again to close)."""

    def __init__(self, conn: str) -> None:
        self.client = ServiceBusClient.from_connection_string(conn)
        self._receivers: dict[str, ServiceBusReceiver] = {}

    def send(self, entity: str, *messages: ServiceBusMessage) -> None:
        """Several messages in one send (the harness sends one per call)."""
        with self.client.get_queue_sender(entity) as sender:
            sender.send_messages(list(messages))

    def receive(self, entity: str, **options: Any) -> list[str]:
        """Receive and complete one message (none within 10 s: an empty list)."""
        with self.client.get_queue_receiver(entity, max_wait_time=10, **options) as receiver:
            got = receiver.receive_messages(max_message_count=1, max_wait_time=10)
            for message in got:
                receiver.complete_message(message)
            return [str(m) for m in got]

    def waiting(self, queue: str) -> list[str]:
        """Every message on `queue`, locked ones too, peeked from the first: a receiver's
        peek otherwise goes on after the last message it peeked."""
        receiver = self._receivers.get(queue)
        if receiver is None:
            receiver = self._receivers[queue] = self.client.get_queue_receiver(queue)
        return [str(m) for m in receiver.peek_messages(max_message_count=32, sequence_number=1)]

    def settled(self, queue: str, timeout: float = 30) -> None:
        """Wait until `queue` holds nothing: its messages completed or dead-lettered. (Not
        the harness's wait_idle: the Service Bus listener's backlog peeks on after the last
        message it peeked, so a message still locked or due again can count as none.)"""
        eventually(lambda: self.waiting(queue) == [], timeout, f"'{queue}' is empty")

    def close(self) -> None:
        # Each close waits for the emulator's answer: all at once.
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda receiver: receiver.close(), self._receivers.values()))
        self.client.close()


@pytest.fixture(scope="module")
def broker(sb: str) -> Iterator[Broker]:
    broker = Broker(sb)
    try:
        yield broker
    finally:
        broker.close()


def meta_of(record: InvocationRecord) -> dict[str, object]:
    (line,) = logged([record], "META ")
    return dict(json.loads(line))


def mentions(text: str) -> Callable[[InvocationRecord], bool]:
    """Picks the invocations that logged `text` (this test's tagged bodies)."""
    return lambda record: any(text in line for line in record.logs)


def test_message_runs_with_metadata_and_outputs_to_service_bus_and_storage(
    host: Harness, broker: Broker, storage_connection_string: str, audit_queue: str, tag: str
) -> None:
    body = f"hello sb {tag}"
    host.send_servicebus(
        "sb-in",
        body,
        message_id="m-1",
        correlation_id="corr-7",
        reply_to="replies",
        content_type="text/plain",
        subject="greeting",
        application_properties={"tenant": "t1", "n": 3},
    )
    (run,) = wait_for_where(host, "sb_echo", mentions(body))
    assert run.ok, run.error
    meta = meta_of(run)
    assert meta["body"] == body
    assert meta["message_id"] == "m-1" and meta["correlation_id"] == "corr-7"
    assert meta["reply_to"] == "replies" and meta["content_type"] == "text/plain"
    assert meta["subject"] == "greeting"
    assert meta["application_properties"] == {"tenant": "t1", "n": 3}
    assert meta["delivery_count"] == 1  # .NET counts the current delivery (semantics §5)
    assert isinstance(meta["sequence_number"], int) and meta["sequence_number"] >= 1
    assert meta["lock_token"] and meta["enqueued_time_utc"]
    for key in (
        "MessageId",
        "DeliveryCount",
        "EnqueuedTimeUtc",
        "SequenceNumber",
        "UserProperties",
        "ApplicationProperties",
        "LockToken",
        "ReplyTo",
    ):
        assert key in meta["metadata_keys"]  # type: ignore[operator]
    # Both outputs were written by the time the invocation finished.
    assert broker.receive("sb-out") == [f"echo:{body}"]
    audit = read_all(queue(storage_connection_string, audit_queue), 1)
    assert [json.loads(a) for a in audit] == [{"id": "m-1", "body": body}]
    # Completed: nothing left on the input queue, not even locked; it ran once.
    broker.settled("sb-in")
    assert len(wait_for_where(host, "sb_echo", mentions(body), timeout=0)) == 1


def test_failures_abandon_until_broker_dead_letters_after_max_delivery_count(
    host: Harness, broker: Broker, tag: str
) -> None:
    body = f"doomed-{tag}"
    host.send_servicebus("sb-fail", body)
    runs = wait_for_where(host, "sb_fail", mentions(body), count=3)
    assert not any(r.ok for r in runs)
    # MaxDeliveryCount 3 on this queue: three deliveries, then the dead-letter queue.
    assert logged(runs, "ATTEMPT ") == [f"{body} {n}" for n in (1, 2, 3)]
    dead = broker.client.get_queue_receiver(
        "sb-fail", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=30
    )
    with dead:
        got = dead.receive_messages(max_message_count=1, max_wait_time=30)
        assert [str(d) for d in got] == [body]
        assert got[0].dead_letter_reason == "MaxDeliveryCountExceeded"
        dead.complete_message(got[0])
    broker.settled("sb-fail")
    assert len(wait_for_where(host, "sb_fail", mentions(body), timeout=0)) == 3


def test_sessions_keep_order_within_each_session(host: Harness, broker: Broker, tag: str) -> None:
    sessions = [f"{sid}{tag}" for sid in ("alpha", "beta", "gamma")]
    broker.send(
        "sb-sessions",
        *[ServiceBusMessage(f"{sid}-{i}", session_id=sid) for i in range(6) for sid in sessions],
    )
    runs = wait_for_where(host, "sb_session", mentions(tag), count=18, timeout=60)
    assert all(r.ok for r in runs), [r.error for r in runs]
    seen = logged(runs, "SESSION ")  # in the order the runs finished
    for sid in sessions:
        assert [s.split()[1] for s in seen if s.startswith(f"{sid} ")] == [
            f"{sid}-{i}" for i in range(6)
        ]


def test_batch_trigger_gets_lists(host: Harness, broker: Broker, tag: str) -> None:
    expected = [f"b{i}-{tag}" for i in range(10)]
    broker.send("sb-batch", *[ServiceBusMessage(b) for b in expected])

    def bodies(records: list[InvocationRecord]) -> list[str]:
        batches = logged([r for r in records if r.function == "sb_batch"], "BATCH ")
        every = [b for batch in batches for b in json.loads(batch.split(" ", 1)[1])]
        return [b for b in every if b.endswith(tag)]

    host.recorder.wait(lambda rs: len(bodies(rs)) >= 10, timeout=30)
    broker.settled("sb-batch")
    runs = [r for r in host.invocations("sb_batch") if mentions(tag)(r)]
    assert all(r.ok for r in runs), [r.error for r in runs]
    assert sorted(bodies(runs)) == sorted(expected)  # each once
    sizes = [int(line.split(" ", 1)[0]) for line in logged(runs, "BATCH ")]
    assert any(n > 1 for n in sizes), sizes


def test_lock_is_renewed_while_a_slow_function_runs(
    host: Harness, broker: Broker, tag: str
) -> None:
    body = f"long job {tag}"
    host.send_servicebus("sb-slow", body)
    (run,) = wait_for_where(host, "sb_slow", mentions(body))
    assert run.ok, run.error
    assert logged([run], "SLOW DONE ") == [body]
    # Completed after renewals (an expired lock cannot complete: it would be delivered
    # again): the queue empties, it ran once, and settling did not fail.
    broker.settled("sb-slow")
    assert len(wait_for_where(host, "sb_slow", mentions(body), timeout=0)) == 1
    lost = [line for line in host.logs if "Settling message" in line and "'sb-slow'" in line]
    assert lost == []


def test_receivers_share_max_concurrent_calls(host: Harness, broker: Broker, tag: str) -> None:
    """maxConcurrentCalls (4, host.json) bounds the listener as a whole, not each of its
    two receivers; both receivers' slots fill (more than one receiver's share at once)."""
    bodies = [f"overlap {i} {tag}" for i in range(16)]
    broker.send("sb-overlap", *(ServiceBusMessage(body) for body in bodies))
    runs = wait_for_where(host, "sb_overlap", mentions(tag), count=len(bodies))
    assert all(run.ok for run in runs)
    assert sorted(logged(runs, "OVERLAP ")) == sorted(bodies)
    edges = sorted([(r.started, 1) for r in runs] + [(r.finished, -1) for r in runs])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    assert 2 < peak <= 4, peak


def test_topic_subscription_trigger(host: Harness, broker: Broker, tag: str) -> None:
    body = f"to all subscriptions {tag}"
    host.send_servicebus("sb-topic", body)
    (run,) = wait_for_where(host, "sb_topic", mentions(body))
    assert run.ok, run.error
    assert logged([run], "TOPIC ") == [body]
    assert run.reason.endswith("(sb-topic/Subscriptions/s1)"), run.reason
    # The other subscription got its own copy.
    receiver = broker.client.get_subscription_receiver("sb-topic", "s2", max_wait_time=10)
    with receiver:
        got = receiver.receive_messages(max_message_count=1, max_wait_time=10)
        assert [str(g) for g in got] == [body]
        receiver.complete_message(got[0])


def test_admin_invoke_of_a_service_bus_function(host: Harness, tag: str) -> None:
    body = f"manual-{tag}"
    r = host.post("/admin/functions/sb_batch", json={"input": body})
    assert r.status_code == 202
    (run,) = wait_for_where(host, "sb_batch", mentions(body))
    assert run.ok, run.error
    assert run.reason == ADMIN_REASON
    assert logged([run], "BATCH ") == [f'1 ["{body}"]']
