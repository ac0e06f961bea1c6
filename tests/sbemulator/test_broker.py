"""The broker state machine without AMQP: every transition, with explicit times."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from sbemulator.broker.message import Envelope, MessageProperties, MessageState
from sbemulator.broker.message_queue import Outcome
from sbemulator.broker.namespace import Broker, DuplicateDetector
from sbemulator.config.config_json import parse_config
from sbemulator.errors import (
    EntityNotFound,
    MessageLockLost,
    MessageNotFound,
    NotAllowed,
    SessionCannotBeLocked,
    SessionLockLost,
)

CONFIG = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "ns",
                "Queues": [
                    {"Name": "q", "Properties": {"LockDuration": "PT10S", "MaxDeliveryCount": 3}},
                    {
                        "Name": "ttl",
                        "Properties": {
                            "DefaultMessageTimeToLive": "PT5S",
                            "DeadLetteringOnMessageExpiration": True,
                        },
                    },
                    {"Name": "drop", "Properties": {"DefaultMessageTimeToLive": "PT5S"}},
                    {"Name": "s", "Properties": {"RequiresSession": True, "LockDuration": "PT10S"}},
                    {
                        "Name": "dedup",
                        "Properties": {
                            "RequiresDuplicateDetection": True,
                            "DuplicateDetectionHistoryTimeWindow": "PT30S",
                        },
                    },
                    {"Name": "fwd", "Properties": {"ForwardTo": "target"}},
                    {"Name": "target"},
                    {
                        "Name": "dlfwd",
                        "Properties": {
                            "MaxDeliveryCount": 1,
                            "ForwardDeadLetteredMessagesTo": "target",
                        },
                    },
                ],
                "Topics": [
                    {
                        "Name": "t",
                        "Subscriptions": [
                            {"Name": "all"},
                            {
                                "Name": "red",
                                "Rules": [
                                    {
                                        "Name": "r",
                                        "Properties": {
                                            "FilterType": "Sql",
                                            "SqlFilter": {"SqlExpression": "color = 'red'"},
                                        },
                                    }
                                ],
                            },
                            {
                                "Name": "corr",
                                "Rules": [
                                    {
                                        "Name": "c",
                                        "Properties": {
                                            "FilterType": "Correlation",
                                            "CorrelationFilter": {
                                                "Label": "x",
                                                "Properties": {"n": 1},
                                            },
                                        },
                                    }
                                ],
                            },
                            {"Name": "sess", "Properties": {"RequiresSession": True}},
                        ],
                    }
                ],
            }
        ]
    }
}

OWNER = object()


def env(mid: str | None = None, **props: Any) -> Envelope:
    user = props.pop("user", {})
    return Envelope(MessageProperties(message_id=mid, user=user, **props))


@pytest.fixture
def broker() -> Broker:
    return Broker(parse_config(CONFIG, "test"))


def test_peek_lock_complete(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    assert broker.send("q", [env("a"), env("b")], 0.0) == [1, 2]
    assert broker.take_ready() == {q}
    m = q.lock_next(OWNER, 1.0)
    assert m is not None and (m.seq, m.locked_until) == (1, 11.0)
    q.settle(m.lock_token, Outcome.COMPLETE, 2.0)
    assert list(q.messages) == [2]
    with pytest.raises(MessageLockLost):
        q.settle(m.lock_token, Outcome.COMPLETE, 2.0)


def test_abandon_counts_and_dead_letters_at_max_delivery(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env("a")], 0.0)
    for expected in (0, 1, 2):
        m = q.lock_next(OWNER, 1.0)
        assert m is not None and m.delivery_count == expected
        q.settle(m.lock_token, Outcome.ABANDON, 1.0)
    assert q.lock_next(OWNER, 1.0) is None
    dlq = broker.receiver_queue("q/$deadletterqueue")
    (dead,) = dlq.messages.values()
    assert (dead.seq, dead.dead_letter_reason, dead.delivery_count) == (
        1,
        "MaxDeliveryCountExceeded",
        3,
    )


def test_release_does_not_count(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env("a")], 0.0)
    m = q.lock_next(OWNER, 0.0)
    q.settle(m.lock_token, Outcome.RELEASE, 0.0)
    assert q.lock_next(OWNER, 0.0).delivery_count == 0


def test_lock_expiry_and_renewal(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env("a"), env("b")], 0.0)
    a, b = q.lock_next(OWNER, 0.0), q.lock_next(OWNER, 0.0)
    assert q.renew_lock(a.lock_token, 8.0) == 18.0
    q.tick(12.0)  # b's lock (until 10) expired; a's was renewed
    with pytest.raises(MessageLockLost):
        q.settle(b.lock_token, Outcome.COMPLETE, 12.0)
    again = q.lock_next(OWNER, 12.0)
    assert (again.seq, again.delivery_count) == (2, 1)
    q.settle(a.lock_token, Outcome.COMPLETE, 12.0)
    # Settling a lock that expired before the timer noticed is refused too.
    with pytest.raises(MessageLockLost):
        q.settle(again.lock_token, Outcome.COMPLETE, 30.0)
    assert q.lock_next(OWNER, 30.0).delivery_count == 2


def test_dead_letter_keeps_sequence_number_and_reason(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env("a")], 0.0)
    m = q.lock_next(OWNER, 1.0)
    q.settle(m.lock_token, Outcome.DEAD_LETTER, 1.0, reason="Bad", description="why")
    dlq = broker.receiver_queue("q/$deadletterqueue")
    d = dlq.lock_next(OWNER, 2.0)
    assert (d.seq, d.enqueued_at, d.dead_letter_reason, d.dead_letter_description) == (
        1,
        0.0,
        "Bad",
        "why",
    )
    with pytest.raises(NotAllowed):
        dlq.settle(d.lock_token, Outcome.DEAD_LETTER, 2.0)
    for _ in range(20):  # no MaxDeliveryCount in a dead-letter queue
        dlq.settle(d.lock_token, Outcome.ABANDON, 2.0)
        d = dlq.lock_next(OWNER, 2.0)
    assert d.delivery_count == 20


def test_defer_and_receive_by_sequence_number(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env("a"), env("b")], 0.0)
    a = q.lock_next(OWNER, 0.0)
    q.settle(a.lock_token, Outcome.DEFER, 0.0)
    assert q.lock_next(OWNER, 0.0).seq == 2
    assert q.lock_next(OWNER, 0.0) is None
    with pytest.raises(MessageNotFound):
        q.receive_deferred([2], OWNER, 0.0, peek_lock=True)  # 2 is not deferred
    (d,) = q.receive_deferred([1], OWNER, 0.0, peek_lock=True)
    assert d.state == MessageState.DEFERRED and d.lock_token is not None
    q.settle(d.lock_token, Outcome.ABANDON, 0.0)  # abandoned: still deferred
    assert q.messages[1].state == MessageState.DEFERRED
    (d,) = q.receive_deferred([1], OWNER, 0.0, peek_lock=False)
    assert 1 not in q.messages


def test_scheduled_messages_activate_and_cancel(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    s1, s2 = broker.send(
        "q", [env("a", scheduled_enqueue_time=50.0), env("b", scheduled_enqueue_time=60.0)], 0.0
    )
    assert [m.state for m in q.peek(1, 10)] == [MessageState.SCHEDULED] * 2
    assert q.lock_next(OWNER, 10.0) is None
    broker.cancel_scheduled("q", [s2])
    with pytest.raises(MessageNotFound):
        broker.cancel_scheduled("q", [s2])
    broker.tick(55.0)
    m = q.lock_next(OWNER, 55.0)
    assert (m.seq, m.enqueued_at, m.state) == (s1, 50.0, MessageState.ACTIVE)


def test_topic_scheduled_messages_fan_out_when_due(broker: Broker) -> None:
    (seq,) = broker.send("t", [env("a", scheduled_enqueue_time=5.0)], 0.0)
    assert all(not q.messages for q in broker.receivable.values())
    broker.tick(6.0)
    assert broker.receiver_queue("t/subscriptions/all").messages[seq].enqueued_at == 6.0


def test_ttl_expiry_dead_letters_or_drops(broker: Broker) -> None:
    broker.send("ttl", [env("b", time_to_live=1.0), env("a")], 0.0)
    broker.send("drop", [env("c")], 0.0)
    ttl = broker.receiver_queue("ttl")
    # b's own TTL is shorter than the entity's: it expires first, found when popped.
    assert ttl.lock_next(OWNER, 2.0).message_id == "a"
    dlq = broker.receiver_queue("ttl/$deadletterqueue")
    assert [m.dead_letter_reason for m in dlq.messages.values()] == ["TTLExpiredException"]
    broker.tick(6.0)
    assert not broker.receiver_queue("drop").messages
    # A locked message does not expire under its receiver: a is checked when it comes back.
    (a,) = ttl.messages.values()
    assert a.message_id == "a"
    ttl.settle(a.lock_token, Outcome.ABANDON, 7.0)
    assert not ttl.messages and len(dlq.messages) == 2


def test_sessions_are_exclusive_and_next_available_skips_locked_ones(broker: Broker) -> None:
    s = broker.receiver_queue("s")
    with pytest.raises(NotAllowed):
        broker.send("s", [env("no-session")], 0.0)
    broker.send(
        "s", [env("a1", session_id="A"), env("b1", session_id="B"), env("a2", session_id="A")], 0.0
    )
    one, two = object(), object()
    sa = s.accept_next_session(one, 0.0)
    assert sa is not None and sa.id == "A"
    with pytest.raises(SessionCannotBeLocked):
        s.accept_session("A", two, 0.0)
    sb = s.accept_next_session(two, 0.0)
    assert sb is not None and sb.id == "B"
    assert s.accept_next_session(object(), 0.0) is None
    assert [s.lock_next(one, 0.0, sa).message_id for _ in range(2)] == ["a1", "a2"]
    assert s.lock_next(one, 0.0, sa) is None
    s.set_session_state("A", b"st", one, 1.0)
    with pytest.raises(SessionLockLost):
        s.session_state("A", two, 1.0)  # held by `one`
    assert s.session_state("A", one, 1.0) == b"st"
    assert s.renew_session("A", one, 5.0) == 15.0
    # Closing the link releases the session; unsettled messages come back uncounted
    # (Service Bus counts a session's messages only when the session lock runs out).
    s.release_session(sa, one, 6.0)
    again = s.accept_session("A", two, 6.0)
    m = s.lock_next(two, 6.0, again)
    assert (m.message_id, m.delivery_count) == ("a1", 0)
    assert s.session_state("A", two, 6.0) == b"st"


def test_session_lock_expiry_is_reported(broker: Broker) -> None:
    s = broker.receiver_queue("s")
    broker.send("s", [env("a1", session_id="A")], 0.0)
    owner = object()
    session = s.accept_session("A", owner, 0.0)
    m = s.lock_next(owner, 0.0, session)
    s.tick(11.0)
    assert broker.take_lost_sessions() == [(s, "A", owner)]
    with pytest.raises(SessionLockLost):
        s.settle(m.lock_token, Outcome.COMPLETE, 11.0)
    other = object()
    m2 = s.lock_next(other, 11.0, s.accept_session("A", other, 11.0))
    assert m2.delivery_count == 1


def test_topic_rules_and_subscription_without_session_id(broker: Broker) -> None:
    broker.send(
        "t",
        [
            env("red", user={"color": "red"}),
            env("blue", user={"color": "blue"}),
            env("corr", subject="x", user={"n": 1}),
            env("sess", session_id="S"),
        ],
        0.0,
    )

    def ids(path: str) -> list[str | None]:
        return [m.message_id for m in broker.receiver_queue(path).messages.values()]

    assert ids("t/subscriptions/all") == ["red", "blue", "corr", "sess"]
    assert ids("t/subscriptions/red") == ["red"]
    assert ids("t/subscriptions/corr") == ["corr"]
    # The session-enabled subscription cannot serve messages without a session id.
    assert ids("t/subscriptions/sess") == ["sess"]
    assert [
        (m.message_id, m.dead_letter_reason)
        for m in broker.receiver_queue("t/subscriptions/sess/$deadletterqueue").messages.values()
    ] == [
        ("red", "SessionIdIsMissing"),
        ("blue", "SessionIdIsMissing"),
        ("corr", "SessionIdIsMissing"),
    ]
    seqs = {m.seq for m in broker.receiver_queue("t/subscriptions/all").messages.values()}
    assert seqs == {1, 2, 3, 4}  # subscriptions share the topic's numbering


def test_forwarding(broker: Broker) -> None:
    broker.send("fwd", [env("a")], 0.0)
    assert not broker.receiver_queue("fwd").messages
    target = broker.receiver_queue("target")
    assert [m.message_id for m in target.messages.values()] == ["a"]
    broker.send("dlfwd", [env("b")], 0.0)
    q = broker.receiver_queue("dlfwd")
    m = q.lock_next(OWNER, 0.0)
    q.settle(m.lock_token, Outcome.ABANDON, 0.0)
    forwarded = next(m for m in target.messages.values() if m.message_id == "b")
    assert (forwarded.dead_letter_reason, forwarded.dead_letter_source) == (
        "MaxDeliveryCountExceeded",
        "dlfwd",
    )


def test_duplicate_detection(broker: Broker) -> None:
    assert broker.send("dedup", [env("a"), env("a"), env("b"), env(None), env(None)], 0.0) == [
        1,
        None,
        2,
        3,
        4,
    ]
    assert broker.send("dedup", [env("a")], 29.0) == [None]
    assert broker.send("dedup", [env("a")], 31.0) == [5]
    detector = DuplicateDetector(10)
    assert [detector.is_duplicate(k, t) for k, t in [("x", 0), ("x", 5), ("x", 10), ("x", 11)]] == [
        False,
        True,
        False,
        True,
    ]


def test_peek_ordering_and_sessions(broker: Broker) -> None:
    q = broker.receiver_queue("q")
    broker.send("q", [env(str(i)) for i in range(10)], 0.0)
    assert [m.seq for m in q.peek(4, 3)] == [4, 5, 6]
    locked = q.lock_next(OWNER, 0.0)
    q.settle(locked.lock_token, Outcome.COMPLETE, 0.0)
    assert [m.seq for m in q.peek(1, 2)] == [2, 3]
    s = broker.receiver_queue("s")
    broker.send("s", [env("x", session_id="X"), env("y", session_id="Y")], 0.0)
    assert [m.message_id for m in s.peek(1, 10, "Y")] == ["y"]


def test_addressing_errors(broker: Broker) -> None:
    transfer = broker.receiver_queue("q/$transfer/$deadletterqueue")
    assert transfer.is_dead_letter and not transfer.messages
    with pytest.raises(EntityNotFound, match="'nope' could not be found"):
        broker.receiver_queue("nope")
    with pytest.raises(NotAllowed, match="is a topic"):
        broker.receiver_queue("t")
    with pytest.raises(NotAllowed, match="Cannot send to"):
        broker.check_send_target("t/subscriptions/all")
    auto = Broker(parse_config(CONFIG, "test"), auto_create=True)
    assert auto.receiver_queue("fresh").name == "fresh"
    with pytest.raises(EntityNotFound):
        auto.receiver_queue("t/subscriptions/unknown")


def test_large_queue_stays_fast(broker: Broker) -> None:
    """Heaps and indexes, not scans: 50k messages through lock and complete quickly."""
    q = broker.receiver_queue("target")
    count = 50_000
    started = time.perf_counter()
    broker.send("target", [env(None) for _ in range(count)], 0.0)
    tokens: list[uuid.UUID] = []
    for _ in range(count):
        m = q.lock_next(OWNER, 1.0)
        tokens.append(m.lock_token)
    for token in reversed(tokens):
        q.settle(token, Outcome.COMPLETE, 2.0)
    elapsed = time.perf_counter() - started
    assert not q.messages
    assert elapsed < 5.0, f"{count} messages took {elapsed:.1f}s"
