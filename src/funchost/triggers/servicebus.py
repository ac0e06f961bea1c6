"""The Service Bus trigger (semantics §5).

Peek-lock: on success complete (when autoCompleteMessages), on failure abandon, so the
broker counts the delivery and dead-letters the message past the entity's MaxDeliveryCount.
Locks are renewed while a message runs, up to maxAutoLockRenewalDuration. Up to
maxConcurrentCalls messages run at once (split over up to four receivers, see
RECEIVERS_SETTING); session-enabled functions take up to
maxConcurrentSessions sessions at a time and run each session's messages one by one, in
order; `cardinality="many"` runs batches of up to maxMessageBatchSize without renewal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from azure.servicebus import NEXT_AVAILABLE_SESSION
from azure.servicebus.exceptions import OperationTimeoutError

from funchost.core.backoff import RandomizedBackoff
from funchost.core.expressions import resolve_settings
from funchost.core.invocation import Failed, Invocation, InvocationCancelled, Invoke, Outcome
from funchost.core.logs import brief, fault
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import BindingError
from funchost.triggers.servicebus_metadata import (
    batch_data,
    fields,
    manual_data,
    message_data,
    reason_for,
)
from funchost.triggers.servicebus_settling import SettleQueue

log = logging.getLogger("funchost.servicebus")


# One receive call waits this long for the first message; the host's stop waits for it,
# so it stays short (an idle receiver then costs one round trip a second).
RECEIVE_WAIT_SECONDS = 1.0
# ... and this long while some of its receiver's messages run: the receive holds the
# connection (see SettleQueue.turn), and their settlements should not wait a second.
BUSY_RECEIVE_WAIT_SECONDS = 0.1
# Accepting the next session waits on the broker until some session has a message, as the
# real extension does (up to its TryTimeout, 60 s): a new session is taken the moment its
# first message arrives, and an idle listener costs one request a minute per session slot
# instead of a receiver opened and closed every second. The host's stop cancels the wait.
SESSION_ACCEPT_SECONDS = 60.0
# A receiver settles its messages one at a time and waits for each outcome, a round trip
# on its connection (the SDK confirms every settlement); with one receiver the host sits in
# those waits. Several receivers, each with its own connection and an equal share of
# maxConcurrentCalls, overlap them: at 32 calls on the project's emulator, 1, 2, 4 and 8
# receivers ran 2,040, 2,410, 3,040 and 2,970 no-op messages/s (one run each, 2 cores; the
# SDK's bare loop with one receiver: ~2,900; bench/servicebus_trigger.py).
# One receiver per SLOTS_PER_RECEIVER calls, at most MAX_RECEIVERS;
# FUNCHOST_SERVICEBUS_RECEIVERS sets the number (funchost's own setting: the real host
# runs one processor per function, whose .NET client settles concurrently).
RECEIVERS_SETTING = "FUNCHOST_SERVICEBUS_RECEIVERS"
SLOTS_PER_RECEIVER = 8
MAX_RECEIVERS = 4
# A message still running after this long is handed to the SDK's lock renewer. Most finish
# sooner, and registering each one costs a task (about 4% of a no-op invocation, measured);
# Service Bus's shortest lock (5 s) leaves room for the renewer to take over in time.
RENEW_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class ServiceBusTriggerSpec:
    queue: str | None
    topic: str | None
    subscription: str | None
    connection: str | None
    sessions: bool
    many: bool

    @property
    def entity(self) -> str:
        return self.queue or f"{self.topic}/Subscriptions/{self.subscription}"

    @classmethod
    def from_function(cls, spec: FunctionSpec, environ: Any) -> ServiceBusTriggerSpec:
        b = spec.trigger
        what = f"Service Bus trigger of '{spec.name}'"

        def setting(key: str) -> str | None:
            raw = b.text(key)
            return None if raw is None else resolve_settings(raw, environ, what=what)

        queue, topic, sub = setting("queueName"), setting("topicName"), setting("subscriptionName")
        if not queue and not (topic and sub):
            raise BindingError(f"{what}: set queueName, or topicName and subscriptionName")
        sessions = str(b.get("isSessionsEnabled", False)).lower() == "true"
        many = str(b.get("cardinality", "one")).lower() == "many"
        return cls(queue, topic, sub, b.text("connection"), sessions, many)


class ServiceBusTrigger:
    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self._invoke = invoke
        self.trigger = ServiceBusTriggerSpec.from_function(spec, services.environ)
        self._services = services
        self._options = services.config.service_bus
        what = f"Service Bus trigger of '{spec.name}'"
        self._client = services.clients.service_bus(self.trigger.connection, what=what)
        # Session receivers come from a client that does not retry: the SDK retries an
        # accept that found no session (with 0.8 s, 1.6 s, 3.2 s backoffs), which delays
        # the next session and holds the host's stop; this listener retries at once
        # itself, and backs off only on real faults (`_resilient`).
        self._session_client = (
            services.clients.service_bus(self.trigger.connection, what=what, retry_total=0)
            if self.trigger.sessions
            else None
        )
        self._receiver_shares = receiver_shares(
            self._options.max_concurrent_calls, services.environ, what=what
        )
        self._backoff = RandomizedBackoff(1.0, 60.0)
        # The end of the current fault's wait: the listener's other receive loops, failing
        # with it, wait for the same retry instead of each escalating and logging it.
        self._retry_at = 0.0
        self._renewer: Any = None  # created in run(), on the host's event loop
        self._peeker: Any = None  # the receiver backlog() peeks with, made on first use
        # Messages running and not yet handed to the renewer: id -> (receiver, message, start)
        self._unrenewed: dict[int, tuple[Any, Any, float]] = {}

    def _receiver(self, client: Any = None, **kwargs: Any) -> Any:
        t = self.trigger
        client = client or self._client
        options = {"prefetch_count": self._options.prefetch_count, **kwargs}
        if t.queue:
            return client.get_queue_receiver(t.queue, **options)
        return client.get_subscription_receiver(t.topic, t.subscription, **options)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        from azure.servicebus.aio import AutoLockRenewer

        # One renewer for the listener's life: a renewal ends by itself once its message is
        # settled. (Closing a renewer per message waits out its 1 s polling sleep.)
        self._renewer = AutoLockRenewer(
            max_lock_renewal_duration=self._options.max_auto_lock_renewal_duration.total_seconds()
        )
        task_status.started()
        try:
            if self.trigger.sessions:
                async with anyio.create_task_group() as tg:
                    for _ in range(self._options.max_concurrent_sessions):
                        tg.start_soon(self._resilient, self._session_loop)
            else:
                await self._message_loop()
        finally:
            with anyio.CancelScope(shield=True):
                await self._renewer.close()
                if self._peeker is not None:
                    await self._peeker.close()
                    self._peeker = None

    async def _resilient(self, loop: Any) -> None:
        """Run a receive loop; when the namespace is unreachable, log, back off, retry."""
        while not self._services.stopping.is_set():
            try:
                await loop()
                self._backoff.reset()
            except Exception as exc:  # noqa: BLE001 - any broker fault: contained, retried
                # ServiceBusError, and what the SDK raises when the connection dropped under
                # it (ValueError "handler has already been shutdown", ...).
                now = anyio.current_time()
                if now >= self._retry_at:  # a new fault: one line, one step of the backoff
                    delay = self._backoff.next()
                    self._retry_at = now + delay
                    fault(
                        log,
                        "Service Bus entity '%s' for function '%s' is unreachable; "
                        "retrying in %.0fs",
                        self.trigger.entity,
                        self.spec.name,
                        delay,
                        error=exc,
                    )
                with anyio.move_on_after(self._retry_at - now):
                    await self._services.stopping.wait()

    async def backlog(self) -> int:
        """Messages the entity holds (peeked: locked ones count too, but a locked message
        is normally one this listener runs). Session entities cannot be peeked without
        a session: they report 0."""
        if self.trigger.sessions:
            return 0
        if self._peeker is None:  # one receiver for every peek: a link costs a round trip
            self._peeker = self._receiver()
        # From the first sequence number: a receiver's peeks otherwise go on after the
        # last message it peeked, and a message still there would not count again.
        return len(await self._peeker.peek_messages(max_message_count=1, sequence_number=1))

    # -- messages without sessions ----------------------------------------------------------
    async def _message_loop(self) -> None:
        """Run the listener's receivers, each with its share of maxConcurrentCalls (one
        receiver, one slot, for a batch function), and hand long runners to the renewer.
        Each receiver retries on its own: a fault on one link does not cut short what the
        others run."""
        many = self.trigger.many
        shares = [1] if many else self._receiver_shares
        async with anyio.create_task_group() as renewing:
            if not many:
                renewing.start_soon(self._renew_long_runners)
            async with anyio.create_task_group() as receivers:
                for share in shares:
                    receivers.start_soon(self._resilient, partial(self._receive_and_settle, share))
            renewing.cancel_scope.cancel()  # every message ran: nothing left to renew

    async def _receive_and_settle(self, share: int) -> None:
        """One receiver: receive into its `share` of slots, run, settle, until the host
        stops (or its link fails: then what it runs is cut short, and redelivered later)."""
        slots = anyio.Semaphore(share)
        finished = SettleQueue()
        async with self._receiver() as receiver, anyio.create_task_group() as settling:
            settling.start_soon(self._settler, receiver, finished, slots)
            try:
                async with anyio.create_task_group() as running:
                    await self._receive_until_stopping(receiver, slots, running, finished)
            finally:
                finished.close()

    async def _receive_until_stopping(
        self,
        receiver: Any,
        slots: anyio.Semaphore,
        running: TaskGroup,
        finished: SettleQueue,
    ) -> None:
        """Receive as many messages as there are free slots and start each (or each batch).

        A receive waits until the settler has settled every finished message: the slots
        those settlements free are then asked for in one receive. Asking as each slot frees
        fetched one or two messages per round trip, at half the rate of a loop that
        receives its whole batch (bench/). A slow function's slot still refills at once:
        nothing else is waiting to settle. The receive and the settler take turns on the
        connection (SettleQueue.turn)."""
        many = self.trigger.many
        share = slots.value
        reached = False  # the first receive that answers shows the entity exists
        while not self._services.stopping.is_set():
            await slots.acquire()
            await finished.caught_up()
            # Every free slot is taken before the receive: whatever it brings back has
            # its slots already (the settler frees more meanwhile; the next receive takes them).
            held = 1 if many else 1 + _take_free(slots)
            count = self._options.max_message_batch_size if many else held
            # While messages run, the settler will need the connection soon: a short wait.
            busy = share - slots.value - held > 0
            try:
                async with finished.turn:
                    messages = await receiver.receive_messages(
                        max_message_count=count,
                        max_wait_time=BUSY_RECEIVE_WAIT_SECONDS if busy else RECEIVE_WAIT_SECONDS,
                    )
            except BaseException:
                _give_back(slots, held)
                raise
            if not reached:
                self._services.reached(self.spec.name)
                reached = True
            stopping = self._services.stopping.is_set()
            # A slot per message started, or one for the batch (or for what is given back).
            used = 0 if not messages else 1 if many or stopping else len(messages)
            _give_back(slots, held - used)
            if not messages:
                continue
            self._backoff.reset()
            if stopping:
                # Received as the host began to stop: not started, so given back at once.
                await finished.put(messages, None)
            elif many:  # one slot per batch, no lock renewal (§5)
                running.start_soon(self._run, receiver, messages, finished, False)
            else:
                for message in messages:
                    running.start_soon(self._run, receiver, [message], finished, True)

    async def _run(
        self,
        receiver: Any,
        messages: list[Any],
        finished: SettleQueue,
        renew: bool,
    ) -> None:
        if renew:
            for message in messages:
                self._unrenewed[id(message)] = (receiver, message, anyio.current_time())
        try:
            outcome = await self._run_messages(messages)
        finally:
            for message in messages:
                self._unrenewed.pop(id(message), None)
        await finished.put(messages, outcome)

    async def _renew_long_runners(self) -> None:
        """Once a second, hand messages running longer than RENEW_AFTER_SECONDS to the lock
        renewer, which keeps their locks up to maxAutoLockRenewalDuration (counted from
        receipt) and stops once they are settled."""
        while True:
            await anyio.sleep(RENEW_AFTER_SECONDS)
            cutoff = anyio.current_time() - RENEW_AFTER_SECONDS
            for key, (receiver, message, started) in list(self._unrenewed.items()):
                if started <= cutoff:
                    del self._unrenewed[key]
                    try:
                        self._renewer.register(receiver, message)
                    except Exception as exc:  # noqa: BLE001 - the run goes on unrenewed
                        fault(
                            log,
                            "Cannot renew the lock of message %s of '%s'",
                            message.message_id,
                            self.trigger.entity,
                            error=exc,
                        )

    async def _settler(
        self,
        receiver: Any,
        finished: SettleQueue,
        slots: anyio.Semaphore,
    ) -> None:
        """Settle finished messages one at a time, then free their slot. The SDK waits for
        each settlement's outcome by polling the connection; many concurrent settlements
        poll against each other and halve throughput (measured in bench/)."""
        while (ran := await finished.get()) is not None:
            try:
                async with finished.turn:
                    await self._settle(receiver, *ran)
            finally:
                slots.release()
                finished.settled()

    async def _settle(self, receiver: Any, messages: list[Any], outcome: Outcome | None) -> None:
        """Complete on success (unless the function settles itself); abandon on failure,
        so the broker counts the delivery and dead-letters past MaxDeliveryCount (§5);
        abandon what never ran (`None`: received as the host stopped)."""
        if outcome is not None and outcome.ok and not self._options.auto_complete_messages:
            return  # the function settles them itself
        if isinstance(outcome, Failed) and not isinstance(outcome.error, InvocationCancelled):
            log.info(
                "Abandoning %d message(s) of '%s' after invocation %s failed (%s); the broker "
                "delivers them again, or dead-letters them past MaxDeliveryCount",
                len(messages),
                self.trigger.entity,
                outcome.invocation_id,
                brief(outcome.error),
            )
        for message in messages:
            try:
                if outcome is not None and outcome.ok:
                    await receiver.complete_message(message)
                else:
                    await receiver.abandon_message(message)
            except Exception as exc:  # noqa: BLE001 - lock gone, link dropped: redelivered
                fault(
                    log,
                    "Settling message %s of '%s' failed; it will be delivered again",
                    message.message_id,
                    self.trigger.entity,
                    error=exc,
                )

    async def _run_messages(self, messages: list[Any]) -> Outcome:
        rows = [fields(m) for m in messages]
        if self.trigger.many:
            datum, metadata, values = batch_data(messages, rows)
        else:
            datum, metadata, values = message_data(messages[0], rows[0])
        return await self._invoke(
            Invocation(
                self.spec,
                datum,
                reason_for(self.trigger.entity, rows[0], len(messages)),
                metadata,
                values,
            )
        )

    # -- sessions ---------------------------------------------------------------------------
    async def _session_loop(self) -> None:
        """Take the next free session, run its messages in order until it goes idle, then
        let it go (one of maxConcurrentSessions such loops)."""
        idle = self._options.session_idle_timeout
        wait = idle.total_seconds() if idle else RECEIVE_WAIT_SECONDS
        while not self._services.stopping.is_set():
            receiver = self._receiver(
                self._session_client,
                session_id=NEXT_AVAILABLE_SESSION,
                max_wait_time=SESSION_ACCEPT_SECONDS,
            )
            try:
                if await self._accept(receiver):
                    self._services.reached(self.spec.name)
                    await self._drain_session(receiver, wait)
            finally:
                with anyio.CancelScope(shield=True):
                    await receiver.close()

    async def _accept(self, receiver: Any) -> bool:
        """Open `receiver` on the next session with messages: True once it holds one,
        False when none came in time or the host is stopping (the wait is cancelled)."""
        accepted = False
        async with anyio.create_task_group() as tg:

            async def cancel_on_stop() -> None:
                await self._services.stopping.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_on_stop)
            try:
                await receiver.__aenter__()
                accepted = True
            except OperationTimeoutError:
                pass  # no session had messages: accept again
            tg.cancel_scope.cancel()
        return accepted

    async def _drain_session(self, receiver: Any, wait: float) -> None:
        # The session lock is renewed while this receiver holds it; its renewal ends when
        # the receiver closes.
        self._renewer.register(receiver, receiver.session)
        while not self._services.stopping.is_set():
            count = self._options.max_message_batch_size if self.trigger.many else 1
            messages = await receiver.receive_messages(max_message_count=count, max_wait_time=wait)
            if not messages:
                return  # the session is idle: release it for others
            outcome = await self._run_messages(messages)
            await self._settle(receiver, messages, outcome)

    async def call(self, input: str | None) -> Outcome:
        # An admin call: one message with that body and no broker metadata.
        datum, metadata = manual_data(input or "", many=self.trigger.many)
        return await self._invoke(
            Invocation(
                self.spec,
                datum,
                "This function was programmatically called via the host APIs.",
                metadata,
                {},
            )
        )


def _take_free(slots: anyio.Semaphore) -> int:
    """Acquire every slot that is free now; how many."""
    taken = 0
    while slots.value:
        slots.acquire_nowait()
        taken += 1
    return taken


def _give_back(slots: anyio.Semaphore, count: int) -> None:
    for _ in range(count):
        slots.release()


def receiver_shares(calls: int, environ: Any, *, what: str) -> list[int]:
    """maxConcurrentCalls split over the listener's receivers (see RECEIVERS_SETTING)."""
    raw = str(environ.get(RECEIVERS_SETTING, "")).strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise BindingError(
                f"{what}: {RECEIVERS_SETTING} must be a whole number >= 1, not {raw!r}"
            )
        count = int(raw)
    else:
        count = min(MAX_RECEIVERS, -(-calls // SLOTS_PER_RECEIVER))
    count = max(1, min(count, calls))
    return [calls // count + (1 if i < calls % count else 0) for i in range(count)]
