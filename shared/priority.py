"""Priority on Storage queues: one queue per priority, consumed high first.

Storage queues have no message priority, so priority is a choice of queue: ``jobs-high``
and ``jobs-normal`` for base name ``jobs`` (suffixes configurable).

    queues = PriorityQueues.from_settings()          # JOBS_QUEUE, default "jobs"
    sender = PrioritySender(account, queues)
    await sender.send({"report": 7}, Priority.HIGH)

How the app consumes high first
-------------------------------
One function per queue. Give the high queue more throughput and the normal one less:

    @app.queue_trigger(arg_name="msg", queue_name="%JOBS_QUEUE%-high",
                       connection="AzureWebJobsStorage")
    async def jobs_high(msg: func.QueueMessage) -> None:
        await run_job(msg.get_json())

    @app.queue_trigger(arg_name="msg", queue_name="%JOBS_QUEUE%-normal",
                       connection="AzureWebJobsStorage")
    async def jobs_normal(msg: func.QueueMessage) -> None:
        if await gate.step_aside(msg.get_body()):   # gate = PriorityGate(account, queues)
            return  # put back for later; with @idempotent, not recorded as done
        await run_job(msg.get_json())

host.json's ``extensions.queues.batchSize``/``newBatchThreshold`` apply to every queue
function of an app, so for *different* concurrency deploy the normal-priority function in
its own app (the "jobs" app, on its own plan) with a small batchSize, and the high one with
a large batchSize and more instances; within one app, `PriorityGate` makes normal work step
aside while high work is queued. Pull-style consumers (a timer draining both queues) use
`PrioritySender.receive`, which always empties the high queue first.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from azure.storage.queue import QueueMessage

from ._tables import utcnow
from ._tracecontext import with_traceparent
from .errors import InvalidArgument
from .postpone import postpone
from .settings import setting
from .storage import StorageAccount
from .transport import MAX_STORAGE_DELAY


class Priority(str, Enum):
    """Which queue a job goes to."""

    HIGH = "high"  # latency-sensitive work: consumed first, with more concurrency
    NORMAL = "normal"  # everything else: consumed when high work does not need the capacity


@dataclass(frozen=True)
class PriorityQueues:
    """The queue names for a base name.

    Attributes
    ----------
    base:
        The base name, e.g. ``"jobs"``.
    suffixes:
        Suffix per priority; ``-high`` and ``-normal`` by default.
    """

    base: str = "jobs"
    suffixes: Mapping[Priority, str] = field(
        default_factory=lambda: {Priority.HIGH: "-high", Priority.NORMAL: "-normal"}
    )

    def name(self, priority: Priority) -> str:
        """The queue name for `priority`."""
        return f"{self.base}{self.suffixes[Priority(priority)]}"

    @property
    def high(self) -> str:
        return self.name(Priority.HIGH)

    @property
    def normal(self) -> str:
        return self.name(Priority.NORMAL)

    @classmethod
    def from_settings(
        cls,
        base_setting: str = "JOBS_QUEUE",
        default: str = "jobs",
        environ: Mapping[str, str] | None = None,
    ) -> PriorityQueues:
        """Queues whose base name comes from setting `base_setting` (or `default`)."""
        return cls(setting(base_setting, default, environ))


@dataclass(frozen=True)
class SentMessage:
    """Where a job was sent: the queue, the priority and the message id."""

    queue: str
    priority: Priority
    message_id: str


class PrioritySender:
    """Sends jobs to the queue of their priority, and receives high first.

    Parameters
    ----------
    account:
        Where the queues live (created on first use).
    queues:
        The queue names.
    base64_encode:
        As a queue-triggered Function expects by default.
    """

    def __init__(
        self,
        account: StorageAccount,
        queues: PriorityQueues = PriorityQueues(),
        *,
        base64_encode: bool = True,
    ) -> None:
        self.account = account
        self.queues = queues
        self.base64_encode = base64_encode

    async def send(
        self,
        body: Any,
        priority: Priority = Priority.NORMAL,
        *,
        delay: timedelta | None = None,
        time_to_live: timedelta | None = None,
    ) -> SentMessage:
        """Queue `body` (str, bytes, or JSON-serialisable) at `priority`.

        Parameters
        ----------
        delay:
            Keep the message invisible this long, at most 7 days (Azure's cap; for a
            later time use `shared.delayed.DelayedQueue` on the priority's queue).
        time_to_live:
            Drop the message if not processed within this time; by default it never
            expires (Storage's own default, 7 days, would drop a job that waited that long).

        Raises
        ------
        InvalidArgument
            `body` is neither text, bytes nor JSON-serialisable, or `delay` is over 7 days.
        """
        if delay is not None and delay > MAX_STORAGE_DELAY:
            raise InvalidArgument(
                f"a queue message can be hidden for 7 days at most, not {delay}: "
                "use shared.delayed.DelayedQueue for a later time"
            )
        name = self.queues.name(priority)
        client = await self.account.ensure_queue(name)
        sent = await client.send_message(
            self._encode(body),
            visibility_timeout=None if delay is None else math.ceil(delay.total_seconds()),
            time_to_live=-1 if time_to_live is None else math.ceil(time_to_live.total_seconds()),
        )
        return SentMessage(name, Priority(priority), str(sent.id))

    async def backlog(self) -> dict[Priority, int]:
        """Approximate number of messages waiting per priority."""
        counts = {}
        for priority in Priority:
            client = await self.account.ensure_queue(self.queues.name(priority))
            props = await client.get_queue_properties()
            counts[priority] = int(props.approximate_message_count or 0)
        return counts

    async def receive(
        self, max_messages: int = 16, *, visibility_timeout: timedelta = timedelta(minutes=5)
    ) -> list[tuple[Priority, QueueMessage]]:
        """Up to `max_messages`, taking from the high queue first and topping up from normal.

        The caller deletes each message (``account.queue(...).delete_message``) when done.
        """
        got: list[tuple[Priority, QueueMessage]] = []
        for priority in (Priority.HIGH, Priority.NORMAL):
            want = max_messages - len(got)
            if want <= 0:
                break
            client = await self.account.ensure_queue(self.queues.name(priority))
            got.extend(
                [
                    (priority, message)
                    async for message in client.receive_messages(
                        messages_per_page=min(want, 32),
                        max_messages=want,
                        visibility_timeout=math.ceil(visibility_timeout.total_seconds()),
                    )
                ]
            )
        return got

    def _encode(self, body: Any) -> str:
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            if isinstance(body, Mapping):
                body = with_traceparent(body)
            try:
                raw = json.dumps(body, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"job body is not JSON-serialisable: {exc}") from None
        return base64.b64encode(raw).decode() if self.base64_encode else raw.decode()


class PriorityGate:
    """Lets normal-priority work step aside while high-priority work is waiting.

    Parameters
    ----------
    account, queues:
        Where the queues are.
    threshold:
        Step aside when more than this many high-priority messages are waiting *and
        visible* (messages some worker is already running are not waiting).
    delay:
        How long a message that steps aside stays invisible on the normal queue.
    max_hold:
        Normal work is held back at most this long in all (counted from its first step
        aside), then runs whatever waits: it is never starved. Only a JSON-object body can
        carry that count (in `HELD_SINCE`); any other body is never held.
    """

    def __init__(
        self,
        account: StorageAccount,
        queues: PriorityQueues = PriorityQueues(),
        *,
        threshold: int = 0,
        delay: timedelta = timedelta(seconds=30),
        max_hold: timedelta = timedelta(minutes=2),
    ) -> None:
        self.account = account
        self.queues = queues
        self.threshold = threshold
        self.delay = delay
        self.max_hold = max_hold
        self._sender = PrioritySender(account, queues)

    async def should_yield(self) -> bool:
        """True if more than `threshold` high-priority messages are visible (waiting)."""
        client = await self.account.ensure_queue(self.queues.high)
        waiting = await client.peek_messages(max_messages=min(32, self.threshold + 1))
        return len(waiting) > self.threshold

    async def step_aside(self, body: Any) -> bool:
        """Put a normal-priority message's `body` back for later when high-priority work
        waits; True when it did (the function then returns at once). The run is marked
        postponed (`shared.postpone`), so `@idempotent` lets its key go instead of
        recording it done, whichever decorator is outermost; the host deletes this copy
        (returning does not count towards maxDequeueCount, as raising would).

        `body`: the message's body as received (`msg.get_body()` or its JSON).
        """
        payload = _json_object(body)
        if payload is None:
            return False  # cannot carry how long it was held: never held
        now = utcnow()
        since = _held_since(payload) or now
        if now - since >= self.max_hold or not await self.should_yield():
            return False
        await self._sender.send(
            {**payload, HELD_SINCE: since.isoformat()}, Priority.NORMAL, delay=self.delay
        )
        postpone()
        return True


HELD_SINCE = "_priorityHeldSince"  # in a held body: when it first stepped aside


def _json_object(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict):
        return body
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _held_since(payload: dict[str, Any]) -> datetime | None:
    raw = payload.get(HELD_SINCE)
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
