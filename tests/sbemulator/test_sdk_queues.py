"""Queues through the real azure-servicebus SDK, sync and aio: send, peek, receive and
every settlement. (Each sender or receiver costs the SDK about a second to open and
close, so one test covers several points on one queue.)"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import MessagingEntityNotFoundError, ServiceBusError

from .helpers import body, receive

pytestmark = pytest.mark.integration


def test_send_peek_receive_and_every_settlement(sb, name):
    q = name("basic")
    mid = str(uuid.uuid4())
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(
            ServiceBusMessage(
                "complete",
                message_id=mid,
                subject="subj",
                content_type="text/plain",
                correlation_id="corr",
                to="dest",
                reply_to="replies",
                time_to_live=dt.timedelta(hours=1),
                application_properties={"n": 7, "s": "x", "f": 1.5, "b": True},
            )
        )
        batch = sender.create_message_batch()
        for text in ("abandon", "defer", "dead-letter"):
            batch.add_message(ServiceBusMessage(text, application_properties={"k": text}))
        sender.send_messages(batch)
        sender.send_messages([ServiceBusMessage("list-0"), ServiceBusMessage("list-1")])
    with sb.get_queue_receiver(q) as receiver:
        # Peek: no lock, nothing removed, continues after the last peeked message.
        peeked = receiver.peek_messages(2)
        assert [body(m) for m in peeked] == ["complete", "abandon"]
        assert peeked[0].lock_token is None
        assert [body(m) for m in receiver.peek_messages(10)] == [
            "defer",
            "dead-letter",
            "list-0",
            "list-1",
        ]
        messages = receive(receiver, 6)
        assert [body(m) for m in messages] == [
            "complete",
            "abandon",
            "defer",
            "dead-letter",
            "list-0",
            "list-1",
        ]
        first = messages[0]
        assert (
            first.message_id,
            first.subject,
            first.content_type,
            first.correlation_id,
            first.to,
            first.reply_to,
        ) == (mid, "subj", "text/plain", "corr", "dest", "replies")
        assert first.application_properties == {b"n": 7, b"s": b"x", b"f": 1.5, b"b": True}
        assert first.time_to_live == dt.timedelta(hours=1)
        assert all(m.delivery_count == 0 for m in messages)
        seqs = [m.sequence_number for m in messages]
        assert seqs == sorted(seqs) and len(set(seqs)) == 6
        assert len({m.lock_token for m in messages}) == 6
        now = dt.datetime.now(dt.timezone.utc)
        assert now - dt.timedelta(seconds=30) < first.enqueued_time_utc <= now
        assert first.locked_until_utc > now + dt.timedelta(seconds=50)  # LockDuration PT1M
        # A locked message can still be peeked.
        assert [body(m) for m in receiver.peek_messages(1, sequence_number=seqs[0])] == ["complete"]

        complete, abandon, defer, dead, *rest = messages
        for m in [complete, *rest]:
            receiver.complete_message(m)
        receiver.abandon_message(abandon)
        receiver.defer_message(defer)
        receiver.dead_letter_message(dead, reason="Invalid", error_description="cannot parse")

        (again,) = receive(receiver, 1)  # only the abandoned one comes back
        assert (body(again), again.sequence_number, again.delivery_count) == (
            "abandon",
            abandon.sequence_number,
            1,
        )
        assert again.lock_token != abandon.lock_token
        receiver.complete_message(again)

        left = receiver.peek_messages(10, sequence_number=seqs[0])
        assert [(body(m), m.state) for m in left] == [("defer", ServiceBusMessageState.DEFERRED)]
        (deferred,) = receiver.receive_deferred_messages([defer.sequence_number])
        assert body(deferred) == "defer" and deferred.state == ServiceBusMessageState.DEFERRED
        assert deferred.lock_token is not None
        receiver.complete_message(deferred)  # settled through the management link
        assert receiver.peek_messages(10, sequence_number=seqs[0]) == []
    with sb.get_queue_receiver(q, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        (dead_copy,) = receive(dlq, 1)
        assert body(dead_copy) == "dead-letter"
        assert (dead_copy.dead_letter_reason, dead_copy.dead_letter_error_description) == (
            "Invalid",
            "cannot parse",
        )
        assert dead_copy.sequence_number == dead.sequence_number
        assert dead_copy.enqueued_time_utc == dead.enqueued_time_utc
        assert dead_copy.application_properties[b"k"] == b"dead-letter"
        dlq.complete_message(dead_copy)
        assert dlq.peek_messages(5, sequence_number=1) == []


def test_receive_and_delete(sb, name):
    q = name("rad")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage("r1"), ServiceBusMessage("r2")])
    with sb.get_queue_receiver(q, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as rad:
        got = receive(rad, 2)
        assert [body(m) for m in got] == ["r1", "r2"]
        assert got[0].lock_token is None
        assert rad.peek_messages(5, sequence_number=1) == []


def test_competing_receivers_each_message_once(sb, name):
    q = name("compete")
    count = 40
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage(f"c{i}") for i in range(count)])
    seen: dict[str, list[str]] = {"a": [], "b": []}
    with sb.get_queue_receiver(q) as a, sb.get_queue_receiver(q) as b:
        # Both receivers ask for part of the queue, turn by turn, until it is dry.
        for _ in range(20):
            for key, receiver in (("a", a), ("b", b)):
                for m in receiver.receive_messages(max_message_count=7, max_wait_time=0.3):
                    seen[key].append(body(m))
                    receiver.complete_message(m)
            if len(seen["a"]) + len(seen["b"]) >= count:
                break
    assert sorted(seen["a"] + seen["b"]) == sorted(f"c{i}" for i in range(count))
    assert seen["a"] and seen["b"]


def test_receivers_in_threads_share_the_queue(servicebus_emulator):
    # Threads drive the sync client (aio competition is tested above), so this test is not
    # run per flavour.
    q = "compete-sync"
    count = 60
    cs = servicebus_emulator.connection_string
    with ServiceBusClient.from_connection_string(cs) as sb, sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage(f"t{i}") for i in range(count)])
    results: list[list[str]] = [[], []]

    def work(out: list[str]) -> None:
        with ServiceBusClient.from_connection_string(cs) as sb, sb.get_queue_receiver(q) as r:
            idle = 0
            while idle < 2:
                batch = r.receive_messages(max_message_count=5, max_wait_time=0.5)
                idle = 0 if batch else idle + 1
                for m in batch:
                    out.append(body(m))
                    r.complete_message(m)

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results[0] + results[1]) == sorted(f"t{i}" for i in range(count))
    assert results[0] and results[1]


def test_unknown_entity_is_not_found(sb):
    with (
        pytest.raises(MessagingEntityNotFoundError, match="no-such-queue"),
        sb.get_queue_sender("no-such-queue") as sender,
    ):
        sender.send_messages(ServiceBusMessage("x"))
    with (
        pytest.raises(MessagingEntityNotFoundError),
        sb.get_subscription_receiver("no-such-topic", "sub") as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)


def test_session_entity_refuses_messages_without_session_and_plain_receivers(sb, name):
    q = name("errors")
    with (
        sb.get_queue_sender(q) as sender,
        pytest.raises(ServiceBusError, match="requires sessions"),
    ):
        sender.send_messages(ServiceBusMessage("no session id"))
    with (
        pytest.raises(ServiceBusError, match="requires sessions"),
        sb.get_queue_receiver(q) as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)
