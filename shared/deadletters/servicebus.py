"""Service Bus dead-letter queues (of a queue or a topic subscription): list, show, replay
and purge.

    orders = ServiceBusDeadLetters(namespace, queue="orders", statuses=statuses)
    for letter in await orders.list():
        print(letter.message_id, letter.reason, letter.description, letter.delivery_count)
    await orders.replay(letter.message_id)     # a copy on "orders", the job Pending again
    await orders.purge()

`list` and `show` peek (nothing is locked or counted). `replay` and `purge` first peek to
pick the messages by sequence number, then receive the dead-letter queue in order with a
lock renewer, act on the picked ones and abandon the others they had to lock on the way
(a dead-letter queue has no delivery limit, but their delivery count goes up by one).
A replay sends a copy (body and properties) to the original entity, then completes the
dead-lettered message: a crash in between leaves both (replay is at-least-once).
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import AutoLockRenewer, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.amqp import AmqpMessageBodyType
from azure.servicebus.exceptions import ServiceBusError

from ..errors import DeadLetterNotFound, InvalidArgument
from ..servicebus import ServiceBusNamespace
from ..status import StatusStore
from .jobs import JobLink
from .model import DeadLetter, JobIdFinder, Replayed, find_job_id, text_properties

log = logging.getLogger(__name__)

#: Set by the broker on a dead-lettered message; not copied by a replay.
DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})
#: Application property of a replayed copy: the dead-lettered message's id.
REPLAYED_FROM = "ReplayedFrom"
_PAGE = 100
# A picked message that does not come (locked by another receiver, or gone) is given up
# after this many receives of `wait` in a row bring nothing new.
_IDLE_ROUNDS = 3
Act = Callable[[ServiceBusReceiver, ServiceBusReceivedMessage], Awaitable[None]]


class ServiceBusDeadLetters:
    """The dead-letter queue of a queue, or of a topic subscription.

    Parameters
    ----------
    namespace:
        The Service Bus namespace.
    queue, topic, subscription:
        The entity: ``queue=``, or ``topic=`` with ``subscription=``.
    replay_to:
        Where replays go: by default the queue, or the topic (every subscription whose
        filter matches gets the copy, not only this one: name a queue that only this
        subscription's consumer reads to avoid that).
    statuses:
        With a status store, replays retry Failed jobs (`StatusStore.retry`).
    job_id:
        Reads the job id from a message (see `job_id_from`).
    keep_message_id:
        Copies get a new message id and the old one in application property
        ``ReplayedFrom`` (False, the default), so duplicate detection on the entity cannot
        drop a replay as a repeat of the message that failed; or keep the id (True).
    wait:
        How long a receive waits for more messages before a scan ends.
    """

    def __init__(
        self,
        namespace: ServiceBusNamespace,
        *,
        queue: str | None = None,
        topic: str | None = None,
        subscription: str | None = None,
        replay_to: str | None = None,
        statuses: StatusStore | None = None,
        job_id: JobIdFinder = find_job_id,
        keep_message_id: bool = False,
        wait: timedelta = timedelta(seconds=2),
    ) -> None:
        if (queue is None) == (topic is None) or (topic is None) != (subscription is None):
            raise InvalidArgument("give queue=, or topic= with subscription=")
        self.namespace = namespace
        self.queue, self.topic, self.subscription = queue, topic, subscription
        entity = queue if queue is not None else f"{topic}/Subscriptions/{subscription}"
        self.source = f"{entity}/$DeadLetterQueue"
        self.target = replay_to or queue or str(topic)
        self.jobs = JobLink(statuses, job_id)
        self.keep_message_id = keep_message_id
        self.wait = wait

    async def list(self, limit: int = _PAGE) -> list[DeadLetter]:
        """Up to `limit` dead-lettered messages, by sequence number (peeked: untouched)."""
        return [await self._letter(m) for m in await self._peek(limit, None)]

    async def show(self, message_id: str) -> DeadLetter:
        """The first dead-lettered message with id `message_id`.

        Raises
        ------
        DeadLetterNotFound
            No such message in the dead-letter queue.
        """
        found = await self._peek(1, message_id)
        if not found:
            raise DeadLetterNotFound(self.source, message_id)
        return await self._letter(found[0])

    async def replay(
        self, message_id: str | None = None, *, limit: int | None = None
    ) -> builtins.list[Replayed]:
        """Copy the messages with id `message_id` (every message, when None; at most
        `limit`) to the target and complete them. A Failed job named in a message goes
        back to Pending before its copy is sent, so its next start is a new attempt.

        Raises
        ------
        DeadLetterNotFound
            `message_id` was given and is not in the dead-letter queue.
        InvalidArgument
            A picked message has an AMQP value or sequence body (only data bodies are
            copied).
        """
        done: builtins.list[Replayed] = []
        client = self.namespace.client()
        sender: ServiceBusSender = (
            client.get_topic_sender(self.target)
            if self.target == self.topic
            else client.get_queue_sender(self.target)
        )

        async def act(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
            copy, letter = self._copy(message), await self._letter(message)
            retried = await self.jobs.before_replay(letter.job_id, self.source)
            try:
                await sender.send_messages(copy)
            except BaseException:
                await self.jobs.after_failed_send(retried)
                raise
            await receiver.complete_message(message)
            new_id = str(copy.message_id)
            done.append(
                Replayed(letter.message_id, new_id, self.target, letter.job_id, retried.state)
            )

        try:  # the sender's link opens with the first send
            await self._settle(message_id, limit, act)
        finally:
            await sender.close()
        return done

    async def purge(self, message_id: str | None = None, *, limit: int | None = None) -> int:
        """Complete (delete) the messages with id `message_id`, or every message (at most
        `limit`); returns how many. Jobs keep their status."""

        async def act(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
            await receiver.complete_message(message)

        return await self._settle(message_id, limit, act, missing_ok=True)

    # --- internals ------------------------------------------------------------------------

    def _receiver(self, renewer: AutoLockRenewer | None = None) -> ServiceBusReceiver:
        client = self.namespace.client()
        options: dict[str, Any] = {
            "sub_queue": ServiceBusSubQueue.DEAD_LETTER,
            "prefetch_count": 0,
            "auto_lock_renewer": renewer,
        }
        if self.queue is not None:
            return client.get_queue_receiver(self.queue, **options)
        assert self.topic is not None and self.subscription is not None
        return client.get_subscription_receiver(self.topic, self.subscription, **options)

    async def _peek(
        self, limit: int, message_id: str | None, receiver: ServiceBusReceiver | None = None
    ) -> builtins.list[ServiceBusReceivedMessage]:
        if receiver is None:
            async with self._receiver() as own:
                return await self._peek(limit, message_id, own)
        found: builtins.list[ServiceBusReceivedMessage] = []
        start = 0
        while len(found) < limit:
            page = await receiver.peek_messages(max_message_count=_PAGE, sequence_number=start)
            if not page:
                break
            found += [m for m in page if message_id in (None, m.message_id)]
            start = max(int(m.sequence_number or 0) for m in page) + 1
        return found[:limit]

    async def _settle(
        self, message_id: str | None, limit: int | None, act: Act, *, missing_ok: bool = False
    ) -> int:
        """Pick the messages to act on by sequence number (those there now, so copies that
        fail again and come back meanwhile are left for another call), then take them."""
        if limit is None:
            limit = 1 << 62 if message_id is None else _PAGE
        renewer = AutoLockRenewer(max_lock_renewal_duration=600)
        try:
            async with self._receiver(renewer) as receiver:
                peeked = await self._peek(limit, message_id, receiver)
                picked = {int(m.sequence_number or 0) for m in peeked}
                if message_id is not None and not picked and not missing_ok:
                    raise DeadLetterNotFound(self.source, message_id)
                return await self._take(receiver, picked, act)
        finally:
            await renewer.close()

    async def _take(self, receiver: ServiceBusReceiver, picked: set[int], act: Act) -> int:
        """Receive in order until every picked message was acted on (or none comes);
        the others received on the way stay locked (renewed) and are abandoned at the end."""
        remaining, seen = set(picked), set()
        held: builtins.list[ServiceBusReceivedMessage] = []
        idle = 0  # receives in a row that brought nothing new
        try:
            while remaining and idle < _IDLE_ROUNDS:
                batch = await receiver.receive_messages(
                    max_message_count=_PAGE, max_wait_time=self.wait.total_seconds()
                )
                fresh = [m for m in batch if m.sequence_number not in seen]
                idle = 0 if fresh else idle + 1
                for message in fresh:
                    seen.add(message.sequence_number)
                    if message.sequence_number not in remaining:
                        held.append(message)
                        continue
                    try:
                        await act(receiver, message)
                    except BaseException:
                        held.append(message)  # not settled: let it go at once
                        raise
                    remaining.discard(int(message.sequence_number or 0))
        finally:
            await _abandon(receiver, held)
        return len(picked) - len(remaining)

    async def _letter(self, message: ServiceBusReceivedMessage) -> DeadLetter:
        properties = {
            k: v
            for k, v in text_properties(message.application_properties).items()
            if k not in DEAD_LETTER_PROPERTIES
        }
        body = _body(message)
        job_id = self.jobs.job_id(body, properties)
        return DeadLetter(
            message_id=str(message.message_id),
            body=body,
            source=self.source,
            target=self.target,
            decoded=body,
            delivery_count=message.delivery_count,
            reason=message.dead_letter_reason or await self.jobs.reason(job_id),
            description=message.dead_letter_error_description,
            enqueued_at=message.enqueued_time_utc,
            sequence_number=message.sequence_number,
            properties=properties,
            job_id=job_id,
        )

    def _copy(self, message: ServiceBusReceivedMessage) -> ServiceBusMessage:
        if message.body_type is not AmqpMessageBodyType.DATA:
            raise InvalidArgument(
                f"message {message.message_id!r} of {self.source}: only data bodies are "
                f"replayed, this one is {message.body_type}"
            )
        properties = {
            k: v
            for k, v in text_properties(message.application_properties).items()
            if k not in DEAD_LETTER_PROPERTIES
        }
        message_id = str(message.message_id)
        if not self.keep_message_id:
            properties[REPLAYED_FROM] = message_id
            message_id = uuid.uuid4().hex
        return ServiceBusMessage(
            b"".join(message.body),
            application_properties=properties,  # type: ignore[arg-type]  # str keys are fine
            message_id=message_id,
            session_id=message.session_id,
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            subject=message.subject,
            partition_key=message.partition_key,
            to=message.to,
            reply_to=message.reply_to,
            reply_to_session_id=message.reply_to_session_id,
            time_to_live=message.time_to_live,
        )


def _body(message: ServiceBusReceivedMessage) -> bytes:
    if message.body_type is AmqpMessageBodyType.DATA:
        return b"".join(message.body)
    return repr(message.body).encode("utf-8")  # a value/sequence body, shown as text


async def _abandon(receiver: ServiceBusReceiver, messages: list[ServiceBusReceivedMessage]) -> None:
    for message in messages:
        try:
            await receiver.abandon_message(message)
        except ServiceBusError:
            # Its lock ran out: it is available again anyway.
            log.debug("dead letter %s not abandoned", message.message_id, exc_info=True)
