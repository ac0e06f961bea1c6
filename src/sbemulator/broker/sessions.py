"""Per-session bookkeeping of a session-enabled queue or subscription: the session's
available messages, its state blob, and its exclusive lock."""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from ..config.model import EntityProperties
from ..errors import NotAllowed, SessionCannotBeLocked, SessionLockLost
from .message import StoredMessage

if TYPE_CHECKING:
    from .message_queue import MessageQueue, QueueHooks


@dataclass(eq=False)
class Session:
    id: str
    # Sequence numbers of available messages, smallest first; may hold stale entries,
    # which the queue skips when it pops them.
    lane: list[int] = field(default_factory=list)
    state: bytes | None = None
    owner: object | None = None
    locked_until: float = 0.0
    messages: int = 0  # messages of this session stored in the queue, in any state
    state_updated_at: float | None = None  # when the state was last set (or cleared)

    def held_by(self, owner: object | None, now: float) -> bool:
        """Locked and not expired; by `owner` unless `owner` is None (any holder)."""
        if self.owner is None or self.locked_until <= now:
            return False
        return owner is None or self.owner is owner

    def free(self, now: float) -> bool:
        return self.owner is None or self.locked_until <= now

    @property
    def disposable(self) -> bool:
        """Nothing left worth keeping: no messages, no state, no lock."""
        return self.messages == 0 and self.state is None and self.owner is None


class SessionTable:
    """All sessions of one entity, plus the order in which free sessions with available
    messages are handed to next-available receivers."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        # Insertion-ordered set of session ids that may be free with messages ready;
        # entries are checked when taken, so stale ones cost nothing.
        self._ready: dict[str, None] = {}
        # (locked_until, session id) for lock expiry; stale entries are skipped.
        self._expiry: list[tuple[float, str]] = []

    def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session(session_id)
        return session

    def find(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def mark_ready(self, session: Session) -> None:
        self._ready[session.id] = None

    def take_ready(self, now: float, has_messages: Callable[[Session], bool]) -> Session | None:
        """The first free session that has available messages, or None."""
        for session_id in list(self._ready):
            del self._ready[session_id]
            session = self.sessions.get(session_id)
            if session is not None and session.free(now) and has_messages(session):
                return session
        return None

    def lock(self, session: Session, owner: object, until: float) -> None:
        session.owner = owner
        session.locked_until = until
        heapq.heappush(self._expiry, (until, session.id))

    def expired(self, now: float) -> list[Session]:
        """Sessions whose lock ran out, each reported once."""
        out = []
        while self._expiry and self._expiry[0][0] <= now:
            until, session_id = heapq.heappop(self._expiry)
            session = self.sessions.get(session_id)
            if session is not None and session.owner is not None and session.locked_until == until:
                out.append(session)
        return out

    def next_deadline(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    def discard_if_unused(self, session: Session) -> None:
        if session.disposable:
            self.sessions.pop(session.id, None)
            self._ready.pop(session.id, None)


class SessionLocking:
    """The session operations of `entities.MessageQueue` (kept here with the session
    bookkeeping they drive)."""

    name: str
    path: str
    props: EntityProperties
    sessions: SessionTable | None
    _locks: dict[uuid.UUID, StoredMessage]
    _hooks: QueueHooks

    def has_available(self, session: Session | None = None) -> bool:
        raise NotImplementedError

    def _lock_expired(self, msg: StoredMessage, now: float, *, failed: bool = True) -> None:
        raise NotImplementedError

    def _as_queue(self) -> MessageQueue:
        return cast("MessageQueue", self)

    # -- sessions ------------------------------------------------------------------
    def _session_table(self) -> SessionTable:
        if self.sessions is None:
            raise NotAllowed(
                f"{self.name} does not require sessions; session operations are not allowed on it."
            )
        return self.sessions

    def accept_session(self, session_id: str, owner: object, now: float) -> Session:
        """Lock `session_id` for `owner` (creating the session if it has no messages yet).

        Raises:
            SessionCannotBeLocked: another receiver holds it.
        """
        table = self._session_table()
        session = table.get(session_id)
        if not session.free(now) and session.owner is not owner:
            raise SessionCannotBeLocked(
                f"The requested session '{session_id}' cannot be "
                "accepted: it is locked by another receiver."
            )
        if session.owner is not None and session.owner is not owner:
            previous = session.owner
            self._drop_session_lock(session, now)
            self._hooks.session_lost(self._as_queue(), session_id, previous)
        table.lock(session, owner, now + self.props.lock_duration)
        return session

    def accept_next_session(self, owner: object, now: float) -> Session | None:
        """Lock the first free session with available messages, or None."""
        session = self._session_table().take_ready(now, self.has_available)
        return None if session is None else self.accept_session(session.id, owner, now)

    def release_session(self, session: Session, owner: object, now: float) -> None:
        """`owner` closed its link: the session is free again, and messages it had not
        settled go back uncounted, as Service Bus documents for a closed session (only
        a session lock that runs out counts)."""
        if session.owner is owner:
            self._drop_session_lock(session, now, failed=False)

    def _drop_session_lock(self, session: Session, now: float, *, failed: bool = True) -> None:
        session.owner, session.locked_until = None, 0.0
        for msg in [m for m in self._locks.values() if m.session_id == session.id]:
            self._lock_expired(msg, now, failed=failed)
        assert self.sessions is not None
        if self.has_available(session):
            self.sessions.mark_ready(session)
            self._hooks.ready(self._as_queue())
        self.sessions.discard_if_unused(session)

    def held_session(self, session_id: str, owner: object | None, now: float) -> Session:
        session = self._session_table().find(session_id)
        if session is None or not session.held_by(owner, now):
            raise SessionLockLost(
                f"The session lock on '{session_id}' is not held (it expired "
                "or was never accepted by this receiver)."
            )
        return session

    def renew_session(self, session_id: str, owner: object | None, now: float) -> float:
        session = self.held_session(session_id, owner, now)
        assert self.sessions is not None
        self.sessions.lock(session, session.owner, now + self.props.lock_duration)
        return session.locked_until

    def session_state(self, session_id: str, owner: object | None, now: float) -> bytes | None:
        return self.held_session(session_id, owner, now).state

    def set_session_state(
        self, session_id: str, state: bytes | None, owner: object | None, now: float
    ) -> None:
        session = self.held_session(session_id, owner, now)
        session.state = state
        session.state_updated_at = now
        self._hooks.journal.session_state(self.path, session_id, state, now)

    def restore_session_state(self, session_id: str, state: bytes, updated_at: float) -> None:
        session = self._session_table().get(session_id)
        session.state, session.state_updated_at = state, updated_at

    def session_ids(self, updated_after: float | None = None) -> list[str]:
        """The sessions get-message-sessions lists, in the order they were first seen.

        Without `updated_after`: sessions with active messages (available or locked) or
        with state. With it: sessions whose state was set or cleared after that time.
        (The SDK's list_sessions documents both; Service Bus tells them apart by a
        last-updated-time of DateTime.MaxValue.)
        """
        table = self._session_table()
        if updated_after is not None:
            return [
                s.id
                for s in table.sessions.values()
                if s.state_updated_at is not None and s.state_updated_at > updated_after
            ]
        active = self._active_session_ids()
        return [s.id for s in table.sessions.values() if s.id in active or s.state is not None]

    def _active_session_ids(self) -> set[str | None]:
        raise NotImplementedError
