"""The Service Bus output binding (semantics §5, §7): to a queue or a topic; str or bytes,
JSON arrays fanned out to one message each."""

from __future__ import annotations

import contextlib
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
    """One sender per entity, shared by every invocation of the function.

    The SDK opens a sender's link lazily and not safely under concurrency: several first
    sends at once left it half-made for good. So a sender is opened once, under a lock,
    before anyone sends on it; a send that fails drops it (it is closed), and the next
    write opens a fresh one (after a lost connection, say).
    """

    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        self._what = f"Service Bus output '{binding.name}'"
        self.spec = ServiceBusOutputSpec.from_binding(binding, services.environ, self._what)
        self._client = services.clients.service_bus(self.spec.connection, what=self._what)
        self._senders: dict[str, Any] = {}
        self._opening = anyio.Lock()

    async def write(self, value: Datum, invocation: Invocation) -> None:
        messages = [ServiceBusMessage(item) for item in items(value)]
        if not messages:
            return
        entity = resolve(self.spec.entity, invocation.binding_data, what=self._what)
        sender = await self._sender(entity)
        try:
            await sender.send_messages(messages)
        except BaseException:
            await self._drop(entity, sender)
            raise

    async def _drop(self, entity: str, sender: Any) -> None:
        """Forget a sender whose send failed (once, if several sends failed on it)."""
        if id(self._senders.get(entity)) != id(sender):  # (`is` would narrow Any to Optional)
            return
        del self._senders[entity]
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await sender.close()

    async def _sender(self, entity: str) -> Any:
        sender = self._senders.get(entity)
        if sender is not None:
            return sender
        async with self._opening:
            sender = self._senders.get(entity)
            if sender is None:
                client = self._client
                make = client.get_topic_sender if self.spec.topic else client.get_queue_sender
                sender = make(entity)
                await sender.__aenter__()  # opens the link (the SDK's `async with`)
                self._senders[entity] = sender
            return sender
