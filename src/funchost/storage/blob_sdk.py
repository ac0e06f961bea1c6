"""SDK-type blob bindings (azurefunctions-extensions-bindings-blob): the function gets a
blocking azure-storage-blob `BlobClient`, `ContainerClient` or `StorageStreamDownloader`
for the blob its trigger or input names, instead of the content.

What the extension builds from the host's ModelBindingData (its `blobClient.py`,
`containerClient.py`, `storageStreamDownloader.py`): a service client for the binding's
connection, then `get_blob_client(container, blob)`, `get_container_client(container)` or
`get_blob_client(...).download_blob()`; a new object for every invocation (the worker's
cache of them is gone: PW `bindings/meta.py` `deferred_bindings_decode`). The connection
resolves as for funchost's other bindings, connection strings and identity sections alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
from azure.core.exceptions import AzureError
from azure.functions.meta import Datum
from azure.storage.blob import BlobClient, ContainerClient, StorageStreamDownloader

from funchost.core.converters import SDK_DATUM
from funchost.core.services import HostServices
from funchost.errors import BindingError

log = logging.getLogger("funchost.blob")

# The SDK classes the extension's annotations derive from, in the order they are tried.
KINDS = (ContainerClient, StorageStreamDownloader, BlobClient)


def sdk_kind(pytype: Any, what: str) -> type:
    """The azure-storage-blob class an SDK annotation stands for.

    Raises:
        BindingError: the annotation is an SDK type the blob extension does not make.
    """
    for kind in KINDS:
        if isinstance(pytype, type) and issubclass(pytype, kind):
            return kind
    raise BindingError(
        f"{what}: the annotation {pytype!r} is not one of the blob extension's types "
        f"(BlobClient, ContainerClient, StorageStreamDownloader)"
    )


def extension_finds(connection: str, environ: Mapping[str, str]) -> bool:
    """Whether the extension's own lookup (its `utils.py` `get_connection_string`, case
    as the environment has it) finds the connection `connection`."""
    return any(
        f"{connection}{suffix}" in environ for suffix in ("", "__serviceUri", "__blobServiceUri")
    ) or (connection == "AzureWebJobsStorage" and "AzureWebJobsStorage__accountName" in environ)


class BlobSdkObjects:
    """Makes the SDK object for one binding's connection and annotation."""

    def __init__(
        self, services: HostServices, connection: str | None, pytype: Any, what: str
    ) -> None:
        self._kind = sdk_kind(pytype, what)
        self._what = what
        self._service = services.clients.sync_blob_service(connection, what=what)
        self._name = pytype.__name__
        if not extension_finds(connection or "", services.environ):
            found = services.clients.connection(connection, what=what).name
            log.warning(
                "%s: funchost finds its connection as '%s', but on Azure the blob extension "
                "reads the setting itself and looks only for %s, %s__serviceUri or "
                "%s__blobServiceUri: set one of those",
                what,
                found,
                connection,
                connection,
                connection,
            )

    async def datum(self, container: str, blob: str) -> Datum:
        """The object for `container/blob`, as the datum its converter passes on.

        Raises:
            BindingError: the downloader could not be made (the blob is missing, say), as
                the extension's converter fails the invocation then.
        """
        if self._kind is ContainerClient:
            return Datum(self._service.get_container_client(container), SDK_DATUM)
        client = self._service.get_blob_client(container, blob)
        if self._kind is BlobClient:
            return Datum(client, SDK_DATUM)
        try:
            # The first range comes with the downloader: a blocking request, in a thread.
            downloader = await anyio.to_thread.run_sync(client.download_blob)
        except AzureError as exc:
            raise BindingError(
                f"{self._what}: unable to create the {self._name} SDK type for "
                f"'{container}/{blob}': {type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from None
        return Datum(downloader, SDK_DATUM)
