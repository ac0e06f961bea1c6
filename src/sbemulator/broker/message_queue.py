"""A queue, a subscription or a dead-letter queue: the peek-lock state machine.

Everything here runs on one thread (the AMQP reactor) and takes the current time as an
argument, so it is tested without a network or a real clock. Heaps keep every per-message
step O(log n): available messages by sequence number, lock expiry, scheduled activation
and TTL expiry. Heap entries go stale when a message changes state; they are checked and
skipped when they reach the top instead of being searched for and removed.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import uuid
from typing import Protocol

from ..config.model import EntityProperties
from ..errors import MessageLockLost, MessageNotFound, NotAllowed, SessionLockLost
from .message import MessageState, StoredMessage
from .persistence import Journal
from .sessions import Session, SessionLocking, SessionTable

TTL_EXPIRED = "TTLExpiredException"
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
SESSION_ID_MISSING = "SessionIdIsMissing"


class Outcome(enum.Enum):
    COMPLETE = "complete"
    ABANDON = "abandon"  # a failed attempt: the delivery count goes up
    RELEASE = "release"  # never processed (e.g. arrived after the receive call ended)
    DEFER = "defer"
    DEAD_LETTER = "dead-letter"


class QueueHooks(Protocol):
    """What a queue needs from the broker around it."""

    journal: Journal

    def ready(self, queue: MessageQueue) -> None:
        """Messages became available in `queue` (receivers may be waiting)."""

    def forward_dead_letter(self, queue: MessageQueue, msg: StoredMessage) -> None:
        """`msg` was dead-lettered in a queue with ForwardDeadLetteredMessagesTo."""

    def session_lost(self, queue: MessageQueue, session_id: str, owner: object) -> None:
        """The lock `owner` held on a session ran out."""


class MessageQueue(SessionLocking):
    """Messages that receivers take: a queue, a subscription, or the dead-letter queue of
    one of them (`dead_letter_queue` is None for the latter)."""

    def __init__(
        self,
        path: str,
        name: str,
        props: EntityProperties,
        hooks: QueueHooks,
        *,
        dead_letter: bool = False,
    ) -> None:
        self.path = path  # lower-case key, e.g. "orders" or "t/subscriptions/s/$deadletterqueue"
        self.name = name
        self.props = props
        self.is_dead_letter = dead_letter
        self._hooks = hooks
        self.messages: dict[int, StoredMessage] = {}
        self._order: list[int] = []  # sequence numbers for peek, sorted, with stale entries
        self._ready: list[int] = []
        self.sessions = SessionTable() if props.requires_session and not dead_letter else None
        self._locks: dict[uuid.UUID, StoredMessage] = {}
        self._lock_heap: list[tuple[float, int, uuid.UUID]] = []
        self._scheduled: list[tuple[float, int]] = []
        self._expiry: list[tuple[float, int]] = []
        self.next_seq = 1
        self.stored_bytes = 0  # sizes of the messages held here, for the entity size quota
        self.dead_letter_queue: MessageQueue | None = None
        if not dead_letter:
            self.dead_letter_queue = MessageQueue(
                f"{path}/$deadletterqueue",
                f"{name}/$DeadLetterQueue",
                EntityProperties(lock_duration=props.lock_duration),
                hooks,
                dead_letter=True,
            )

    def __repr__(self) -> str:
        return f"<MessageQueue {self.name} messages={len(self.messages)}>"

    @property
    def requires_session(self) -> bool:
        return self.sessions is not None

    @property
    def size(self) -> int:
        """Bytes held by the entity: its messages and its dead-letter queue's."""
        dlq = self.dead_letter_queue
        return self.stored_bytes + (dlq.stored_bytes if dlq is not None else 0)

    # -- storing -------------------------------------------------------------------
    def allocate_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def add(self, msg: StoredMessage, now: float, *, journal: bool = True) -> None:
        """Store `msg` (its sequence number already set): available, or scheduled.
        A message without a session id in a session-enabled entity is dead-lettered,
        since no session receiver could ever take it."""
        if self.sessions is not None and msg.session_id is None:
            msg.dead_letter_reason = SESSION_ID_MISSING
            msg.dead_letter_description = (
                "A session-enabled entity received a message without a session id."
            )
            assert self.dead_letter_queue is not None
            msg.expires_at = None
            self.dead_letter_queue.add(msg, now, journal=journal)
            return
        self.messages[msg.seq] = msg
        self.stored_bytes += msg.envelope.size
        if not self._order or msg.seq > self._order[-1]:
            self._order.append(msg.seq)
        else:
            bisect.insort(self._order, msg.seq)
        self.next_seq = max(self.next_seq, msg.seq + 1)
        if self.sessions is not None and msg.session_id is not None:
            self.sessions.get(msg.session_id).messages += 1
        if journal:
            self._hooks.journal.inserted(self.path, msg)
        if msg.state == MessageState.SCHEDULED:
            assert msg.scheduled_at is not None
            heapq.heappush(self._scheduled, (msg.scheduled_at, msg.seq))
        elif msg.state == MessageState.ACTIVE:
            self._make_available(msg, now)

    def _make_available(self, msg: StoredMessage, now: float) -> None:
        if msg.expires_at is not None:
            heapq.heappush(self._expiry, (msg.expires_at, msg.seq))
        if self.sessions is not None and msg.session_id is not None:
            session = self.sessions.get(msg.session_id)
            heapq.heappush(session.lane, msg.seq)
            if session.free(now):
                self.sessions.mark_ready(session)
        else:
            heapq.heappush(self._ready, msg.seq)
        self._hooks.ready(self)

    def _remove(self, msg: StoredMessage) -> None:
        del self.messages[msg.seq]
        self.stored_bytes -= msg.envelope.size
        if msg.lock_token is not None:
            self._unlock(msg)
        if self.sessions is not None and msg.session_id is not None:
            session = self.sessions.find(msg.session_id)
            if session is not None:
                session.messages -= 1
                self.sessions.discard_if_unused(session)
        if len(self._order) > 2 * len(self.messages) + 1024:
            self._order = [s for s in self._order if s in self.messages]
        self._hooks.journal.removed(self.path, msg.seq)

    # -- receiving -----------------------------------------------------------------
    def _pop_available(self, lane: list[int], now: float) -> StoredMessage | None:
        while lane:
            msg = self.messages.get(heapq.heappop(lane))
            if msg is None or msg.state != MessageState.ACTIVE or msg.lock_token is not None:
                continue  # stale entry
            if msg.expires_at is not None and msg.expires_at <= now:
                self._expire(msg, now)
                continue
            return msg
        return None

    def _active_session_ids(self) -> set[str | None]:
        return {m.session_id for m in self.messages.values() if m.state == MessageState.ACTIVE}

    def has_available(self, session: Session | None = None) -> bool:
        lane = self._ready if session is None else session.lane
        while lane:
            msg = self.messages.get(lane[0])
            if msg is not None and msg.state == MessageState.ACTIVE and msg.lock_token is None:
                return True
            heapq.heappop(lane)
        return False

    def lock_next(
        self, owner: object, now: float, session: Session | None = None
    ) -> StoredMessage | None:
        """Peek-lock the next available message (of `session`, for session entities)."""
        msg = self._pop_available(self._ready if session is None else session.lane, now)
        if msg is not None:
            self._lock(msg, owner, now, session)
        return msg

    def take_next(self, now: float, session: Session | None = None) -> StoredMessage | None:
        """Receive-and-delete the next available message."""
        msg = self._pop_available(self._ready if session is None else session.lane, now)
        if msg is not None:
            self._remove(msg)
        return msg

    def _lock(self, msg: StoredMessage, owner: object, now: float, session: Session | None) -> None:
        token = uuid.uuid4()
        msg.lock_token, msg.lock_owner = token, owner
        self._locks[token] = msg
        # On disk the attempt counts from the start: should the emulator die while the
        # message is locked, the lock is lost, and a lost lock counts (Service Bus).
        self._hooks.journal.attempted(self.path, msg.seq, msg.delivery_count + 1)
        if session is not None:
            # Session messages are locked by the session lock, not one of their own.
            msg.locked_until = session.locked_until
        else:
            msg.locked_until = now + self.props.lock_duration
            heapq.heappush(self._lock_heap, (msg.locked_until, msg.seq, token))

    def _unlock(self, msg: StoredMessage) -> None:
        if msg.lock_token is not None:
            self._locks.pop(msg.lock_token, None)
        msg.lock_token, msg.lock_owner, msg.locked_until = None, None, 0.0

    # -- settling ------------------------------------------------------------------
    def locked_message(
        self, token: uuid.UUID, now: float, owner: object | None = None
    ) -> StoredMessage:
        """The message locked under `token`.

        Raises:
            MessageLockLost: unknown token, or its lock expired.
            SessionLockLost: (session entities) the session lock is no longer held.
        """
        msg = self._locks.get(token)
        if self.sessions is not None:
            session = self.sessions.find(msg.session_id or "") if msg is not None else None
            if (
                msg is None
                or session is None
                or not session.held_by(msg.lock_owner, now)
                or (owner is not None and owner is not msg.lock_owner)
            ):
                raise SessionLockLost(
                    f"The session lock was lost for lock token {token}; accept the session again."
                )
            return msg
        if msg is None:
            raise MessageLockLost(
                f"The lock {token} is invalid: it expired, or the message was "
                "already settled or received by another receiver."
            )
        if msg.locked_until <= now:
            self._lock_expired(msg, now)
            raise MessageLockLost(f"The lock {token} expired.")
        return msg

    def settle(
        self,
        token: uuid.UUID,
        outcome: Outcome,
        now: float,
        *,
        owner: object | None = None,
        reason: str | None = None,
        description: str | None = None,
    ) -> None:
        """Apply a receiver's verdict to the message locked under `token`.

        Raises:
            MessageLockLost, SessionLockLost: the lock is gone (see `locked_message`).
            NotAllowed: dead-lettering a message of a dead-letter queue.
        """
        msg = self.locked_message(token, now, owner)
        if outcome is Outcome.DEAD_LETTER and self.is_dead_letter:
            raise NotAllowed("Messages in a dead-letter queue cannot be dead-lettered again.")
        self._unlock(msg)
        if outcome is Outcome.COMPLETE:
            self._remove(msg)
        elif outcome is Outcome.ABANDON:
            self._return(msg, now, failed=True)
        elif outcome is Outcome.RELEASE:
            self._return(msg, now, failed=False)
        elif outcome is Outcome.DEFER:
            msg.state = MessageState.DEFERRED
            self._hooks.journal.updated(self.path, msg)
        else:
            self.dead_letter(msg, reason, description, now)

    def renew_lock(self, token: uuid.UUID, now: float) -> float:
        msg = self.locked_message(token, now)
        if self.sessions is not None:
            raise NotAllowed(
                "Session messages are locked by their session: renew the session lock instead."
            )
        msg.locked_until = now + self.props.lock_duration
        heapq.heappush(self._lock_heap, (msg.locked_until, msg.seq, token))
        return msg.locked_until

    def _return(self, msg: StoredMessage, now: float, *, failed: bool) -> None:
        """After a delivery that did not complete: count it if it failed, dead-letter it
        past MaxDeliveryCount, otherwise make it available again (deferred messages stay
        deferred)."""
        if failed:
            msg.delivery_count += 1
            if not self.is_dead_letter and msg.delivery_count >= self.props.max_delivery_count:
                self.dead_letter(
                    msg,
                    MAX_DELIVERY_COUNT_EXCEEDED,
                    f"Message could not be consumed after "
                    f"{self.props.max_delivery_count} delivery attempts.",
                    now,
                )
                return
        # Counted or not, the journal gets the count back (it counted the attempt).
        self._hooks.journal.updated(self.path, msg)
        if msg.state != MessageState.ACTIVE:
            return
        if msg.expires_at is not None and msg.expires_at <= now:
            self._expire(msg, now)
            return
        self._make_available(msg, now)

    def _lock_expired(self, msg: StoredMessage, now: float, *, failed: bool = True) -> None:
        """The lock is gone without a settlement; `failed` says whether the attempt counts
        (it does when a lock runs out, not when a session receiver closes)."""
        self._unlock(msg)
        self._return(msg, now, failed=failed)

    def restored(self, msg: StoredMessage, now: float) -> None:
        """After `add` of a message read back from the journal: one that used up its
        deliveries (its last attempt ended with the emulator) is dead-lettered."""
        if (
            not self.is_dead_letter
            and msg.state == MessageState.ACTIVE
            and msg.delivery_count >= self.props.max_delivery_count
            and self.messages.get(msg.seq) is msg
        ):
            self.dead_letter(
                msg,
                MAX_DELIVERY_COUNT_EXCEEDED,
                f"Message could not be consumed after "
                f"{self.props.max_delivery_count} delivery attempts.",
                now,
            )

    def dead_letter(
        self, msg: StoredMessage, reason: str | None, description: str | None, now: float
    ) -> None:
        """Move `msg` to the dead-letter queue (or where ForwardDeadLetteredMessagesTo says),
        keeping its sequence number, enqueued time and delivery count."""
        self._remove(msg)
        moved = StoredMessage(
            msg.seq,
            msg.envelope,
            msg.enqueued_at,
            None,
            delivery_count=msg.delivery_count,
            dead_letter_reason=reason,
            dead_letter_description=description,
        )
        if self.props.forward_dead_lettered_to:
            self._hooks.forward_dead_letter(self, moved)
        else:
            assert self.dead_letter_queue is not None
            self.dead_letter_queue.add(moved, now)

    def _expire(self, msg: StoredMessage, now: float) -> None:
        if self.props.dead_lettering_on_expiration and not self.is_dead_letter:
            self.dead_letter(msg, TTL_EXPIRED, "The message expired and was dead lettered.", now)
        else:
            self._remove(msg)

    # -- scheduled and deferred ----------------------------------------------------
    def cancel_scheduled(self, seq: int) -> None:
        msg = self.messages.get(seq)
        if msg is None or msg.state != MessageState.SCHEDULED:
            raise MessageNotFound(
                f"No scheduled message with sequence number {seq} in {self.name}."
            )
        self._remove(msg)

    def receive_deferred(
        self,
        seqs: list[int],
        owner: object,
        now: float,
        *,
        peek_lock: bool,
        session: Session | None = None,
    ) -> list[StoredMessage]:
        """Take deferred messages by sequence number, locked or (receive-and-delete) removed.

        Raises:
            MessageNotFound: one of them is not a deferred message here (or of `session`).
        """
        found = []
        for seq in seqs:
            msg = self.messages.get(seq)
            if (
                msg is None
                or msg.state != MessageState.DEFERRED
                or (session is not None and msg.session_id != session.id)
                or (msg.lock_token is not None and msg.locked_until > now)
            ):
                raise MessageNotFound(
                    f"No deferred message with sequence number {seq} in {self.name}."
                )
            found.append(msg)
        for msg in found:
            if msg.lock_token is not None:
                self._unlock(msg)
            if peek_lock:
                self._lock(msg, owner, now, session)
            else:
                self._remove(msg)
        return found

    def peek(self, from_seq: int, count: int, session_id: str | None = None) -> list[StoredMessage]:
        """Up to `count` messages from sequence number `from_seq` on, in any state."""
        out: list[StoredMessage] = []
        order = self._order
        i = bisect.bisect_left(order, from_seq)
        while i < len(order) and len(out) < count:
            msg = self.messages.get(order[i])
            i += 1
            if msg is not None and (session_id is None or msg.session_id == session_id):
                out.append(msg)
        return out

    # -- time ----------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Expire locks, activate scheduled messages, expire messages past their TTL."""
        heap = self._lock_heap
        while heap and heap[0][0] <= now:
            until, _, token = heapq.heappop(heap)
            msg = self._locks.get(token)
            if msg is not None and msg.locked_until == until:
                self._lock_expired(msg, now)
        while self._scheduled and self._scheduled[0][0] <= now:
            at, seq = heapq.heappop(self._scheduled)
            msg = self.messages.get(seq)
            if msg is not None and msg.state == MessageState.SCHEDULED and msg.scheduled_at == at:
                msg.state, msg.enqueued_at = MessageState.ACTIVE, at
                self._hooks.journal.updated(self.path, msg)
                self._make_available(msg, now)
        while self._expiry and self._expiry[0][0] <= now:
            at, seq = heapq.heappop(self._expiry)
            msg = self.messages.get(seq)
            if (
                msg is not None
                and msg.expires_at == at
                and msg.state == MessageState.ACTIVE
                and msg.lock_token is None
            ):
                self._expire(msg, now)
        if self.sessions is not None:
            for session in self.sessions.expired(now):
                owner = session.owner
                self._drop_session_lock(session, now)
                self._hooks.session_lost(self, session.id, owner)
        if self.dead_letter_queue is not None:
            self.dead_letter_queue.tick(now)
