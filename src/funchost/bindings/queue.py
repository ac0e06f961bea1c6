"""The queue output binding (semantics §7): queue name lower-cased, with binding
expressions; created when missing; each item encoded per messageEncoding; a listener on
that queue in this host is woken at once (§2.1.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.meta import Datum

from funchost.bindings.fanout import items
from funchost.core.expressions import required_setting, resolve
from funchost.core.invocation import Invocation
from funchost.core.services import HostServices
from funchost.core.spec import BindingInfo
from funchost.core.telemetry import stamp_json
from funchost.storage.notify import QueueNotifier
from funchost.storage.queues import Codec, ensure_queue


@dataclass(frozen=True)
class QueueOutputSpec:
    queue_name: str  # may hold {expressions}
    connection: str | None

    @classmethod
    def from_binding(cls, binding: BindingInfo, environ: Any) -> QueueOutputSpec:
        what = f"queue output '{binding.name}'"
        return cls(
            required_setting(binding, "queueName", environ, what=what), binding.text("connection")
        )


class QueueOutput:
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        self.spec = QueueOutputSpec.from_binding(binding, services.environ)
        self._what = f"queue output '{binding.name}'"
        self._service = services.clients.queue_service(self.spec.connection, what=self._what)
        self._codec = Codec(services.config.queues.message_encoding)
        self._notifier = QueueNotifier.of(services)
        self._created: set[str] = set()

    async def write(self, value: Datum, invocation: Invocation) -> None:
        name = resolve(self.spec.queue_name, invocation.binding_data, what=self._what).lower()
        client = self._service.get_queue_client(name)
        if name not in self._created:
            await ensure_queue(client)
            self._created.add(name)
        for item in items(value):
            content = self._codec.encode(stamp_json(item))
            try:
                await client.send_message(content)
            except ResourceNotFoundError:  # deleted since: create it again, once
                await ensure_queue(client)
                await client.send_message(content)
        self._notifier.notify(name)
