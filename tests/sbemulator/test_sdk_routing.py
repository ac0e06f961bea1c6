"""Where messages go, through the SDK, sync and aio: topics fanning out through
correlation and SQL rules, ForwardTo, ForwardDeadLetteredMessagesTo, duplicate detection."""

from __future__ import annotations

import time

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode

from .helpers import body, receive

pytestmark = pytest.mark.integration


def _drain(sb, topic, subscription, count):
    """Everything in a subscription: asks for one more than expected, so that an extra
    message would show (the wait for it is short, the copies are there already)."""
    with sb.get_subscription_receiver(
        topic, subscription, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
    ) as r:
        got = r.receive_messages(max_message_count=count + 1, max_wait_time=0.5)
        return sorted(body(m) for m in got)


def test_topic_fans_out_through_rules(sb, name):
    topic = name("fanout")
    messages = [
        # subject "order" + region eu: the correlation rule of "orders"
        ServiceBusMessage("eu-order", subject="order", application_properties={"region": "eu"}),
        ServiceBusMessage("us-order", subject="order", application_properties={"region": "us"}),
        # amount > 100, content type application/*, region not us/ca: the SQL rule of "big"
        ServiceBusMessage(
            "big-eu",
            content_type="application/json",
            application_properties={"amount": 250, "region": "eu"},
        ),
        ServiceBusMessage(
            "big-ca",
            content_type="application/json",
            application_properties={"amount": 250, "region": "ca"},
        ),
        ServiceBusMessage(
            "small", content_type="application/json", application_properties={"amount": 5}
        ),
        ServiceBusMessage("no-props"),
    ]
    with sb.get_topic_sender(topic) as sender:
        sender.send_messages(messages)
    everything = sorted(body(m) for m in messages)
    assert _drain(sb, topic, "all", 6) == everything
    assert _drain(sb, topic, "orders", 1) == ["eu-order"]
    assert _drain(sb, topic, "big", 1) == ["big-eu"]
    assert _drain(sb, topic, "none", 0) == []
    # "tofwd" has ForwardTo: its copies land in the queue topicfwd-dst-*.
    with sb.get_queue_receiver(name("topicfwd-dst")) as receiver:
        got = receive(receiver, len(messages))
        assert sorted(body(m) for m in got) == everything
        for m in got:
            receiver.complete_message(m)


def test_forward_to_and_forward_dead_lettered(sb, name):
    with sb.get_queue_sender(name("fwd-src")) as sender:  # ForwardTo fwd-dst-*
        sender.send_messages(ServiceBusMessage("forwarded", application_properties={"k": 1}))
    with sb.get_queue_receiver(name("fwd-dst")) as receiver:
        (m,) = receive(receiver, 1)
        assert (body(m), m.application_properties[b"k"]) == ("forwarded", 1)
        receiver.complete_message(m)

    # fdl-src-*: MaxDeliveryCount 1 and ForwardDeadLetteredMessagesTo fdl-dst-*
    with sb.get_queue_sender(name("fdl-src")) as sender:
        sender.send_messages([ServiceBusMessage("explicit"), ServiceBusMessage("abandoned")])
    with sb.get_queue_receiver(name("fdl-src")) as receiver:
        explicit, abandoned = receive(receiver, 2)
        receiver.dead_letter_message(explicit, reason="Bad", error_description="bad input")
        receiver.abandon_message(abandoned)  # one failed delivery reaches MaxDeliveryCount
    with sb.get_queue_receiver(name("fdl-dst")) as receiver:
        got = {body(m): m for m in receive(receiver, 2)}
        assert set(got) == {"explicit", "abandoned"}
        assert got["explicit"].dead_letter_reason == "Bad"
        assert got["explicit"].dead_letter_error_description == "bad input"
        assert got["abandoned"].dead_letter_reason == "MaxDeliveryCountExceeded"
        assert got["explicit"].dead_letter_source == name("fdl-src")
        for m in got.values():
            receiver.complete_message(m)


def test_duplicate_detection_within_the_window(sb, name):
    q = name("dedup")  # RequiresDuplicateDetection, window PT2S
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("one", message_id="m-1"))
        sender.send_messages(ServiceBusMessage("one again", message_id="m-1"))  # dropped
        sender.send_messages(
            [
                ServiceBusMessage("two", message_id="m-2"),
                ServiceBusMessage("two again", message_id="m-2"),
            ]
        )
        time.sleep(2.1)
        sender.send_messages(ServiceBusMessage("one later", message_id="m-1"))  # window over
    with sb.get_queue_receiver(q) as receiver:
        got = receive(receiver, 3)
        assert [body(m) for m in got] == ["one", "two", "one later"]
        assert receiver.receive_messages(max_wait_time=0.3) == []
        for m in got:
            receiver.complete_message(m)
