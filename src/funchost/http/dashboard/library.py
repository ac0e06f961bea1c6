"""The jobs library (`shared/`) seen from the host: imported only when the app uses it.

The dashboard and `funchost poison` list, replay and purge poison and dead-lettered messages
through `shared.deadletters`, and show jobs through `shared.status`. The app "uses the
library" when it imported `shared` (the host loaded it); otherwise those features are off
and the dashboard says why.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

STATUS_TABLE_SETTING = "FUNCHOST_DASHBOARD_STATUS_TABLE"
NOT_USED = (
    "this app does not use the jobs library (shared/): install it in the app to list, "
    "replay and purge messages and to see jobs"
)


def loaded(part: str = "storage") -> bool:
    """Whether the app imported the jobs library (its `part`)."""
    return "shared" in sys.modules and f"shared.{part}" in sys.modules


def module(name: str) -> Any:
    """`shared.<name>` (imported now if the app has the library)."""
    return importlib.import_module(f"shared.{name}")


class Library:
    """The library's objects for one host's settings, made on first use."""

    def __init__(self, environ: Mapping[str, str], encoding: str, host_id: str) -> None:
        self._environ = environ
        self._encoding = encoding
        self._host_id = host_id
        self._accounts: dict[str, Any] = {}
        self._namespaces: dict[str, Any] = {}
        self._statuses: Any = None

    def account(self, connection: str | None) -> Any:
        name = connection or "AzureWebJobsStorage"
        if name not in self._accounts:
            storage = module("storage")
            self._accounts[name] = storage.StorageAccount.from_settings(name, self._environ)
        return self._accounts[name]

    def namespace(self, connection: str | None) -> Any:
        name = connection or "ServiceBus"
        if name not in self._namespaces:
            servicebus = module("servicebus")
            self._namespaces[name] = servicebus.ServiceBusNamespace.from_settings(
                name, self._environ
            )
        return self._namespaces[name]

    def statuses(self) -> Any:
        """The status store (table `FUNCHOST_DASHBOARD_STATUS_TABLE`, default JobStatus)."""
        if self._statuses is None:
            status = module("status")
            table = self._environ.get(STATUS_TABLE_SETTING) or status.DEFAULT_TABLE
            self._statuses = status.StatusStore(self.account(None), table=table)
        return self._statuses

    def poison(self, kind: str, entity: str, connection: str | None) -> Any:
        """A `StoragePoisonQueue` or `ServiceBusDeadLetters` for a source."""
        deadletters = module("deadletters")
        if kind == "servicebus":
            topic, _, subscription = entity.partition("/Subscriptions/")
            where = {"topic": topic, "subscription": subscription} if subscription else {}
            return deadletters.ServiceBusDeadLetters(
                self.namespace(connection),
                **(where or {"queue": entity}),
                statuses=self.statuses(),
            )
        if kind == "blob":
            return deadletters.StoragePoisonQueue.for_blob_trigger(
                self.account(connection),
                self._host_id,
                statuses=self.statuses(),
                encoding=self._encoding,
            )
        return deadletters.StoragePoisonQueue.for_queue(
            self.account(connection), entity, statuses=self.statuses(), encoding=self._encoding
        )

    async def close(self) -> None:
        """Close the clients opened on this event loop."""
        for holder in [*self._accounts.values(), *self._namespaces.values()]:
            await holder.close()
