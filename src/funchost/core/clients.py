"""Azure SDK `.aio` clients, one per connection and service, shared by every plug-in.

Connections resolve per semantics §9: a connection string (with `UseDevelopmentStorage=true`
expanded), or an identity-based section (`X__serviceUri`, `X__queueServiceUri`, ...,
`X__fullyQualifiedNamespace`) used with azure-identity's credential.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from funchost.config import connections
from funchost.config.connections import Connection
from funchost.errors import BindingError

# The storage SDKs default to waiting 15 s, 18 s, 24 s between retries; a listener with its
# own backoff wants to hear of an outage in seconds, and a binding write still gets retries.
STORAGE_RETRY: dict[str, Any] = {"retry_total": 2, "initial_backoff": 0.5, "increment_base": 2}
TABLE_RETRY: dict[str, Any] = {"retry_total": 2, "retry_backoff_factor": 0.5}
# Blobs move in 4 MiB blocks and ranges, so a large one streams rather than travelling as
# one huge request.
BLOB_IO: dict[str, Any] = {
    "max_single_put_size": 4 * 1024 * 1024,
    "max_block_size": 4 * 1024 * 1024,
    "max_single_get_size": 4 * 1024 * 1024,
    "max_chunk_get_size": 4 * 1024 * 1024,
}


class ClientCache:
    """Creates clients lazily and closes them all on `aclose()`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._clients: dict[tuple[str, ...] | tuple[str, str, int | None], Any] = {}
        self._credentials: list[Any] = []
        self._sync: dict[str, Any] = {}  # blocking clients, by connection
        self._sync_credentials: list[Any] = []

    def connection(self, name: str | None, *, what: str) -> Connection:
        return connections.require(name, self._environ, what=what)

    def blob_service(self, name: str | None, *, what: str = "blob binding") -> Any:
        from azure.storage.blob.aio import BlobServiceClient

        return self._storage("blob", BlobServiceClient, name, what, {**STORAGE_RETRY, **BLOB_IO})

    def sync_blob_service(self, name: str | None, *, what: str = "blob binding") -> Any:
        """A blocking `azure.storage.blob.BlobServiceClient`, with the SDK's own defaults,
        for what user code is handed (SDK-type bindings: the extension gives sync clients).
        Its child clients share its transport without owning it, so one serves them all."""
        from azure.storage.blob import BlobServiceClient

        conn = self.connection(name, what=what)
        client = self._sync.get(conn.name)
        if client is None:
            if conn.is_identity:
                credential = _choose_credential(conn, sync=True)
                self._sync_credentials.append(credential)
                client = BlobServiceClient(conn.storage_service_url("blob"), credential=credential)
            else:
                client = BlobServiceClient.from_connection_string(conn.storage_connection_string())
            self._sync[conn.name] = client
        return client

    def queue_service(self, name: str | None, *, what: str = "queue binding") -> Any:
        from azure.storage.queue.aio import QueueServiceClient

        return self._storage("queue", QueueServiceClient, name, what, STORAGE_RETRY)

    def table_service(self, name: str | None, *, what: str = "table binding") -> Any:
        from azure.data.tables.aio import TableServiceClient

        return self._storage("table", TableServiceClient, name, what, TABLE_RETRY)

    def service_bus(
        self,
        name: str | None,
        *,
        what: str = "Service Bus binding",
        retry_total: int | None = None,
    ) -> Any:
        """A ServiceBusClient for connection `name` (default `ServiceBus`, that is
        `AzureWebJobsServiceBus`): a connection string, or `X__fullyQualifiedNamespace`.
        `retry_total`: the SDK's retries per operation (its default 3 when None)."""
        from azure.servicebus.aio import ServiceBusClient

        conn = self.connection(name or "ServiceBus", what=what)
        key = ("servicebus", conn.name, retry_total)
        client = self._clients.get(key)
        options: dict[str, Any] = {} if retry_total is None else {"retry_total": retry_total}
        if client is None:
            if conn.value is not None:
                client = ServiceBusClient.from_connection_string(conn.value, **options)
            else:
                namespace = conn.section.get("fullyqualifiednamespace")
                if not namespace:
                    raise BindingError(
                        f"{what}: connection '{conn.name}' needs "
                        f"{conn.name}__fullyQualifiedNamespace"
                    )
                client = ServiceBusClient(namespace, self._credential(conn), **options)
            self._clients[key] = client
        return client

    def _storage(
        self, service: str, cls: Any, name: str | None, what: str, options: dict[str, Any]
    ) -> Any:
        conn = self.connection(name, what=what)
        key = (service, conn.name)
        client = self._clients.get(key)
        if client is None:
            if conn.is_identity:
                client = cls(
                    conn.storage_service_url(service), credential=self._credential(conn), **options
                )
            else:
                client = cls.from_connection_string(conn.storage_connection_string(), **options)
            self._clients[key] = client
        return client

    def _credential(self, conn: Connection) -> Any:
        cred = _choose_credential(conn, sync=False)
        self._credentials.append(cred)
        return cred

    def credential_for(self, conn: Connection) -> Any:
        """A token credential for an identity-based connection (Service Bus uses this)."""
        return self._credential(conn)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        creds, self._credentials = self._credentials, []
        sync = [*self._sync.values(), *self._sync_credentials]
        self._sync, self._sync_credentials = {}, []
        for client in clients + creds:
            with contextlib.suppress(Exception):  # closing is best effort at shutdown
                await client.close()
        for client in sync:
            with contextlib.suppress(Exception):
                client.close()


def _choose_credential(conn: Connection, *, sync: bool) -> Any:
    """`X__credential=managedidentity` (with `X__clientId`): a managed identity; otherwise
    DefaultAzureCredential, which also finds a developer's Azure CLI login locally."""
    if sync:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    else:
        from azure.identity.aio import (  # type: ignore[assignment]
            DefaultAzureCredential,
            ManagedIdentityCredential,
        )
    client_id = conn.section.get("clientid")
    if conn.section.get("credential", "").lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)
