"""A Service Bus dead-letter queue (of a queue or a topic subscription): list, show,
replay, purge.

`list` and `show` peek (nothing is locked). `replay` and `purge` peek first to pick the
messages by sequence number, then receive the dead-letter queue in order, act on the picked
ones and abandon the others they locked on the way (a dead-letter queue has no delivery
limit; their delivery count goes up by one). A replay sends a copy (the body byte for byte,
the properties, a new message id, the old one as `ReplayedFrom` so duplicate detection
does not drop it) to the queue, or to the topic for a subscription (then every matching
subscription gets it), then completes the dead-lettered message: a crash in between leaves
both (at-least-once).
"""

from __future__ import annotations

import builtins
import contextlib
import uuid
from typing import Any

from funchost.ops.letters import Letter, LetterNotFound, Replayed, job_id_of
from funchost.ops.sources import DEAD_LETTERS, SUBSCRIPTIONS

PAGE = 100
PEEK_CAP = 1000  # messages looked at per call, at most
WAIT_SECONDS = 2.0
REPLAYED_FROM = "ReplayedFrom"
#: Set by the broker when it dead-letters a message; not copied by a replay.
DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


class ServiceBusDeadLetters:
    def __init__(self, client: Any, entity: str) -> None:
        self._client = client
        self.entity = entity
        self.where = entity + DEAD_LETTERS
        topic, _, subscription = entity.partition(SUBSCRIPTIONS)
        self._topic, self._subscription = topic, subscription
        self.target = topic if subscription else entity

    def receiver(self, *, dead_letters: bool = True) -> Any:
        """A peek-lock receiver of the dead letters (or of the entity itself)."""
        from azure.servicebus import ServiceBusSubQueue

        options: dict[str, Any] = {"prefetch_count": 0}
        if dead_letters:
            options["sub_queue"] = ServiceBusSubQueue.DEAD_LETTER
        if self._subscription:
            return self._client.get_subscription_receiver(
                self._topic, self._subscription, **options
            )
        return self._client.get_queue_receiver(self.entity, **options)

    async def count(self) -> int:
        """Dead-lettered messages, counted by peeking (up to `PEEK_CAP`)."""
        async with self.receiver() as receiver:
            return len(await peek_all(receiver))

    async def list(self, limit: int = 32) -> list[Letter]:
        async with self.receiver() as receiver:
            return [_letter(m) for m in await peek_all(receiver, limit)]

    async def show(self, message_id: str) -> Letter:
        for letter in await self.list(PEEK_CAP):
            if letter.message_id == message_id:
                return letter
        raise LetterNotFound(self.where, message_id)

    async def replay(self, message_id: str | None = None) -> builtins.list[Replayed]:
        from azure.servicebus import ServiceBusMessage

        done: builtins.list[Replayed] = []
        open_sender = (
            self._client.get_topic_sender if self._subscription else self._client.get_queue_sender
        )
        async with open_sender(self.target) as sender:

            async def act(receiver: Any, message: Any) -> None:
                copy = _copy(message, ServiceBusMessage)
                await sender.send_messages(copy)
                await receiver.complete_message(message)
                letter = _letter(message)
                done.append(
                    Replayed(letter.message_id, str(copy.message_id), self.target, letter.job_id)
                )

            await self._each_picked(message_id, act)
        return done

    async def purge(self, message_id: str | None = None) -> int:
        count = 0

        async def act(receiver: Any, message: Any) -> None:
            nonlocal count
            await receiver.complete_message(message)
            count += 1

        await self._each_picked(message_id, act)
        return count

    async def _each_picked(self, message_id: str | None, act: Any) -> None:
        async with self.receiver() as peeker:
            picked = {
                m.sequence_number
                for m in await peek_all(peeker)
                if message_id is None or str(m.message_id) == message_id
            }
        if message_id is not None and not picked:
            raise LetterNotFound(self.where, message_id)
        held: builtins.list[Any] = []
        async with self.receiver() as receiver:
            try:
                while picked:
                    page = await receiver.receive_messages(
                        max_message_count=PAGE, max_wait_time=WAIT_SECONDS
                    )
                    if not page:
                        break
                    for message in page:
                        if message.sequence_number in picked:
                            picked.discard(message.sequence_number)
                            await act(receiver, message)
                        else:
                            held.append(message)
            finally:
                for message in held:
                    with contextlib.suppress(Exception):  # its lock ends on its own anyway
                        await receiver.abandon_message(message)


async def peek_all(receiver: Any, limit: int = PEEK_CAP) -> list[Any]:
    """Peek from the first message (explicitly: the SDK otherwise goes on from its last
    peek), at most `limit`."""
    found: list[Any] = []
    start = 1
    while len(found) < limit:
        page = await receiver.peek_messages(
            max_message_count=min(PAGE, limit - len(found)), sequence_number=start
        )
        if not page:
            break
        found.extend(page)
        start = max(int(m.sequence_number or 0) for m in page) + 1
    return found


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _properties(message: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (message.application_properties or {}).items()}


def _body(message: Any) -> bytes:
    from azure.servicebus.amqp import AmqpMessageBodyType

    if message.body_type is AmqpMessageBodyType.DATA:
        return b"".join(message.body)
    return repr(message.body).encode("utf-8")  # a value/sequence body, shown as text


def _letter(message: Any) -> Letter:
    properties = _properties(message)
    body = _body(message)
    text = body.decode("utf-8", "replace")
    return Letter(
        message_id=str(message.message_id),
        body=body,
        text=text,
        count=message.delivery_count,
        enqueued=message.enqueued_time_utc,
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        sequence=message.sequence_number,
        properties=properties,
        job_id=job_id_of(text, properties),
    )


def _copy(message: Any, message_type: Any) -> Any:
    from azure.servicebus.amqp import AmqpMessageBodyType

    if message.body_type is not AmqpMessageBodyType.DATA:
        raise ValueError(
            f"message {message.message_id} has a {message.body_type} body: only data bodies "
            "are replayed"
        )
    properties: dict[str | bytes, Any] = {
        k: v
        for k, v in (message.application_properties or {}).items()
        if _text(k) not in DEAD_LETTER_PROPERTIES
    }
    properties[REPLAYED_FROM] = str(message.message_id)
    return message_type(
        b"".join(message.body),
        application_properties=properties,
        message_id=uuid.uuid4().hex,
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
