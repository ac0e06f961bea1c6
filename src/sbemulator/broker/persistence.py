"""Keeping messages across restarts (`--data-dir`).

The broker reports every durable change to a `Journal`; `NullJournal` (the default)
forgets them. `SqliteJournal` writes them to `<data-dir>/sbemulator.db` with the
standard library's sqlite3, chosen over an append-only log because messages are deleted
in any order (complete, dead-letter, expiry): a log would need compaction, and sqlite
gives atomic commits and crash safety for free. Changes are grouped: the server calls
`commit()` once per batch of AMQP events, before any reply leaves the process, so an
acknowledged send is on disk (in sqlite's WAL) when the sender learns of it.

Locks are not kept, but every peek-locked delivery is counted on disk as it starts
(`attempted`): a message that was locked when the emulator died comes back with its
delivery count raised, as a lock lost to a broker failure is a lost lock in Service Bus,
so a message that keeps crashing its consumer still reaches MaxDeliveryCount.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .message import Envelope, MessageState, StoredMessage


class Journal(Protocol):
    def inserted(self, path: str, msg: StoredMessage) -> None: ...
    def updated(self, path: str, msg: StoredMessage) -> None: ...
    def attempted(self, path: str, seq: int, delivery_count: int) -> None: ...
    def removed(self, path: str, seq: int) -> None: ...
    def session_state(
        self, path: str, session_id: str, state: bytes | None, updated_at: float
    ) -> None: ...
    def sequence(self, path: str, next_seq: int) -> None: ...
    def entity_changed(self, change: str) -> None: ...
    def dropped(self, path: str) -> None: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class NullJournal:
    """In-memory mode: nothing is kept."""

    def inserted(self, path: str, msg: StoredMessage) -> None:
        pass

    def updated(self, path: str, msg: StoredMessage) -> None:
        pass

    def attempted(self, path: str, seq: int, delivery_count: int) -> None:
        pass

    def removed(self, path: str, seq: int) -> None:
        pass

    def session_state(
        self, path: str, session_id: str, state: bytes | None, updated_at: float
    ) -> None:
        pass

    def sequence(self, path: str, next_seq: int) -> None:
        pass

    def entity_changed(self, change: str) -> None:
        pass

    def dropped(self, path: str) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class StoredRow:
    path: str
    seq: int
    raw: bytes
    enqueued_at: float
    expires_at: float | None
    state: MessageState
    scheduled_at: float | None
    delivery_count: int
    dead_letter_reason: str | None
    dead_letter_description: str | None
    dead_letter_source: str | None


@dataclass
class Snapshot:
    """Everything a journal kept, for the broker to restore."""

    messages: list[StoredRow] = field(default_factory=list)
    session_states: list[tuple[str, str, bytes, float]] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    entity_changes: list[str] = field(default_factory=list)  # admin API changes, in order


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    path TEXT NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL,
    enqueued_at REAL NOT NULL, expires_at REAL, state INTEGER NOT NULL, scheduled_at REAL,
    delivery_count INTEGER NOT NULL, dl_reason TEXT, dl_description TEXT, dl_source TEXT,
    PRIMARY KEY (path, seq));
CREATE TABLE IF NOT EXISTS session_state (
    path TEXT NOT NULL, session_id TEXT NOT NULL, state BLOB NOT NULL, updated_at REAL,
    PRIMARY KEY (path, session_id));
CREATE TABLE IF NOT EXISTS sequences (path TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entity_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT NOT NULL);
"""
SCHEMA_VERSION = "2"
# Columns added since version 1, for files written by an older emulator.
_MIGRATIONS = (("session_state", "updated_at", "REAL"),)


class SqliteJournal:
    """Messages, session state and sequence counters in one sqlite file."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "sbemulator.db"
        # One thread (the reactor) uses it; autocommit off, commits are explicit.
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: each commit survives a crash of this process; only a power loss can
        # lose the last commits, which is fine for a development emulator.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for table, column, kind in _MIGRATIONS:
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        self._pending_sequences: dict[str, int] = {}
        self._attempts: dict[tuple[str, int], int] = {}
        self._in_tx = False

    def _begin(self) -> sqlite3.Connection:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        return self._db

    def inserted(self, path: str, msg: StoredMessage) -> None:
        self._attempts.pop((path, msg.seq), None)
        self._begin().execute(
            "INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                path,
                msg.seq,
                msg.envelope.raw,
                msg.enqueued_at,
                msg.expires_at,
                int(msg.state),
                msg.scheduled_at,
                msg.delivery_count,
                msg.dead_letter_reason,
                msg.dead_letter_description,
                msg.dead_letter_source,
            ),
        )

    def updated(self, path: str, msg: StoredMessage) -> None:
        self._attempts.pop((path, msg.seq), None)
        self._begin().execute(
            "UPDATE messages SET enqueued_at=?, expires_at=?, state=?, scheduled_at=?, "
            "delivery_count=? WHERE path=? AND seq=?",
            (
                msg.enqueued_at,
                msg.expires_at,
                int(msg.state),
                msg.scheduled_at,
                msg.delivery_count,
                path,
                msg.seq,
            ),
        )

    def attempted(self, path: str, seq: int, delivery_count: int) -> None:
        """A delivery of the message started: the count it has if this attempt fails.
        Written at the commit, all at once, unless the message changed again before it
        (settled, released: then its own write says what is true)."""
        self._attempts[(path, seq)] = delivery_count
        self._begin()

    def removed(self, path: str, seq: int) -> None:
        self._attempts.pop((path, seq), None)
        self._begin().execute("DELETE FROM messages WHERE path=? AND seq=?", (path, seq))

    def session_state(
        self, path: str, session_id: str, state: bytes | None, updated_at: float
    ) -> None:
        if state is None:
            self._begin().execute(
                "DELETE FROM session_state WHERE path=? AND session_id=?", (path, session_id)
            )
        else:
            self._begin().execute(
                "INSERT OR REPLACE INTO session_state VALUES (?,?,?,?)",
                (path, session_id, bytes(state), updated_at),
            )

    def sequence(self, path: str, next_seq: int) -> None:
        # Counters change on every send; only the last value per commit is written.
        self._pending_sequences[path] = next_seq
        self._begin()

    def entity_changed(self, change: str) -> None:
        """An entity created, updated or deleted at run time (JSON, in Config.json's
        shape), replayed in order on the next start."""
        self._begin().execute("INSERT INTO entity_changes (change) VALUES (?)", (change,))

    def dropped(self, path: str) -> None:
        """A deleted entity: its messages, session state and counters (and those of its
        subscriptions and dead-letter queues) go."""
        db = self._begin()
        under = path + "/%"
        for table in ("messages", "session_state", "sequences"):
            db.execute(f"DELETE FROM {table} WHERE path=? OR path LIKE ?", (path, under))
        self._pending_sequences = {
            p: n
            for p, n in self._pending_sequences.items()
            if p != path and not p.startswith(path + "/")
        }

    def commit(self) -> None:
        if not self._in_tx:
            return
        if self._attempts:
            self._db.executemany(
                "UPDATE messages SET delivery_count=? WHERE path=? AND seq=?",
                [(count, path, seq) for (path, seq), count in self._attempts.items()],
            )
            self._attempts.clear()
        if self._pending_sequences:
            self._db.executemany(
                "INSERT OR REPLACE INTO sequences VALUES (?,?)", self._pending_sequences.items()
            )
            self._pending_sequences.clear()
        self._db.execute("COMMIT")
        self._in_tx = False

    def load(self) -> Snapshot:
        snap = Snapshot()
        for row in self._db.execute("SELECT * FROM messages ORDER BY path, seq"):
            snap.messages.append(
                StoredRow(
                    row[0],
                    row[1],
                    bytes(row[2]),
                    row[3],
                    row[4],
                    MessageState(row[5]),
                    row[6],
                    row[7],
                    row[8],
                    row[9],
                    row[10],
                )
            )
        snap.session_states = [
            (p, s, bytes(v), t or 0.0)
            for p, s, v, t in self._db.execute(
                "SELECT path, session_id, state, updated_at FROM session_state"
            )
        ]
        snap.sequences = dict(self._db.execute("SELECT * FROM sequences"))
        snap.entity_changes = [
            c for (c,) in self._db.execute("SELECT change FROM entity_changes ORDER BY id")
        ]
        return snap

    def close(self) -> None:
        self.commit()
        self._db.close()


def restore_message(row: StoredRow, envelope: Envelope) -> StoredMessage:
    return StoredMessage(
        row.seq,
        envelope,
        row.enqueued_at,
        row.expires_at,
        row.state,
        row.scheduled_at,
        row.delivery_count,
        row.dead_letter_reason,
        row.dead_letter_description,
        row.dead_letter_source,
    )


def rows_by_path(snapshot: Snapshot) -> Iterator[tuple[str, list[StoredRow]]]:
    current: list[StoredRow] = []
    for row in snapshot.messages:
        if current and current[0].path != row.path:
            yield current[0].path, current
            current = []
        current.append(row)
    if current:
        yield current[0].path, current
