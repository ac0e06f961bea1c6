"""The sqlite journal: a broker rebuilt from it has the same messages, states, session
state and sequence counters (no AMQP involved)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from proton import Message

from sbemulator.amqp.message_parsing import parse_envelope
from sbemulator.broker.message import MessageState
from sbemulator.broker.message_queue import Outcome
from sbemulator.broker.namespace import Broker
from sbemulator.broker.persistence import SqliteJournal
from sbemulator.config.config_json import parse_config

CONFIG = parse_config(
    {
        "UserConfig": {
            "Namespaces": [
                {
                    "Name": "ns",
                    "Queues": [
                        {"Name": "q"},
                        {"Name": "s", "Properties": {"RequiresSession": True}},
                    ],
                    "Topics": [{"Name": "t", "Subscriptions": [{"Name": "a"}]}],
                }
            ]
        }
    },
    "test",
)
OWNER = object()


def _env(text: str, **kwargs: object):
    return parse_envelope(bytes(Message(body=text, **kwargs).encode()))


def _body(raw: bytes) -> str:
    message = Message()
    message.decode(raw)
    return str(message.body)


def _open(path: Path) -> tuple[Broker, SqliteJournal]:
    journal = SqliteJournal(path)
    broker = Broker(CONFIG, journal=journal)
    broker.restore(journal.load(), parse_envelope, 10.0)
    return broker, journal


def test_broker_state_survives_a_reopen(tmp_path: Path) -> None:
    broker, journal = _open(tmp_path)
    q = broker.receiver_queue("q")
    broker.send("q", [_env(t) for t in ("done", "abandoned", "deferred", "dead", "locked")], 1.0)
    broker.send("t", [_env("later", annotations={"x-opt-scheduled-enqueue-time": 10**12})], 1.0)
    broker.send("s", [_env("in-session", group_id="S")], 1.0)
    done, abandoned, deferred, dead, _locked = (q.lock_next(OWNER, 1.0) for _ in range(5))
    q.settle(done.lock_token, Outcome.COMPLETE, 1.0)
    q.settle(abandoned.lock_token, Outcome.ABANDON, 1.0)
    q.settle(deferred.lock_token, Outcome.DEFER, 1.0)
    q.settle(dead.lock_token, Outcome.DEAD_LETTER, 1.0, reason="R", description="D")
    s = broker.receiver_queue("s")
    s.accept_session("S", OWNER, 1.0)
    s.set_session_state("S", b"state", OWNER, 1.0)
    journal.commit()
    journal.close()

    broker, journal = _open(tmp_path)
    q = broker.receiver_queue("q")
    assert {
        m.seq: (_body(m.envelope.raw), m.state, m.delivery_count) for m in q.messages.values()
    } == {
        2: ("abandoned", MessageState.ACTIVE, 1),
        3: ("deferred", MessageState.DEFERRED, 0),
        5: ("locked", MessageState.ACTIVE, 1),
    }
    # The message locked at shutdown is available again, its lost lock counted (as a
    # lock lost to a broker failure is in Service Bus); the order is kept.
    assert [q.lock_next(OWNER, 11.0).seq for _ in range(2)] == [2, 5]
    (dl,) = broker.receiver_queue("q/$deadletterqueue").messages.values()
    assert (dl.seq, dl.dead_letter_reason, dl.dead_letter_description) == (4, "R", "D")
    assert broker.send("q", [_env("new")], 12.0) == [6]  # numbering continues
    topic = broker.topics["t"]
    assert [m.state for m in topic.scheduled.values()] == [MessageState.SCHEDULED]
    s = broker.receiver_queue("s")
    session = s.accept_session("S", OWNER, 12.0)
    assert s.session_state("S", OWNER, 12.0) == b"state"
    assert (s.session_ids(0.5), s.session_ids(1.0)) == (["S"], [])  # when it was set, kept
    assert s.lock_next(OWNER, 12.0, session).envelope.properties.session_id == "S"
    journal.close()


def test_a_file_of_the_first_schema_is_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "sbemulator.db")
    db.executescript(
        "CREATE TABLE session_state (path TEXT NOT NULL, session_id TEXT NOT NULL, "
        "state BLOB NOT NULL, PRIMARY KEY (path, session_id));"
        "INSERT INTO session_state VALUES ('s', 'S', x'01');"
    )
    db.commit()
    db.close()
    broker, journal = _open(tmp_path)
    s = broker.receiver_queue("s")
    assert s.sessions is not None and s.sessions.sessions["S"].state == b"\x01"
    assert s.session_ids(0.0) == []  # no time was kept: not "updated after" anything
    journal.close()


def test_a_delivery_counts_on_disk_before_it_is_settled(tmp_path: Path) -> None:
    # What a kill -9 leaves: the journal as of the last commit, nothing closed.
    broker, journal = _open(tmp_path)
    q = broker.receiver_queue("q")  # MaxDeliveryCount 10
    broker.send("q", [_env(t) for t in ("in-flight", "released", "deferred", "poison")], 1.0)
    q.messages[4].delivery_count = 9  # a message that crashed its consumer nine times
    journal.updated("q", q.messages[4])
    _in_flight, released, deferred, _poison = (q.lock_next(OWNER, 1.0) for _ in range(4))
    q.settle(released.lock_token, Outcome.RELEASE, 1.0)  # never processed: not counted
    q.settle(deferred.lock_token, Outcome.DEFER, 1.0)
    journal.commit()  # the emulator dies here, with two messages locked

    broker, _ = _open(tmp_path)
    q = broker.receiver_queue("q")
    assert {m.seq: m.delivery_count for m in q.messages.values()} == {1: 1, 2: 0, 3: 0}
    # The tenth attempt ended with the emulator: dead-lettered as a tenth failure would be.
    (dead,) = broker.receiver_queue("q/$deadletterqueue").messages.values()
    assert (dead.seq, dead.delivery_count, dead.dead_letter_reason) == (
        4,
        10,
        "MaxDeliveryCountExceeded",
    )
