"""Ordering for Service Bus consumers that own their receiver: early messages are deferred
and fetched back by broker sequence number once the gap before them fills.

    ordering = ServiceBusOrdering(Sequencer(account))
    async with namespace.client().get_queue_receiver("orders") as receiver:
        for msg in await receiver.receive_messages(max_message_count=20, max_wait_time=5):
            await ordering.handle(receiver, msg, apply)

Deferral needs the SDK receiver (a Functions Service Bus trigger settles messages itself);
inside a trigger, hold messages back by rescheduling instead. Every deferred message is
indexed in the sequencer's table, so whichever worker fills a gap can fetch the messages
waiting behind it; `sweep` (from a timer) drains and reports gaps nobody came back to.

The queue must not require sessions, and the receiver must be a plain one: ordering comes
from the sequencer, and a deferred message has to be fetchable by whichever worker fills
the gap before it, for any key, which a session lock would prevent. `handle` and `sweep`
refuse a session receiver. (For per-key order by Service Bus sessions instead, use a
session-enabled queue with a session trigger, without this helper.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError

from ..errors import InvalidArgument, SequenceGapError
from .deferred import DeferredIndex
from .results import GapPolicy, OrderingResult, Outcome, settle_gap
from .sequencer import Gap, Sequencer, Turn, Verdict

log = logging.getLogger(__name__)

Handler = Callable[[ServiceBusReceivedMessage], Awaitable[Any]]

DEFAULT_QUEUE = "orders"  # the queue infra/ provisions for it: no sessions, deduplicated


@dataclass(frozen=True)
class SweepReport:
    """What `sweep` did: messages applied, and gaps still open past the timeout."""

    applied: list[OrderingResult] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class ServiceBusOrdering:
    """Applies Service Bus messages per key in sequence order, deferring early ones.

    Parameters
    ----------
    sequencer:
        The per-key sequence state (and the index of deferred messages).
    key_property, sequence_property:
        The application properties holding the ordering key and the message's number.
    gap_policy:
        What to do when a gap outlives the sequencer's `gap_timeout`.
    """

    def __init__(
        self,
        sequencer: Sequencer,
        *,
        key_property: str = "orderingKey",
        sequence_property: str = "sequence",
        gap_policy: GapPolicy = GapPolicy.RAISE,
    ) -> None:
        self.sequencer = sequencer
        self.deferred = DeferredIndex(sequencer)
        self.key_property = key_property
        self.sequence_property = sequence_property
        self.gap_policy = gap_policy

    def key_and_sequence(self, message: Any) -> tuple[str, int]:
        """The ordering key and number of `message`, from its application properties.

        Raises
        ------
        InvalidArgument
            A property is missing or the number is not an integer.
        """
        props = message.application_properties or {}
        values = []
        for name in (self.key_property, self.sequence_property):
            value = props.get(name, props.get(name.encode()))
            if value is None:
                raise InvalidArgument(
                    f"message {message.message_id!r} has no {name!r} application property"
                )
            values.append(value.decode() if isinstance(value, bytes) else value)
        try:
            return str(values[0]), int(values[1])
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"message {message.message_id!r}: {self.sequence_property!r} "
                f"is not an integer: {values[1]!r}"
            ) from None

    async def handle(
        self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage, handler: Handler
    ) -> list[OrderingResult]:
        """Apply, defer or drop `message`; then apply any deferred messages now due.

        Returns
        -------
        list[OrderingResult]
            This message's outcome first, then one per deferred message applied after it.

        Raises
        ------
        InvalidArgument
            `receiver` is a session receiver, or the message lacks its ordering properties.
        SequenceGapError
            A gap timed out under `GapPolicy.RAISE` (the message stays deferred and indexed;
            after `Sequencer.skip_to`, `sweep` applies it).
        Exception
            Whatever `handler` raised (the message is abandoned, the turn given back).
        """
        _plain_receiver(receiver)
        key, sequence = self.key_and_sequence(message)
        turn = await self.sequencer.begin(key, sequence)
        try:
            turn, skipped = await settle_gap(self.sequencer, turn, self.gap_policy)
        except SequenceGapError:
            await self._defer(receiver, message, key, sequence)
            raise
        if turn.verdict is Verdict.STALE:
            await receiver.complete_message(message)
            return [OrderingResult(key, sequence, Outcome.STALE, skipped_gap=skipped)]
        if turn.verdict is Verdict.BUSY:
            await receiver.abandon_message(message)  # a duplicate of the one being applied
            return [OrderingResult(key, sequence, Outcome.HELD_BACK)]
        if turn.verdict is Verdict.EARLY:
            await self._defer(receiver, message, key, sequence)
            first = OrderingResult(
                key, sequence, Outcome.HELD_BACK, gap=turn.gap, skipped_gap=skipped
            )
        else:
            value = await self._apply(receiver, message, turn, handler)
            first = OrderingResult(key, sequence, Outcome.APPLIED, value, skipped_gap=skipped)
        return [first, *await self._drain(receiver, key, handler)]

    async def sweep(self, receiver: ServiceBusReceiver, handler: Handler) -> SweepReport:
        """Apply deferred messages that are due, skip or report gaps past the timeout.

        Run it from a timer: it covers a worker that crashed between filling a gap and
        draining it, and gaps whose missing message never comes.
        """
        _plain_receiver(receiver)
        report = SweepReport()
        for key in await self.deferred.keys():
            report.applied.extend(await self._drain(receiver, key, handler))
            gap, expired = await self.sequencer.open_gap(key)
            if gap is None or not expired:
                continue
            if self.gap_policy is GapPolicy.RAISE:
                log.error(
                    "ordering key %r: sequence %d missing for %.1fs (%d waiting)",
                    key,
                    gap.expected,
                    gap.waited.total_seconds(),
                    gap.lowest_waiting,
                )
                report.gaps.append(gap)
                continue
            log.warning(
                "ordering key %r: sequence %d missing for %.1fs; skipping to %d",
                key,
                gap.expected,
                gap.waited.total_seconds(),
                gap.lowest_waiting,
            )
            await self.sequencer.skip_to(key, gap.lowest_waiting)
            report.applied.extend(await self._drain(receiver, key, handler))
        return report

    async def _apply(
        self,
        receiver: ServiceBusReceiver,
        message: ServiceBusReceivedMessage,
        turn: Turn,
        handler: Handler,
    ) -> Any:
        try:
            value = await handler(message)
        except BaseException:
            await self.sequencer.abort(turn)
            await receiver.abandon_message(message)
            raise
        await receiver.complete_message(message)
        await self.sequencer.commit(turn)
        return value

    async def _defer(
        self,
        receiver: ServiceBusReceiver,
        message: ServiceBusReceivedMessage,
        key: str,
        sequence: int,
    ) -> None:
        # Index first, then defer: a crash in between leaves the message undeferred, so the
        # broker redelivers it and this runs again; the other order could strand it.
        if message.sequence_number is None:
            raise InvalidArgument(
                f"message {message.message_id!r} has no broker sequence "
                "number (not a received message?)"
            )
        await self.deferred.remember(key, sequence, message.sequence_number)
        await receiver.defer_message(message)

    async def _drain(
        self, receiver: ServiceBusReceiver, key: str, handler: Handler
    ) -> list[OrderingResult]:
        applied: list[OrderingResult] = []
        while True:
            expected = await self.sequencer.expected(key)
            broker_number = await self.deferred.find(key, expected)
            if broker_number is None:
                return applied
            turn = await self.sequencer.begin(key, expected)
            if turn.verdict is not Verdict.APPLY:
                return applied  # another worker is on it
            try:
                found = await receiver.receive_deferred_messages([broker_number])
            except ServiceBusError as exc:
                found = []
                log.info(
                    "ordering key %r: deferred message %d not available yet (%s)",
                    key,
                    expected,
                    exc,
                )
            if not found:
                # Indexed but not deferred yet (its worker is between the two steps): that
                # worker drains it itself right after deferring.
                await self.sequencer.abort(turn)
                return applied
            value = await self._apply(receiver, found[0], turn, handler)
            await self.deferred.forget(key, expected)
            applied.append(OrderingResult(key, expected, Outcome.APPLIED, value))


def _plain_receiver(receiver: ServiceBusReceiver) -> None:
    """Raise if `receiver` is locked to one session (see the module notes)."""
    if getattr(receiver, "session", None) is not None:
        raise InvalidArgument(
            "ServiceBusOrdering needs a receiver without a session on a queue that does not "
            "require sessions: deferred messages of any key must be fetchable by any worker"
        )
