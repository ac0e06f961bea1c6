"""Storage clients for the jobs library, from a connection string or an app setting.

Every store takes a `StorageAccount`, so the tables, containers and queues it uses all come
from one place:

    account = StorageAccount.from_settings()                 # AzureWebJobsStorage
    account = StorageAccount.from_settings("JobsStorage", environ={"JobsStorage": "..."})
    account = StorageAccount.from_connection_string("UseDevelopmentStorage=true")

Clients are the async (`.aio`) SDK clients, created lazily and cached per event loop, so
building an account does no I/O (it is safe at import time in `function_app.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from ._loopcache import LoopCache
from .errors import SettingError
from .settings import resolve_connection

DEFAULT_SETTING = "AzureWebJobsStorage"

# The well-known Azurite/Storage Emulator account (public, documented by Microsoft).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_SERVICES = ("blob", "queue", "table")
C = TypeVar("C")


def expand_development_storage(connection_string: str) -> str:
    """`UseDevelopmentStorage=true` spelled out (Azurite on 10000-10002); others unchanged.

    The SDKs differ in how they read the shorthand (and whether they honour
    `DevelopmentStorageProxyUri`), so the library expands it once itself.
    """
    parts = _pairs(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() != "true":
        return connection_string
    proxy = parts.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={proxy}:10000/{DEV_ACCOUNT};"
        f"QueueEndpoint={proxy}:10001/{DEV_ACCOUNT};"
        f"TableEndpoint={proxy}:10002/{DEV_ACCOUNT};"
    )


class StorageAccount:
    """One storage account: async Table, Blob and Queue clients on demand.

    Parameters
    ----------
    connection_string:
        A storage connection string (``UseDevelopmentStorage=true`` accepted), or None when
        `endpoints` and `credential_factory` are given.
    endpoints:
        For identity-based access: ``{"blob": url, "queue": url, "table": url}``.
    credential_factory:
        Builds an async credential (e.g. ``azure.identity.aio.DefaultAzureCredential``);
        called once per event loop, because async credentials hold a session too.
    """

    def __init__(
        self,
        connection_string: str | None = None,
        *,
        endpoints: Mapping[str, str] | None = None,
        credential_factory: Callable[[], Any] | None = None,
    ) -> None:
        if connection_string is None and not (endpoints and credential_factory):
            raise SettingError(
                "connection_string",
                "give a connection string, or endpoints with a credential factory",
            )
        self.connection_string = (
            None if connection_string is None else expand_development_storage(connection_string)
        )
        self._endpoints = dict(endpoints or {})
        self._credential_factory = credential_factory
        self._clients = LoopCache()
        self._ensured: set[tuple[str, str]] = set()

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageAccount:
        """The account behind `connection_string`."""
        return cls(connection_string)

    @classmethod
    def from_settings(
        cls, name: str = DEFAULT_SETTING, environ: Mapping[str, str] | None = None
    ) -> StorageAccount:
        """The account named by setting `name` (connection string or identity section).

        Parameters
        ----------
        name:
            The connection name; ``AzureWebJobsStorage`` by default.
        environ:
            The settings to read (``os.environ`` when None); tests inject their own.

        Raises
        ------
        SettingError
            If the setting is missing, or an identity section names no account or endpoint.
        """
        conn = resolve_connection(name, environ)
        if conn.value is not None:
            return cls(conn.value)
        account = conn.section.get("accountname")
        endpoints = {}
        for service in _SERVICES:
            url = conn.section.get(f"{service}serviceuri")
            if url is None and account:
                url = f"https://{account}.{service}.core.windows.net"
            if url is not None:
                endpoints[service] = url
        if not endpoints:
            raise SettingError(
                conn.name,
                "identity-based connection needs __accountName or "
                "__blobServiceUri/__queueServiceUri/__tableServiceUri",
            )
        client_id = conn.section.get("clientid")

        def credential() -> Any:
            from azure.identity.aio import DefaultAzureCredential

            return DefaultAzureCredential(managed_identity_client_id=client_id)

        return cls(endpoints=endpoints, credential_factory=credential)

    # --- clients (async, per event loop) --------------------------------------------------

    def table_service(self) -> TableServiceClient:
        """The Table service client for the running event loop."""
        return self._clients.get("table", lambda: self._service("table", TableServiceClient))

    def blob_service(self) -> BlobServiceClient:
        """The Blob service client for the running event loop."""
        return self._clients.get("blob", lambda: self._service("blob", BlobServiceClient))

    def queue_service(self) -> QueueServiceClient:
        """The Queue service client for the running event loop."""
        return self._clients.get("queue", lambda: self._service("queue", QueueServiceClient))

    def table(self, name: str) -> TableClient:
        """A client for table `name` (not created; see `ensure_table`)."""
        return self.table_service().get_table_client(name)

    def container(self, name: str) -> ContainerClient:
        """A client for blob container `name` (not created; see `ensure_container`)."""
        return self.blob_service().get_container_client(name)

    def queue(self, name: str) -> QueueClient:
        """A client for queue `name`; message content is sent and read as given (no encoding)."""
        return self.queue_service().get_queue_client(name)

    async def ensure_table(self, name: str) -> TableClient:
        """Table `name`, created if missing (checked once per account)."""
        await self._ensure("table", name, lambda: self.table_service().create_table(name))
        return self.table(name)

    async def ensure_container(self, name: str) -> ContainerClient:
        """Container `name`, created if missing (checked once per account)."""
        await self._ensure("blob", name, lambda: self.container(name).create_container())
        return self.container(name)

    async def ensure_queue(self, name: str) -> QueueClient:
        """Queue `name`, created if missing (checked once per account)."""
        await self._ensure("queue", name, lambda: self.queue(name).create_queue())
        return self.queue(name)

    async def close(self) -> None:
        """Close the clients opened on the running event loop."""
        for client in self._clients.pop_current():
            await client.close()

    async def __aenter__(self) -> StorageAccount:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = (
            _pairs(self.connection_string).get("accountname", "?")
            if self.connection_string
            else ", ".join(self._endpoints.values())
        )
        return f"StorageAccount({where})"

    # --- internals ------------------------------------------------------------------------

    def _service(self, service: str, cls: type[C]) -> C:
        factory: Any = cls
        if self.connection_string is not None:
            return cast(C, factory.from_connection_string(self.connection_string))
        if service not in self._endpoints:
            raise SettingError(service, f"no {service} endpoint configured for this account")
        assert self._credential_factory is not None
        credential = self._clients.get("credential", self._credential_factory)
        return cast(C, factory(self._endpoints[service], credential=credential))

    async def _ensure(self, kind: str, name: str, create: Callable[[], Any]) -> None:
        if (kind, name) in self._ensured:
            return
        try:
            await create()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            # An identity with data rights only (e.g. "Queue Data Message Sender", least
            # privilege for an app that only sends) may not create: the infrastructure
            # created the entity, and using it reports a missing one (404) by name.
            if exc.status_code != 403:
                raise
        self._ensured.add((kind, name))


def _pairs(connection_string: str) -> dict[str, str]:
    out = {}
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out
