"""Service Bus clients for the jobs library, from a connection string or an app setting.

    namespace = ServiceBusNamespace.from_settings()          # ServiceBusConnection
    async with namespace.client().get_queue_sender("replies") as sender: ...

Like `StorageAccount`, it does no I/O until a client is used, and keeps one async
`ServiceBusClient` per event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from azure.servicebus.aio import ServiceBusClient

from ._loopcache import LoopCache
from .errors import SettingError
from .settings import resolve_connection

DEFAULT_SETTING = "ServiceBusConnection"


class ServiceBusNamespace:
    """One Service Bus namespace: an async `ServiceBusClient` on demand.

    Parameters
    ----------
    connection_string:
        A namespace connection string, or None with `fully_qualified_namespace`.
    fully_qualified_namespace:
        For identity-based access, e.g. ``"myns.servicebus.windows.net"``.
    credential_factory:
        Builds an async credential, once per event loop.
    """

    def __init__(
        self,
        connection_string: str | None = None,
        *,
        fully_qualified_namespace: str | None = None,
        credential_factory: Callable[[], Any] | None = None,
    ) -> None:
        if connection_string is None and not (fully_qualified_namespace and credential_factory):
            raise SettingError(
                "connection_string",
                "give a connection string, or a fully "
                "qualified namespace with a credential factory",
            )
        self.connection_string = connection_string
        self.fully_qualified_namespace = fully_qualified_namespace
        self._credential_factory = credential_factory
        self._clients = LoopCache()

    @classmethod
    def from_settings(
        cls, name: str = DEFAULT_SETTING, environ: Mapping[str, str] | None = None
    ) -> ServiceBusNamespace:
        """The namespace named by setting `name`.

        Raises
        ------
        SettingError
            If the setting is missing, or its identity section has no fullyQualifiedNamespace.
        """
        conn = resolve_connection(name, environ)
        if conn.value is not None:
            return cls(conn.value)
        fqns = conn.section.get("fullyqualifiednamespace")
        if not fqns:
            raise SettingError(
                conn.name, "identity-based connection needs __fullyQualifiedNamespace"
            )
        client_id = conn.section.get("clientid")

        def credential() -> Any:
            from azure.identity.aio import DefaultAzureCredential

            return DefaultAzureCredential(managed_identity_client_id=client_id)

        return cls(fully_qualified_namespace=fqns, credential_factory=credential)

    def client(self) -> ServiceBusClient:
        """The `ServiceBusClient` for the running event loop."""
        return self._clients.get("client", self._create)

    async def close(self) -> None:
        """Close the client opened on the running event loop."""
        for client in self._clients.pop_current():
            await client.close()

    async def __aenter__(self) -> ServiceBusNamespace:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _create(self) -> ServiceBusClient:
        if self.connection_string is not None:
            return ServiceBusClient.from_connection_string(self.connection_string)
        assert self._credential_factory is not None and self.fully_qualified_namespace
        credential = self._clients.get("credential", self._credential_factory)
        return ServiceBusClient(self.fully_qualified_namespace, credential)
