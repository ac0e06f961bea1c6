"""The Service Bus output binding (semantics §5, §7): to a queue or a topic; str or bytes,
JSON arrays fanned out to one message each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from azure.functions.meta import Datum
from azure.servicebus import ServiceBusMessage

from funchost.bindings.fanout import items
from funchost.core.expressions import resolve, resolve_settings
from funchost.core.invocation import Invocation
from funchost.core.services import HostServices
from funchost.core.spec import BindingInfo
from funchost.core.telemetry import trace_properties
from funchost.errors import BindingError


@dataclass(frozen=True)
class ServiceBusOutputSpec:
    entity: str  # a queue or topic name, may hold {expressions}
    connection: str | None
    topic: bool

    @classmethod
    def from_binding(cls, binding: BindingInfo, environ: Any, what: str) -> ServiceBusOutputSpec:
        raw = binding.text("queueName") or binding.text("topicName")
        if not raw:
            raise BindingError(f"{what}: set queueName or topicName")
        return cls(
            resolve_settings(raw, environ, what=what),
            binding.text("connection"),
            topic=not binding.text("queueName"),
        )


class ServiceBusOutput:
    """Sends to a queue or topic through a small pool of senders per entity, shared by
    every invocation of the function (a sender costs a connection and a link to make)."""

    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        self._what = f"Service Bus output '{binding.name}'"
        self.spec = ServiceBusOutputSpec.from_binding(binding, services.environ, self._what)
        self._client = services.clients.service_bus(self.spec.connection, what=self._what)
        self._pools: dict[str, SenderPool] = {}

    async def write(self, value: Datum, invocation: Invocation) -> None:
        messages = [
            ServiceBusMessage(i, application_properties=trace_properties()) for i in items(value)
        ]
        if not messages:
            return
        entity = resolve(self.spec.entity, invocation.binding_data, what=self._what)
        pool = self._pools.get(entity)
        if pool is None:
            client = self._client
            make = client.get_topic_sender if self.spec.topic else client.get_queue_sender
            pool = self._pools[entity] = SenderPool(lambda: make(entity))
        await pool.send(messages)


class SenderPool:
    """Up to `size` senders on one entity, each used by one send at a time.

    The SDK's async sender is not safe for concurrent sends, opened or not: several at once
    leave it half-made for good (azure-sdk-for-python#36334, measured here: 50 concurrent
    first sends, all failed). A sender is opened before its first send; one whose send
    failed is closed and not reused, so the next send opens a fresh one (after a lost
    connection, say).
    """

    def __init__(self, make: Callable[[], Any], size: int = 4) -> None:
        self._make = make
        self._size = size
        self._idle: list[Any] = []
        self._open = 0  # senders made and not closed
        self._freed = anyio.Condition()

    async def send(self, messages: list[ServiceBusMessage]) -> None:
        sender = await self._take()
        try:
            await sender.send_messages(messages)
        except BaseException:
            await self._discard(sender)
            raise
        async with self._freed:
            self._idle.append(sender)
            self._freed.notify()

    async def _take(self) -> Any:
        async with self._freed:
            while not self._idle and self._open >= self._size:
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        sender = self._make()
        try:
            await sender.__aenter__()  # opens the link (the SDK's `async with`)
        except BaseException:
            await self._discard(sender)
            raise
        return sender

    async def _discard(self, sender: Any) -> None:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await sender.close()
            async with self._freed:
                self._open -= 1
                self._freed.notify()
