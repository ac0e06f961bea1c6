"""The Service Bus output binding (semantics §5, §7): to a queue or a topic; str or bytes,
JSON arrays fanned out to one message each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        self._what = f"Service Bus output '{binding.name}'"
        self.spec = ServiceBusOutputSpec.from_binding(binding, services.environ, self._what)
        self._client = services.clients.service_bus(self.spec.connection, what=self._what)
        self._senders: dict[str, Any] = {}

    async def write(self, value: Datum, invocation: Invocation) -> None:
        entity = resolve(self.spec.entity, invocation.binding_data, what=self._what)
        sender = self._senders.get(entity)
        if sender is None:
            make = (
                self._client.get_topic_sender if self.spec.topic else self._client.get_queue_sender
            )
            sender = self._senders[entity] = make(entity)
        messages = [ServiceBusMessage(item) for item in items(value)]
        if messages:
            await sender.send_messages(messages)
