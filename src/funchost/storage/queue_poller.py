"""The queue listener loop of the WebJobs SDK (semantics §2.1), for any handler.

Receive up to batchSize messages invisible for 10 minutes; hand each to the handler
(visibility renewed every 5 minutes while it runs); delete on success; on failure make it
visible again after visibilityTimeout, or move it to the poison queue once its dequeue count
reaches maxDequeueCount. After a batch, poll again as soon as at most newBatchThreshold
messages are running; after an empty poll back off from 100 ms to maxPollingInterval,
unless a notification for the queue (an output in this host) comes first. The queue
trigger and the blob trigger's internal queue both run on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup
from azure.core.exceptions import ResourceNotFoundError

from funchost.core.backoff import RandomizedBackoff
from funchost.core.invocation import Failed, InvocationCancelled, Outcome
from funchost.core.logs import brief, fault
from funchost.storage.notify import Watch
from funchost.storage.queues import Codec, UndecodableMessage, ensure_queue, receive_batch

log = logging.getLogger("funchost.queue")

LEASE_SECONDS = 600  # messages stay invisible 10 minutes while they run (§2.1.2)
# and are renewed every half lease, 5 minutes (§2.1.3). FUNCHOST_QUEUE_LEASE_SECONDS
# shortens the lease (crash tests: a killed host's messages reappear sooner).
LEASE_SETTING = "FUNCHOST_QUEUE_LEASE_SECONDS"
# A settlement (delete, release, poison) is tried this often, with backoff, while storage
# is unreachable, before the message is left to reappear (about 20 s in all).
SETTLE_ATTEMPTS = 6

# Runs one message and returns the outcome; None when there was nothing to run (a message
# the handler drops). Success or None deletes the message; a failure retries or poisons it.
Handler = Callable[[Any, bytes], Awaitable["Outcome | None"]]


@dataclass(frozen=True)
class PollerSettings:
    batch_size: int
    new_batch_threshold: int
    max_dequeue_count: int
    visibility_timeout: timedelta
    max_polling_interval: timedelta
    lease_seconds: int = LEASE_SECONDS

    @property
    def renew_seconds(self) -> float:
        return self.lease_seconds / 2

    @property
    def renew_check_seconds(self) -> float:
        return min(10.0, self.lease_seconds / 6)


def lease_seconds(environ: Mapping[str, str]) -> int:
    """The invisibility of a running message: 10 minutes, or FUNCHOST_QUEUE_LEASE_SECONDS."""
    raw = environ.get(LEASE_SETTING, "").strip()
    return int(raw) if raw.isdigit() and int(raw) >= 2 else LEASE_SECONDS


class QueuePoller:
    def __init__(
        self,
        queue: Any,
        poison: Callable[[Any], Any | None],
        settings: PollerSettings,
        codec: Codec,
        handler: Handler,
        watch: Watch,
        stopping: anyio.Event,
        label: str,
        on_poison: Callable[[str], None] | None = None,
    ) -> None:
        self._queue = queue
        self._poison_for = poison  # the poison queue client for a message, or None
        self._settings = settings
        self._codec = codec
        self._handler = handler
        self._watch = watch
        self._stopping = stopping
        self._label = label  # names the queue and its user in log lines
        self._on_poison = on_poison
        self._backoff = RandomizedBackoff(0.1, settings.max_polling_interval.total_seconds())
        self._running = 0
        self._slots = anyio.Condition()
        self._leases: dict[str, _Lease] = {}  # running messages by id

    async def run(self) -> None:
        """Poll until the host stops; then wait for the running messages."""
        async with anyio.create_task_group() as renewing:
            renewing.start_soon(self._renew_loop)
            async with anyio.create_task_group() as tg:
                await self._poll_loop(tg)
            renewing.cancel_scope.cancel()

    async def backlog(self) -> int:
        """Visible messages waiting (0 or up to 32; the queue may not exist yet)."""
        try:
            return len(await self._queue.peek_messages(max_messages=32))
        except ResourceNotFoundError:
            return 0

    async def _poll_loop(self, tg: TaskGroup) -> None:
        created = False
        while not self._stopping.is_set():
            await self._wait_for_slots()
            try:
                if not created:
                    await ensure_queue(self._queue)
                    created = True
                messages = await receive_batch(
                    self._queue, self._settings.batch_size, self._settings.lease_seconds
                )
            except ResourceNotFoundError:
                created = False
                messages = []
            except Exception as exc:  # noqa: BLE001 - any storage fault: back off, retry
                delay = self._backoff.next()
                fault(log, "%s is unreachable; retrying in %.1fs", self._label, delay, error=exc)
                await self._sleep(delay)
                continue
            if messages:
                self._backoff.reset()
                for msg in messages:
                    self._running += 1
                    tg.start_soon(self._process, msg)
                continue
            await self._sleep(self._backoff.next())

    async def _sleep(self, seconds: float) -> None:
        """Wait for the next poll; woken early by a notification or the host stopping."""
        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tg:

                async def wake_on_stop() -> None:
                    await self._stopping.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(wake_on_stop)
                await self._watch.wait()
                tg.cancel_scope.cancel()

    async def _wait_for_slots(self) -> None:
        # At most batchSize + newBatchThreshold run at once (§2.1.5).
        async with self._slots:
            while self._running > self._settings.new_batch_threshold:
                await self._slots.wait()

    async def _process(self, msg: Any) -> None:
        try:
            await self._handle(msg)
        finally:
            async with self._slots:
                self._running -= 1
                self._slots.notify_all()

    async def _handle(self, msg: Any) -> None:
        limit = self._settings.max_dequeue_count
        if msg.dequeue_count > limit:
            # Seen more often than allowed (a host died mid-run): poison without running.
            why = f"its dequeue count {msg.dequeue_count} exceeds maxDequeueCount {limit}"
            await self._settle(msg, lambda: self._to_poison(msg, why, msg.pop_receipt))
            return
        try:
            body = self._codec.decode(msg.content or "")
        except UndecodableMessage as exc:
            why = str(exc)
            await self._settle(msg, lambda: self._to_poison(msg, why, msg.pop_receipt))
            return
        lease = _Lease(msg.id, msg.pop_receipt, time.monotonic() + self._settings.renew_seconds)
        if self._stopping.is_set():
            # Received as the host began to stop: not started, so released at once.
            await self._settle(msg, lambda: self._release(lease, 0))
            return
        self._leases[msg.id] = lease
        try:
            outcome = await self._handler(msg, body)
        finally:
            del self._leases[msg.id]
        await self._settle(msg, lambda: self._after(msg, lease, outcome))

    async def _after(self, msg: Any, lease: _Lease, outcome: Outcome | None) -> None:
        """Delete on success; release a run the host's stop cut short at once; retry after
        visibilityTimeout; poison at maxDequeueCount (§2.1.4)."""
        if not isinstance(outcome, Failed):
            await self._queue.delete_message(msg.id, lease.receipt)
        elif isinstance(outcome.error, InvocationCancelled):
            await self._release(lease, 0)
        elif msg.dequeue_count >= self._settings.max_dequeue_count:
            why = (
                f"it failed {msg.dequeue_count} time(s), reaching maxDequeueCount; last error "
                f"(invocation {outcome.invocation_id}): {brief(outcome.error)}"
            )
            await self._to_poison(msg, why, lease.receipt)
        else:
            await self._release(lease, int(self._settings.visibility_timeout.total_seconds()))

    async def _release(self, lease: _Lease, visible_in: int) -> None:
        await self._queue.update_message(
            lease.message_id, pop_receipt=lease.receipt, visibility_timeout=visible_in
        )

    async def _settle(self, msg: Any, action: Callable[[], Awaitable[None]]) -> None:
        """Run a settlement, retried with backoff while storage is unreachable (the message
        stays invisible meanwhile, so nothing is lost); after SETTLE_ATTEMPTS, or when the
        host stops, give up: the message reappears when its invisibility ends."""
        backoff = RandomizedBackoff(0.5, 8.0)
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                await action()
                return
            except ResourceNotFoundError:
                return  # the message is gone (deleted, or its receipt is stale)
            except Exception as exc:  # noqa: BLE001 - storage faults of every kind
                if attempt == SETTLE_ATTEMPTS or self._stopping.is_set():
                    fault(
                        log,
                        "Settling message %s of %s failed; it will be delivered again",
                        msg.id,
                        self._label,
                        error=exc,
                    )
                    return
                await anyio.sleep(backoff.next())

    async def _renew_loop(self) -> None:
        """One loop renews every running message every 5 minutes (a task per message would
        cost more than a no-op function)."""
        while True:
            await anyio.sleep(self._settings.renew_check_seconds)
            now = time.monotonic()
            for lease in [lease for lease in self._leases.values() if lease.due <= now]:
                try:
                    updated = await self._queue.update_message(
                        lease.message_id,
                        pop_receipt=lease.receipt,
                        visibility_timeout=self._settings.lease_seconds,
                    )
                    lease.receipt = updated.pop_receipt
                    lease.due = time.monotonic() + self._settings.renew_seconds
                except Exception as exc:  # noqa: BLE001 - retried at the next check
                    fault(
                        log,
                        "Renewing message %s of %s failed",
                        lease.message_id,
                        self._label,
                        error=exc,
                    )

    async def _to_poison(self, msg: Any, why: str, receipt: str) -> None:
        poison = self._poison_for(msg)
        if poison is None:
            # No poison queue for this name (§2.1.4): the message stays invisible.
            log.error(
                "Message %s of %s is poison (%s), but there is no poison queue for "
                "it; leaving it invisible",
                msg.id,
                self._label,
                why,
            )
            return
        log.error("Message %s of %s moved to '%s': %s", msg.id, self._label, poison.queue_name, why)
        await ensure_queue(poison)
        # The body is copied as it is stored, still encoded (§2.1.4).
        await poison.send_message(msg.content)
        await self._queue.delete_message(msg.id, receipt)
        if self._on_poison is not None:
            self._on_poison(poison.queue_name)


@dataclass
class _Lease:
    """A running message's current pop receipt (a renewal replaces it) and next renewal."""

    message_id: str
    receipt: str
    due: float
