"""The namespace: entities from the config, and how a sent message reaches them
(duplicate detection, topics fanning out through rules, ForwardTo, scheduling).

Independent of AMQP: the server calls `send`, `schedule`, `tick` and the queue methods,
then drains `take_ready()` / `take_lost_sessions()` to wake its links.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config.model import (
    EmulatorConfig,
    EntityProperties,
    QueueConfig,
    SubscriptionConfig,
    TopicConfig,
)
from ..errors import EntityNotFound, MessageNotFound, NotAllowed, QuotaExceeded
from .message import Envelope, MessageState, StoredMessage
from .message_queue import MessageQueue
from .persistence import Journal, NullJournal, Snapshot, restore_message, rows_by_path
from .rules import Predicate, subscription_predicate

log = logging.getLogger(__name__)

# A chain of ForwardTo hops longer than this means a bug: config validation rejects cycles.
MAX_FORWARD_HOPS = 16


class DuplicateDetector:
    """Message ids seen within the window; O(1) per message."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()

    def is_duplicate(self, message_id: str, now: float) -> bool:
        order, seen = self._order, self._seen
        while order and order[0][0] + self.window <= now:
            at, old = order.popleft()
            if seen.get(old) == at:
                del seen[old]
        if message_id in seen:
            return True
        seen[message_id] = now
        order.append((now, message_id))
        return False


@dataclass(eq=False)
class Subscription:
    queue: MessageQueue
    predicate: Predicate


@dataclass(eq=False)
class Topic:
    path: str
    name: str
    config: TopicConfig
    subscriptions: list[Subscription] = field(default_factory=list)
    next_seq: int = 1
    # Scheduled messages wait at the topic and fan out when due, as in Service Bus.
    scheduled: dict[int, StoredMessage] = field(default_factory=dict)
    heap: list[tuple[float, int]] = field(default_factory=list)


@dataclass(frozen=True)
class DeadLetterInfo:
    reason: str | None
    description: str | None
    source: str


def _min_ttl(*ttls: float | None) -> float | None:
    known = [t for t in ttls if t is not None and 0 < t < math.inf]
    return min(known) if known else None


class Broker:
    """All entities of the namespace. Implements `QueueHooks` for its queues."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        journal: Journal | None = None,
        auto_create: bool = False,
        now: float = 0.0,
    ) -> None:
        self.config = config
        self.quotas = config.quotas
        self.journal: Journal = journal or NullJournal()
        self.auto_create = auto_create
        self.receivable: dict[str, MessageQueue] = {}  # queues, subscriptions and their DLQs
        self.queues: dict[str, MessageQueue] = {}  # queues only (send targets)
        self.topics: dict[str, Topic] = {}
        self.dedup: dict[str, DuplicateDetector] = {}
        self._ready: set[MessageQueue] = set()
        self._lost: list[tuple[MessageQueue, str, object]] = []
        self._removed: list[MessageQueue] = []
        for q in config.queues:
            self.add_queue(q)
        for t in config.topics:
            self.add_topic(t)
        # Imported here: the catalog changes these entities, so it imports this module.
        from .catalog import Catalog

        self.catalog = Catalog(self, now)

    # -- building ------------------------------------------------------------------
    def _register(self, queue: MessageQueue) -> None:
        self.receivable[queue.path] = queue
        assert queue.dead_letter_queue is not None
        self.receivable[queue.dead_letter_queue.path] = queue.dead_letter_queue
        # The transfer dead-letter queue holds messages whose forwarding failed. Forward
        # targets are checked at startup, so here it exists (receivers can attach) and
        # stays empty.
        transfer = MessageQueue(
            f"{queue.path}/$transfer/$deadletterqueue",
            f"{queue.name}/$Transfer/$DeadLetterQueue",
            EntityProperties(lock_duration=queue.props.lock_duration),
            self,
            dead_letter=True,
        )
        self.receivable[transfer.path] = transfer

    def add_queue(self, q: QueueConfig) -> MessageQueue:
        queue = MessageQueue(q.name.lower(), q.name, q.properties, self)
        self.queues[queue.path] = queue
        self._register(queue)
        if q.requires_duplicate_detection:
            self.dedup[queue.path] = DuplicateDetector(q.duplicate_detection_window)
        return queue

    def add_topic(self, t: TopicConfig) -> None:
        topic = Topic(t.name.lower(), t.name, t)
        self.topics[topic.path] = topic
        for s in t.subscriptions:
            self.add_subscription(topic, s)
        if t.requires_duplicate_detection:
            self.dedup[topic.path] = DuplicateDetector(t.duplicate_detection_window)

    def add_subscription(self, topic: Topic, s: SubscriptionConfig) -> None:
        path = f"{topic.path}/subscriptions/{s.name.lower()}"
        queue = MessageQueue(path, f"{topic.name}/Subscriptions/{s.name}", s.properties, self)
        topic.subscriptions.append(Subscription(queue, subscription_predicate(s.rules)))
        self._register(queue)

    def remove_entity(self, path: str) -> None:
        """Forget the queue or topic at `path` with its messages (deleted by the admin
        API); its receivers are detached by the server (`take_removed`)."""
        queue = self.queues.pop(path, None)
        topic = self.topics.pop(path, None)
        self.dedup.pop(path, None)
        if topic is not None:
            for sub in topic.subscriptions:
                self._unregister(sub.queue)
        if queue is not None:
            self._unregister(queue)
        self.journal.dropped(path)

    def remove_subscription(self, topic: Topic, name: str) -> None:
        path = f"{topic.path}/subscriptions/{name.lower()}"
        topic.subscriptions = [s for s in topic.subscriptions if s.queue.path != path]
        self._unregister(self.receivable[path])
        self.journal.dropped(path)

    def _unregister(self, queue: MessageQueue) -> None:
        for path in (
            queue.path,
            f"{queue.path}/$deadletterqueue",
            f"{queue.path}/$transfer/$deadletterqueue",
        ):
            removed = self.receivable.pop(path, None)
            if removed is not None:
                self._removed.append(removed)

    def take_removed(self) -> list[MessageQueue]:
        """Queues deleted since the last call (their receivers must go)."""
        removed, self._removed = self._removed, []
        return removed

    # -- QueueHooks ----------------------------------------------------------------
    def ready(self, queue: MessageQueue) -> None:
        self._ready.add(queue)

    def forward_dead_letter(self, queue: MessageQueue, msg: StoredMessage) -> None:
        target = queue.props.forward_dead_lettered_to
        assert target is not None
        info = DeadLetterInfo(msg.dead_letter_reason, msg.dead_letter_description, queue.name)
        self._route(target.lower(), msg.envelope, self._now, 1, info)

    def session_lost(self, queue: MessageQueue, session_id: str, owner: object) -> None:
        self._lost.append((queue, session_id, owner))

    def take_ready(self) -> set[MessageQueue]:
        ready, self._ready = self._ready, set()
        return ready

    def take_lost_sessions(self) -> list[tuple[MessageQueue, str, object]]:
        lost, self._lost = self._lost, []
        return lost

    # -- addressing ----------------------------------------------------------------
    def receiver_queue(self, path: str) -> MessageQueue:
        """The queue, subscription or DLQ at `path` (lower-case, no leading '/').

        Raises:
            EntityNotFound: no such entity.
            NotAllowed: `path` is a topic.
        """
        queue = self.receivable.get(path)
        if queue is not None:
            return queue
        if path in self.topics:
            raise NotAllowed(
                f"'{self.topics[path].name}' is a topic: receive from one of its "
                "subscriptions ('<topic>/Subscriptions/<name>')."
            )
        return self._auto_created(path)

    def check_send_target(self, path: str) -> None:
        """Raises EntityNotFound/NotAllowed unless messages can be sent to `path`."""
        if path in self.queues or path in self.topics:
            return
        if path in self.receivable:
            raise NotAllowed(
                f"Cannot send to '{self.receivable[path].name}': send to its queue or topic."
            )
        self._auto_created(path)

    def _auto_created(self, path: str) -> MessageQueue:
        if self.auto_create and path and "/" not in path and not path.startswith("$"):
            self.check_entity_quota()
            log.info("auto-creating queue %r", path)
            return self.add_queue(QueueConfig(path))
        raise EntityNotFound(
            f"The messaging entity '{path}' could not be found in namespace "
            f"'{self.config.namespace}' (entities come from "
            f"{self.config.source})."
        )

    def check_entity_quota(self) -> None:
        """Raises QuotaExceeded if the namespace holds as many entities as it may."""
        if len(self.queues) + len(self.topics) >= self.quotas.max_entities:
            raise QuotaExceeded(
                f"The namespace already holds {self.quotas.max_entities} queues and topics, "
                "the emulator's quota (raise it with --max-entities)."
            )

    def entity_size(self, path: str) -> int:
        """Bytes stored in the queue or topic at `path` (a topic: its subscriptions' and
        its scheduled messages)."""
        queue = self.queues.get(path)
        if queue is not None:
            return queue.size
        topic = self.topics[path]
        scheduled = sum(m.envelope.size for m in topic.scheduled.values())
        return scheduled + sum(s.queue.size for s in topic.subscriptions)

    def _check_entity_size(self, path: str, envelopes: list[Envelope]) -> None:
        incoming = sum(e.size for e in envelopes)
        size = self.entity_size(path)
        if size + incoming > self.quotas.max_entity_size:
            raise QuotaExceeded(
                f"The maximum entity size has been reached or exceeded for '{path}': "
                f"{size} bytes stored, {incoming} more sent, the quota is "
                f"{self.quotas.max_entity_size} bytes (raise it with --max-entity-size)."
            )

    # -- sending -------------------------------------------------------------------
    _now = 0.0

    def send(self, path: str, envelopes: list[Envelope], now: float) -> list[int | None]:
        """Enqueue messages sent to a queue or topic; returns the sequence numbers
        (None for a dropped duplicate).

        Raises:
            EntityNotFound, NotAllowed: bad target, or a session entity without session id.
            QuotaExceeded: the entity would outgrow the entity size quota.
        """
        self._now = now
        self.check_send_target(path)
        self._check_entity_size(path, envelopes)
        queue = self.queues.get(path)
        if queue is not None and queue.requires_session:
            for env in envelopes:
                if env.properties.session_id is None:
                    raise NotAllowed(
                        f"'{queue.name}' requires sessions: set a session id on "
                        "every message sent to it."
                    )
        return [self._route(path, env, now, 0, None) for env in envelopes]

    def _route(
        self, path: str, env: Envelope, now: float, hops: int, dead_letter: DeadLetterInfo | None
    ) -> int | None:
        if hops > MAX_FORWARD_HOPS:
            log.error(
                "dropping message %s: more than %d ForwardTo hops",
                env.properties.message_id,
                MAX_FORWARD_HOPS,
            )
            return None
        dedup = self.dedup.get(path)
        mid = env.properties.message_id
        if dedup is not None and mid is not None and dedup.is_duplicate(mid, now):
            log.debug("duplicate message id %r dropped at %s", mid, path)
            return None
        topic = self.topics.get(path)
        if topic is not None:
            return self._to_topic(topic, env, now, hops, dead_letter)
        queue = self.queues[path]
        if queue.props.forward_to:
            return self._route(queue.props.forward_to.lower(), env, now, hops + 1, dead_letter)
        msg = self._new_message(
            queue.allocate_seq(),
            env,
            now,
            _min_ttl(
                env.properties.time_to_live, queue.props.default_ttl, self.quotas.max_message_ttl
            ),
        )
        if dead_letter is not None:
            msg.dead_letter_reason = dead_letter.reason
            msg.dead_letter_description = dead_letter.description
            msg.dead_letter_source = dead_letter.source
        self.journal.sequence(queue.path, queue.next_seq)
        queue.add(msg, now)
        return msg.seq

    @staticmethod
    def _new_message(seq: int, env: Envelope, now: float, ttl: float | None) -> StoredMessage:
        at = env.properties.scheduled_enqueue_time
        if at is not None and at > now:
            return StoredMessage(
                seq, env, now, at + ttl if ttl else None, MessageState.SCHEDULED, at
            )
        return StoredMessage(seq, env, now, now + ttl if ttl else None)

    def _to_topic(
        self, topic: Topic, env: Envelope, now: float, hops: int, dead_letter: DeadLetterInfo | None
    ) -> int:
        seq = topic.next_seq
        topic.next_seq += 1
        self.journal.sequence(topic.path, topic.next_seq)
        at = env.properties.scheduled_enqueue_time
        if at is not None and at > now:
            msg = StoredMessage(seq, env, now, None, MessageState.SCHEDULED, at)
            topic.scheduled[seq] = msg
            heapq.heappush(topic.heap, (at, seq))
            self.journal.inserted(topic.path, msg)
            return seq
        self._fan_out(topic, seq, env, now, hops, dead_letter)
        return seq

    def _fan_out(
        self,
        topic: Topic,
        seq: int,
        env: Envelope,
        now: float,
        hops: int,
        dead_letter: DeadLetterInfo | None,
    ) -> None:
        for sub in topic.subscriptions:
            if not sub.predicate(env.properties):
                continue
            queue = sub.queue
            if queue.props.forward_to:
                self._route(queue.props.forward_to.lower(), env, now, hops + 1, dead_letter)
                continue
            ttl = _min_ttl(
                env.properties.time_to_live,
                topic.config.default_ttl,
                queue.props.default_ttl,
                self.quotas.max_message_ttl,
            )
            msg = StoredMessage(seq, env, now, now + ttl if ttl else None)
            if dead_letter is not None:
                msg.dead_letter_reason = dead_letter.reason
                msg.dead_letter_description = dead_letter.description
                msg.dead_letter_source = dead_letter.source
            queue.add(msg, now)

    def cancel_scheduled(self, path: str, seqs: list[int]) -> None:
        """Raises MessageNotFound if one of `seqs` is not a scheduled message of `path`."""
        topic = self.topics.get(path)
        if topic is None:
            self.check_send_target(path)
            queue = self.queues[path]
            for seq in seqs:
                queue.cancel_scheduled(seq)
            return
        for seq in seqs:
            if topic.scheduled.pop(seq, None) is None:
                raise MessageNotFound(
                    f"No scheduled message with sequence number {seq} in {topic.name}."
                )
            self.journal.removed(topic.path, seq)

    # -- time ----------------------------------------------------------------------
    def tick(self, now: float) -> None:
        self._now = now
        for queue in list(self.queues.values()):
            queue.tick(now)
        for topic in self.topics.values():
            for sub in topic.subscriptions:
                sub.queue.tick(now)
            while topic.heap and topic.heap[0][0] <= now:
                _, seq = heapq.heappop(topic.heap)
                msg = topic.scheduled.pop(seq, None)
                if msg is not None:
                    self.journal.removed(topic.path, seq)
                    self._fan_out(topic, seq, msg.envelope, now, 0, None)

    # -- persistence ---------------------------------------------------------------
    def restore(self, snapshot: Snapshot, parse: Callable[[bytes], Envelope], now: float) -> int:
        """Load what a journal kept; returns the number of messages restored."""
        self._now = now
        self.catalog.replay(snapshot.entity_changes, now)
        count = 0
        for path, rows in rows_by_path(snapshot):
            queue = self.receivable.get(path)
            topic = self.topics.get(path)
            if queue is None and topic is None:
                log.warning(
                    "%d stored message(s) for %r, which is not in the config, are kept "
                    "on disk but not served",
                    len(rows),
                    path,
                )
                continue
            for row in rows:
                msg = restore_message(row, parse(row.raw))
                if topic is not None:
                    topic.scheduled[msg.seq] = msg
                    heapq.heappush(topic.heap, (msg.scheduled_at or now, msg.seq))
                else:
                    assert queue is not None
                    queue.add(msg, now, journal=False)
                    queue.restored(msg, now)
                count += 1
        for path, next_seq in snapshot.sequences.items():
            if path in self.receivable:
                q = self.receivable[path]
                q.next_seq = max(q.next_seq, next_seq)
            elif path in self.topics:
                t = self.topics[path]
                t.next_seq = max(t.next_seq, next_seq)
        for path, session_id, state, updated_at in snapshot.session_states:
            queue = self.receivable.get(path)
            if queue is not None and queue.requires_session:
                queue.restore_session_state(session_id, state, updated_at)
        return count


__all__ = ["Broker", "DeadLetterInfo", "DuplicateDetector", "Subscription", "Topic"]
