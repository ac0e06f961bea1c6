"""The poison tool for a source, on the host's clients (`ClientCache`)."""

from __future__ import annotations

from funchost.core.clients import ClientCache
from funchost.errors import ConfigError
from funchost.ops.servicebus_dead_letters import ServiceBusDeadLetters
from funchost.ops.sources import Source
from funchost.ops.storage_poison import StoragePoison

PoisonTool = StoragePoison | ServiceBusDeadLetters


def poison_tool(source: Source, clients: ClientCache, encoding: str) -> PoisonTool:
    """`encoding`: host.json `extensions.queues.messageEncoding`, to decode storage bodies
    for reading (replays never re-encode)."""
    if source.failed_entity is None:
        raise ConfigError(
            f"queue '{source.entity}' has no poison queue (its name ends in -poison or is "
            "too long for one)"
        )
    if source.kind == "servicebus":
        client = clients.service_bus(source.connection, what="poison tools", retry_total=0)
        return ServiceBusDeadLetters(client, source.entity)
    service = clients.queue_service(source.connection, what="poison tools")
    # The blob trigger's poison queue is in the blob's account, its host queue in the host's
    # (AzureWebJobsStorage): a replay goes there.
    target = clients.queue_service(None, what="poison tools") if source.kind == "blob" else None
    return StoragePoison(service, source.failed_entity, source.entity, encoding, target)
