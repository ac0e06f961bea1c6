"""The queues and entities the app's triggers read, where their failed messages go, and how
many wait in each: storage queue depths from Storage's estimate, Service Bus counts by
peeking (nothing is locked; a count stops at `PEEK_CAP`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from funchost.core.expressions import resolve_settings
from funchost.core.logs import brief
from funchost.core.spec import FunctionSpec
from funchost.storage.queues import BLOB_TRIGGER_POISON, blob_trigger_queue, poison_queue_name

log = logging.getLogger("funchost.dashboard")

PEEK_CAP = 1000  # messages counted per entity by peeking, at most
_PAGE = 100


@dataclass(frozen=True)
class Source:
    """Where one or more functions read, and where failures go (see `SourceRow`)."""

    kind: str  # "queue", "blob", "servicebus"
    entity: str
    failed_entity: str | None
    connection: str | None
    functions: tuple[str, ...]
    sessions: bool = False

    @property
    def source(self) -> str:
        return "blob" if self.kind == "blob" else f"{self.kind}:{self.entity}"


def sources_of(specs: tuple[FunctionSpec, ...], environ: Any, host_id: str) -> list[Source]:
    """One source per distinct queue, blob host queue or Service Bus entity, in the order of
    the functions."""
    found: dict[tuple[str, str], Source] = {}
    for spec in specs:
        source = _source(spec, environ, host_id)
        if source is None:
            continue
        key = (source.kind, source.entity.lower())
        if key in found:
            old = found[key]
            found[key] = Source(
                old.kind,
                old.entity,
                old.failed_entity,
                old.connection,
                (*old.functions, spec.name),
                old.sessions,
            )
        else:
            found[key] = source
    return list(found.values())


def _source(spec: FunctionSpec, environ: Any, host_id: str) -> Source | None:
    trigger = spec.trigger
    kind = trigger.type.lower()
    connection = trigger.text("connection")

    def setting(key: str) -> str:
        return resolve_settings(str(trigger.get(key) or ""), environ, what=spec.name)

    if kind == "queuetrigger":
        queue = setting("queueName").lower()
        return Source("queue", queue, poison_queue_name(queue), connection, (spec.name,))
    if kind == "blobtrigger":
        queue = blob_trigger_queue(host_id)
        return Source("blob", queue, BLOB_TRIGGER_POISON, connection, (spec.name,))
    if kind == "servicebustrigger":
        topic = setting("topicName") if trigger.get("topicName") else ""
        entity = f"{topic}/Subscriptions/{setting('subscriptionName')}" if topic else ""
        entity = entity or setting("queueName")
        sessions = str(trigger.get("isSessionsEnabled", "")).lower() == "true"
        return Source(
            "servicebus",
            entity,
            f"{entity}/$DeadLetterQueue",
            connection,
            (spec.name,),
            sessions,
        )
    return None


async def queue_depth(service: Any, queue: str | None) -> int | None:
    """Storage's estimate of `queue`'s messages (0 for a queue not made yet)."""
    if queue is None:
        return None
    try:
        props = await service.get_queue_client(queue).get_queue_properties()
    except ResourceNotFoundError:
        return 0
    return int(props.approximate_message_count or 0)


class PeekCounter:
    """Counts Service Bus messages by peeking, on receivers kept open between refreshes
    (opening one costs several round trips). Closed with the host's Service Bus client."""

    def __init__(self) -> None:
        self._receivers: dict[tuple[int, str, bool], Any] = {}

    async def count(self, client: Any, entity: str, dead_letters: bool) -> int:
        key = (id(client), entity, dead_letters)
        receiver = self._receivers.get(key)
        if receiver is None:
            receiver = self._receivers[key] = _receiver(client, entity, dead_letters)
        try:
            return await _peek_count(receiver)
        except Exception:
            self._receivers.pop(key, None)  # a broken link is made again next time
            raise


def _receiver(client: Any, entity: str, dead_letters: bool) -> Any:
    from azure.servicebus import ServiceBusSubQueue

    options: dict[str, Any] = {"prefetch_count": 0}
    if dead_letters:
        options["sub_queue"] = ServiceBusSubQueue.DEAD_LETTER
    topic, _, subscription = entity.partition("/Subscriptions/")
    if subscription:
        return client.get_subscription_receiver(topic, subscription, **options)
    return client.get_queue_receiver(entity, **options)


async def _peek_count(receiver: Any) -> int:
    count, start = 0, 1  # explicit: without it the SDK goes on from its last peek
    while count < PEEK_CAP:
        page = await receiver.peek_messages(max_message_count=_PAGE, sequence_number=start)
        if not page:
            break
        count += len(page)
        start = max(int(m.sequence_number or 0) for m in page) + 1
    return min(count, PEEK_CAP)


def failure_note(what: str, exc: BaseException) -> str:
    log.debug("dashboard: %s failed", what, exc_info=exc)
    return f"{what}: {brief(exc)}"
