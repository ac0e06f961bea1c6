"""Where failed messages go, per trigger: a storage queue's `<queue>-poison`, the blob
trigger's `webjobs-blobtrigger-poison`, a Service Bus entity's `$DeadLetterQueue`.

A source is named `queue:<name>`, `blob` or `servicebus:<entity>` (a subscription's entity
is `<topic>/Subscriptions/<subscription>`), in the dashboard's forms and on the command
line alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from funchost.core.expressions import resolve_settings
from funchost.core.spec import FunctionSpec
from funchost.errors import ConfigError
from funchost.storage.queues import BLOB_TRIGGER_POISON, blob_trigger_queue, poison_queue_name

SUBSCRIPTIONS = "/Subscriptions/"
DEAD_LETTERS = "/$DeadLetterQueue"


@dataclass(frozen=True)
class Source:
    """Where one or more functions read, and where their failed messages go.

    Attributes:
        kind: "queue", "blob" or "servicebus".
        entity: the queue, blob-trigger host queue or Service Bus entity read.
        failed_entity: where failures go (None: a queue name with no poison queue).
        connection: the trigger's connection setting name (None: the default).
        functions: the functions reading it.
        sessions: a session-enabled Service Bus entity (its active messages are not counted).
    """

    kind: str
    entity: str
    failed_entity: str | None
    connection: str | None = None
    functions: tuple[str, ...] = ()
    sessions: bool = False

    @property
    def name(self) -> str:
        return "blob" if self.kind == "blob" else f"{self.kind}:{self.entity}"


def storage_queue(queue: str, connection: str | None = None) -> Source:
    queue = queue.lower()
    return Source("queue", queue, poison_queue_name(queue), connection)


def blob_trigger(host_id: str, connection: str | None = None) -> Source:
    return Source("blob", blob_trigger_queue(host_id), BLOB_TRIGGER_POISON, connection)


def service_bus(entity: str, connection: str | None = None, sessions: bool = False) -> Source:
    return Source("servicebus", entity, entity + DEAD_LETTERS, connection, sessions=sessions)


def parse(name: str, host_id: str, connection: str | None = None) -> Source:
    """`queue:<name>`, `blob` or `servicebus:<entity>` as a source."""
    kind, _, entity = name.partition(":")
    if kind == "blob" and not entity:
        return blob_trigger(host_id, connection)
    if kind == "queue" and entity:
        return storage_queue(entity, connection)
    if kind == "servicebus" and entity:
        return service_bus(entity, connection)
    raise ConfigError(
        f"'{name}' is not a poison source: use queue:<queue name>, blob, or "
        "servicebus:<queue> / servicebus:<topic>/Subscriptions/<subscription>"
    )


def of_functions(
    specs: Iterable[FunctionSpec], environ: Mapping[str, str], host_id: str
) -> list[Source]:
    """One source per distinct queue, blob host queue or Service Bus entity the functions
    read, in the functions' order."""
    found: dict[tuple[str, str], Source] = {}
    for spec in specs:
        source = _of(spec, environ, host_id)
        if source is None:
            continue
        key = (source.kind, source.entity.lower())
        old = found.get(key)
        functions = (*old.functions, spec.name) if old else (spec.name,)
        found[key] = replace(old or source, functions=functions)
    return list(found.values())


def _of(spec: FunctionSpec, environ: Mapping[str, str], host_id: str) -> Source | None:
    trigger = spec.trigger
    kind = trigger.type.lower()
    connection = trigger.text("connection")

    def setting(key: str) -> str:
        return resolve_settings(str(trigger.get(key) or ""), environ, what=spec.name)

    if kind == "queuetrigger":
        return storage_queue(setting("queueName"), connection)
    if kind == "blobtrigger":
        return blob_trigger(host_id, connection)
    if kind == "servicebustrigger":
        topic = setting("topicName") if trigger.get("topicName") else ""
        entity = f"{topic}{SUBSCRIPTIONS}{setting('subscriptionName')}" if topic else ""
        sessions = str(trigger.get("isSessionsEnabled", "")).lower() == "true"
        return service_bus(entity or setting("queueName"), connection, sessions)
    return None
