"""The queue trigger (semantics §2): the WebJobs queue loop (`queue_poller`) on the
function's queue, `<queue>-poison` for messages that fail maxDequeueCount times, and the
message's metadata and JSON properties as trigger data (§2.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import anyio
from anyio.abc import TaskStatus
from azure.functions.meta import Datum

from funchost.core.expressions import has_parameters, required_setting
from funchost.core.invocation import Invocation, Invoke, Outcome
from funchost.core.services import HostServices
from funchost.core.spec import FunctionSpec
from funchost.errors import BindingError
from funchost.storage.notify import QueueNotifier
from funchost.storage.queue_poller import PollerSettings, QueuePoller, lease_seconds
from funchost.storage.queues import Codec, poison_queue_name

MAX_VALUE_TIME = "9999-12-31T23:59:59.9999999+00:00"  # DateTimeOffset.MaxValue


@dataclass(frozen=True)
class QueueTriggerSpec:
    queue_name: str
    connection: str | None

    @classmethod
    def from_function(cls, spec: FunctionSpec, environ: Any) -> QueueTriggerSpec:
        what = f"queue trigger of '{spec.name}'"
        name = required_setting(spec.trigger, "queueName", environ, what=what).lower()
        if has_parameters(name):
            raise BindingError(
                f"{what}: queueName '{spec.trigger.text('queueName')}' cannot "
                "use binding expressions"
            )
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
        "Id": msg.id,
        "DequeueCount": msg.dequeue_count,
        "PopReceipt": msg.pop_receipt,
        "InsertionTime": _iso(msg.inserted_on),
        "ExpirationTime": _iso(msg.expires_on) or MAX_VALUE_TIME,
        "NextVisibleTime": _iso(msg.next_visible_on),
    }
    metadata = {
        k: Datum(v, "int" if k == "DequeueCount" else "string")
        for k, v in values.items()
        if v is not None
    }
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
                metadata[key] = (
                    Datum(value, "string")
                    if isinstance(value, str)
                    else Datum(json.dumps(value), "json")
                )
    return metadata, values


class QueueTrigger:
    def __init__(self, spec: FunctionSpec, services: HostServices, invoke: Invoke) -> None:
        self.spec = spec
        self.trigger = QueueTriggerSpec.from_function(spec, services.environ)
        self._invoke = invoke
        options = services.config.queues
        service = services.clients.queue_service(
            self.trigger.connection, what=f"queue trigger of '{spec.name}'"
        )
        name = self.trigger.queue_name
        poison_name = poison_queue_name(name)
        poison = service.get_queue_client(poison_name) if poison_name else None
        self._reason = f"New queue message detected on '{name}'."
        notifier = QueueNotifier.of(services)
        self._poller = QueuePoller(
            service.get_queue_client(name),
            lambda _msg: poison,
            PollerSettings(
                options.batch_size,
                options.new_batch_threshold,
                options.max_dequeue_count,
                options.visibility_timeout,
                options.max_polling_interval,
                lease_seconds(services.environ),
            ),
            Codec(options.message_encoding),
            self._run_message,
            notifier.watch(name),
            services.stopping,
            f"queue '{name}' of function '{spec.name}'",
            notifier.notify,
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await self._poller.run()

    async def backlog(self) -> int:
        return await self._poller.backlog()

    async def _run_message(self, msg: Any, body: bytes) -> Outcome:
        metadata, values = trigger_data(msg, body)
        return await self._invoke(
            Invocation(self.spec, message_datum(body), self._reason, metadata, values)
        )

    async def call(self, input: str | None) -> Outcome:
        # An admin call: a message with that body, no id, dequeue count 0 (§6.6).
        body = (input or "").encode("utf-8")
        metadata = {"DequeueCount": Datum(0, "int"), "QueueTrigger": Datum(input or "", "string")}
        return await self._invoke(
            Invocation(
                self.spec,
                message_datum(body),
                "This function was programmatically called via the host APIs.",
                metadata,
                {"QueueTrigger": input or "", "DequeueCount": 0},
            )
        )
