"""Scheduled messages through the SDK, sync and aio: schedule, cancel, peek their state,
and delivery when due, on a queue and on a topic."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageState

from .helpers import body, receive

pytestmark = pytest.mark.integration


def _soon(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def test_schedule_cancel_and_deliver_when_due(sb, name):
    q = name("schedule")
    due = _soon(4.5)  # opening the sender and receiver takes about 1.5 s, more when busy
    with sb.get_queue_sender(q) as sender:
        kept, cancelled = sender.schedule_messages(
            [ServiceBusMessage("scheduled"), ServiceBusMessage("cancelled")], due
        )
        sender.cancel_scheduled_messages(cancelled)
        # Setting scheduled_enqueue_time_utc on a plain send schedules too.
        sender.send_messages(ServiceBusMessage("via-send", scheduled_enqueue_time_utc=due))
        sender.send_messages(ServiceBusMessage("now"))
    with sb.get_queue_receiver(q) as receiver:
        peeked = receiver.peek_messages(10, sequence_number=1)
        assert [(body(m), m.state) for m in peeked] == [
            ("scheduled", ServiceBusMessageState.SCHEDULED),
            ("via-send", ServiceBusMessageState.SCHEDULED),
            ("now", ServiceBusMessageState.ACTIVE),
        ]
        assert peeked[0].sequence_number == kept
        assert abs(peeked[0].scheduled_enqueue_time_utc - due) < dt.timedelta(milliseconds=5)
        (now,) = receive(receiver, 1)
        assert body(now) == "now"
        receiver.complete_message(now)
        assert receiver.receive_messages(max_wait_time=0.5) == []  # not due yet
        time.sleep(max(0.0, (due - dt.datetime.now(dt.timezone.utc)).total_seconds()))
        later = receive(receiver, 2)
        assert sorted(body(m) for m in later) == ["scheduled", "via-send"]
        assert all(m.enqueued_time_utc >= due - dt.timedelta(milliseconds=5) for m in later)
        for m in later:
            receiver.complete_message(m)


def test_topic_scheduled_messages_fan_out_when_due(sb, name):
    topic = name("tsched")
    with sb.get_topic_sender(topic) as sender:
        due = _soon(1.0)
        keep, drop = sender.schedule_messages(
            [ServiceBusMessage("t-kept"), ServiceBusMessage("t-dropped")], due
        )
        sender.cancel_scheduled_messages(drop)
    time.sleep(1.1)
    for sub in ("s1", "s2"):
        with sb.get_subscription_receiver(topic, sub) as receiver:
            got = receive(receiver, 1)
            assert [body(m) for m in got] == ["t-kept"]
            assert got[0].sequence_number == keep
            receiver.complete_message(got[0])
