"""The queue trigger, with the real host's polling and poison handling (semantics §2).

One loop per function: receive up to batchSize messages invisible for 10 minutes; run each
(visibility renewed every 5 minutes while it runs); delete on success; on failure, make it
visible again after visibilityTimeout, or move it to `<queue>-poison` once its dequeue
count reaches maxDequeueCount. After a full batch poll again as soon as at most
newBatchThreshold messages are running; after an empty poll back off from 100 ms to
maxPollingInterval, unless a queue output in this host wakes the loop first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.functions.meta import Datum

from ..backoff import RandomizedBackoff
from ..config import QueuesOptions
from ..errors import BindingError
from ..expressions import has_parameters, resolve_settings
from ..invocation import Invocation, Outcome
from ..queues import Codec, UndecodableMessage, ensure_queue, poison_queue_name, receive_batch
from ..services import HostServices
from ..spec import FunctionSpec

log = logging.getLogger("funchost.queue")

LEASE_SECONDS = 600  # messages stay invisible 10 minutes while they run (§2.1.2)
RENEW_SECONDS = 300  # and are renewed every 5 minutes (§2.1.3)
MAX_VALUE_TIME = "9999-12-31T23:59:59.9999999+00:00"  # DateTimeOffset.MaxValue


@dataclass(frozen=True)
class QueueTriggerSpec:
    queue_name: str
    connection: str | None

    @classmethod
    def from_function(cls, spec: FunctionSpec, environ: Any) -> QueueTriggerSpec:
        what = f"queue trigger of '{spec.name}'"
        raw = spec.trigger.text("queueName")
        if not raw:
            raise BindingError(f"{what}: queueName is required")
        name = resolve_settings(raw, environ, what=what).lower()
        if has_parameters(name):
            raise BindingError(f"{what}: queueName '{raw}' cannot use binding expressions")
        return cls(name, spec.trigger.text("connection"))


def message_datum(body: bytes) -> Datum:
    try:
        return Datum(body.decode("utf-8"), "string")
    except UnicodeDecodeError:
        return Datum(body, "bytes")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def trigger_data(msg: Any, body: bytes) -> tuple[dict[str, Datum], dict[str, Any]]:
    """Trigger metadata for the worker and binding data for expressions (§2.3)."""
    values: dict[str, Any] = {
        "Id": msg.id, "DequeueCount": msg.dequeue_count, "PopReceipt": msg.pop_receipt,
        "InsertionTime": _iso(msg.inserted_on),
        "ExpirationTime": _iso(msg.expires_on) or MAX_VALUE_TIME,
        "NextVisibleTime": _iso(msg.next_visible_on),
    }
    metadata = {k: Datum(v, "int" if k == "DequeueCount" else "string")
                for k, v in values.items() if v is not None}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return metadata, values
    metadata["QueueTrigger"] = Datum(text, "string")
    values["QueueTrigger"] = text
    try:
        parsed = json.loads(text)
    except ValueError:
        return metadata, values
    if isinstance(parsed, dict):  # JSON body properties become binding data (§2.3)
        for key, value in parsed.items():
            if key not in values:
                values[key] = value
                metadata[key] = (Datum(value, "string") if isinstance(value, str)
                                 else Datum(json.dumps(value), "json"))
    return metadata, values


class QueueTrigger:
    def __init__(self, spec: FunctionSpec, services: HostServices) -> None:
        self.spec = spec
        self.trigger = QueueTriggerSpec.from_function(spec, services.environ)
        self._services = services
        self._options: QueuesOptions = services.config.queues
        self._codec = Codec(self._options.message_encoding)
        service = services.clients.queue_service(self.trigger.connection,
                                                 what=f"queue trigger of '{spec.name}'")
        self._queue = service.get_queue_client(self.trigger.queue_name)
        poison = poison_queue_name(self.trigger.queue_name)
        self._poison = service.get_queue_client(poison) if poison else None
        self._backoff = RandomizedBackoff(
            0.1, self._options.max_polling_interval.total_seconds())
        self._running = 0
        self._slots = anyio.Condition()
        self._reason = f"New queue message detected on '{self.trigger.queue_name}'."
        self._watch = services.notifier.watch(self.trigger.queue_name)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with anyio.create_task_group() as tg:
            await self._poll_loop(tg)

    async def _poll_loop(self, tg: TaskGroup) -> None:
        stopping = self._services.stopping
        created = False
        while not stopping.is_set():
            await self._wait_for_slots()
            try:
                if not created:
                    await ensure_queue(self._queue)
                    created = True
                messages = await receive_batch(self._queue, self._options.batch_size,
                                               LEASE_SECONDS)
            except ResourceNotFoundError:
                created = False
                messages = []
            except AzureError as exc:
                delay = self._backoff.next()
                log.warning("Queue '%s' for function '%s' is unreachable (%s); retrying in "
                            "%.1fs", self.trigger.queue_name, self.spec.name,
                            _short(exc), delay)
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
        """Wait for the next poll; woken early by a queue output in this host (§2.1.7)
        or by the host stopping."""
        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tg:
                async def wake_on_stop() -> None:
                    await self._services.stopping.wait()
                    tg.cancel_scope.cancel()
                tg.start_soon(wake_on_stop)
                await self._watch.wait(seconds)
                tg.cancel_scope.cancel()

    async def _wait_for_slots(self) -> None:
        # After a batch, poll again once at most newBatchThreshold messages are running
        # (§2.1.5), so at most batchSize + newBatchThreshold run at once.
        async with self._slots:
            while self._running > self._options.new_batch_threshold:
                await self._slots.wait()

    async def _done(self) -> None:
        async with self._slots:
            self._running -= 1
            self._slots.notify_all()

    async def _process(self, msg: Any) -> None:
        try:
            await self._handle(msg)
        except Exception:  # a storage error while settling: the message simply reappears
            log.exception("Settling message %s of queue '%s' failed; it will be delivered "
                          "again", msg.id, self.trigger.queue_name)
        finally:
            await self._done()

    async def _handle(self, msg: Any) -> None:
        max_count = self._options.max_dequeue_count
        if msg.dequeue_count > max_count:
            # Seen more often than allowed (a host died mid-run): poison without running.
            await self._to_poison(msg, f"its dequeue count {msg.dequeue_count} exceeds "
                                       f"maxDequeueCount {max_count}")
            return
        try:
            body = self._codec.decode(msg.content or "")
        except UndecodableMessage as exc:
            await self._to_poison(msg, str(exc))
            return
        metadata, values = trigger_data(msg, body)
        invocation = Invocation(self.spec, message_datum(body), self._reason, metadata, values)
        receipt = _Receipt(msg.pop_receipt)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._renew, msg, receipt)
            outcome = await self._services.invoke(invocation)
            tg.cancel_scope.cancel()
        await self._settle(msg, receipt.value, outcome)

    async def _renew(self, msg: Any, receipt: _Receipt) -> None:
        while True:
            await anyio.sleep(RENEW_SECONDS)
            try:
                updated = await self._queue.update_message(
                    msg.id, pop_receipt=receipt.value, visibility_timeout=LEASE_SECONDS)
                receipt.value = updated.pop_receipt
            except AzureError as exc:
                log.warning("Renewing message %s of queue '%s' failed: %s", msg.id,
                            self.trigger.queue_name, _short(exc))

    async def _settle(self, msg: Any, receipt: str, outcome: Outcome) -> None:
        if outcome.ok:
            await self._queue.delete_message(msg.id, receipt)
            return
        if msg.dequeue_count >= self._options.max_dequeue_count:
            await self._to_poison(msg, f"it failed {msg.dequeue_count} time(s), reaching "
                                       f"maxDequeueCount", receipt)
            return
        await self._queue.update_message(
            msg.id, pop_receipt=receipt,
            visibility_timeout=int(self._options.visibility_timeout.total_seconds()))

    async def _to_poison(self, msg: Any, why: str, receipt: str | None = None) -> None:
        if self._poison is None:
            # No poison queue for this name (§2.1.4): the message stays invisible.
            log.error("Message %s of queue '%s' is poison (%s), but this queue has no "
                      "poison queue; leaving it invisible", msg.id, self.trigger.queue_name,
                      why)
            return
        log.error("Message %s of queue '%s' moved to '%s': %s", msg.id,
                  self.trigger.queue_name, self._poison.queue_name, why)
        await ensure_queue(self._poison)
        # The body is copied as it is stored, still encoded (§2.1.4).
        await self._poison.send_message(msg.content)
        await self._queue.delete_message(msg.id, receipt or msg.pop_receipt)
        self._services.notifier.notify(self._poison.queue_name)

    async def call(self, input: str | None) -> Outcome:
        # An admin call: a message with that body, no id, dequeue count 0 (§6.6).
        body = (input or "").encode("utf-8")
        metadata = {"DequeueCount": Datum(0, "int"), "QueueTrigger": Datum(input or "", "string")}
        return await self._services.invoke(Invocation(
            self.spec, message_datum(body), "This function was programmatically called via "
            "the host APIs.", metadata, {"QueueTrigger": input or "", "DequeueCount": 0}))


class _Receipt:
    """The message's current pop receipt (renewals replace it)."""

    def __init__(self, value: str) -> None:
        self.value = value


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
