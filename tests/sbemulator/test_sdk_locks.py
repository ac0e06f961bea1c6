"""Peek-lock timing through the SDK, sync and aio: lock expiry and renewal, the lock-lost
error, MaxDeliveryCount and TTL dead-lettering. Entities use short LockDuration/TTL."""

from __future__ import annotations

import time

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.exceptions import MessageLockLostError

from .helpers import body, receive, settle_bypassing_client_checks

pytestmark = pytest.mark.integration

LOCK = 2.0  # LockDuration of the lockexpiry-* queues (PT2S)


def test_lock_expiry_renewal_and_lock_lost(sb, name):
    q = name("lockexpiry")
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage("renewed"), ServiceBusMessage("expired")])
    with sb.get_queue_receiver(q) as receiver:
        renewed, expired = receive(receiver, 2)
        first_until = renewed.locked_until_utc
        time.sleep(LOCK * 0.6)
        new_until = receiver.renew_message_lock(renewed)
        assert new_until > first_until and renewed.locked_until_utc == new_until
        time.sleep(LOCK * 0.6)  # past the first lock, within the renewed one
        receiver.complete_message(renewed)

        # The other lock ran out: the SDK refuses to settle, and the server agrees.
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(expired)
        with pytest.raises(MessageLockLostError):
            receiver.renew_message_lock(expired)  # answered by the server: 410 lock lost
        with pytest.raises(MessageLockLostError):
            settle_bypassing_client_checks(receiver, expired)

        # ...and the message is available again, its delivery count raised.
        (again,) = receive(receiver, 1)
        assert (body(again), again.sequence_number) == ("expired", expired.sequence_number)
        assert again.delivery_count == 1
        receiver.complete_message(again)
        assert receiver.peek_messages(5, sequence_number=1) == []


def test_max_delivery_count_dead_letters(sb, name):
    q = name("maxdelivery")  # MaxDeliveryCount 3
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("poison"))
    counts = []
    with sb.get_queue_receiver(q) as receiver:
        for _ in range(3):
            (m,) = receive(receiver, 1)
            counts.append(m.delivery_count)
            receiver.abandon_message(m)
        assert counts == [0, 1, 2]
        assert receiver.peek_messages(5, sequence_number=1) == []
    with sb.get_queue_receiver(q, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        (dead,) = receive(dlq, 1)
        assert body(dead) == "poison"
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert "3" in (dead.dead_letter_error_description or "")
        assert dead.delivery_count == 3
        dlq.complete_message(dead)


def test_ttl_expiry_dead_letters_or_drops(sb, name):
    with sb.get_queue_sender(name("ttl")) as sender:  # TTL PT1S, dead-lettering on expiry
        sender.send_messages(ServiceBusMessage("stale"))
    with sb.get_queue_sender(name("ttldrop")) as sender:  # TTL PT1S, no dead-lettering
        sender.send_messages(ServiceBusMessage("gone"))
    time.sleep(1.3)
    with sb.get_queue_receiver(name("ttl"), sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        (dead,) = receive(dlq, 1)
        assert (body(dead), dead.dead_letter_reason) == ("stale", "TTLExpiredException")
        dlq.complete_message(dead)
    with sb.get_queue_receiver(name("ttldrop")) as receiver:
        assert receiver.peek_messages(5, sequence_number=1) == []
