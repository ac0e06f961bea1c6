"""Blob input and output bindings (semantics §7): the path holds binding expressions
(`thumbnails/{name}`); inputs read the blob (absent: None), outputs write it whole and wake
this host's blob scanner for that container (§3.4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.meta import Datum

from funchost.core.converters import SDK_PREFIX
from funchost.core.expressions import resolve, resolve_settings
from funchost.core.invocation import Invocation
from funchost.core.services import HostServices
from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.errors import BindingError
from funchost.storage.blob_sdk import BlobSdkObjects
from funchost.storage.blobs import blob_container_key, ensure_container
from funchost.storage.notify import QueueNotifier

UPLOAD_OPTIONS = {"max_concurrency": 4}  # block sizes are set on the client (clients.py)


@dataclass(frozen=True)
class BlobBindingSpec:
    path: str  # container/blob, with {expressions}
    connection: str | None
    as_string: bool

    @classmethod
    def from_binding(cls, binding: BindingInfo, environ: Any, what: str) -> BlobBindingSpec:
        raw = binding.text("path")
        if not raw or "/" not in raw.strip("/"):
            raise BindingError(f"{what}: path must be 'container/blob', got {raw!r}")
        as_string = (binding.text("dataType") or "").lower() == "string"
        return cls(resolve_settings(raw, environ, what=what), binding.text("connection"), as_string)


class _BlobBinding:
    def __init__(self, binding: BindingInfo, services: HostServices, kind: str) -> None:
        self._what = f"blob {kind} '{binding.name}'"
        self.spec = BlobBindingSpec.from_binding(binding, services.environ, self._what)
        self._service = services.clients.blob_service(self.spec.connection, what=self._what)
        self._services = services

    def _path(self, invocation: Invocation) -> tuple[str, str]:
        """The container (lower-cased) and blob name the path resolves to."""
        path = resolve(self.spec.path, invocation.binding_data, what=self._what)
        container, _, name = path.strip("/").partition("/")
        if not name:
            raise BindingError(f"{self._what}: path '{path}' has no blob name")
        if any(part in (".", "..") for part in name.replace("\\", "/").split("/")):
            # A request URL with ../ would be normalised into another container: a value
            # from a request or a message must not reach outside the binding's container.
            raise BindingError(f"{self._what}: blob name '{name}' has a '.' or '..' segment")
        return container.lower(), name

    def _blob(self, invocation: Invocation) -> tuple[str, Any]:
        container, name = self._path(invocation)
        return container, self._service.get_blob_client(container, name)


class BlobInput(_BlobBinding):
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        super().__init__(binding, services, "input")
        self._name = binding.name
        self._sdk: BlobSdkObjects | None = None
        self._sdk_known = False  # whether the parameter was looked at (on the first read)

    async def read(self, invocation: Invocation) -> Datum | None:
        sdk = self._sdk_objects(invocation.function)
        if sdk is not None:
            # An SDK-type parameter: no download, the function gets a client.
            return await sdk.datum(*self._path(invocation))
        _, blob = self._blob(invocation)
        try:
            data = await (await blob.download_blob()).readall()
        except ResourceNotFoundError:
            return None
        return (
            Datum(data.decode("utf-8"), "string") if self.spec.as_string else Datum(data, "bytes")
        )

    def _sdk_objects(self, function: FunctionSpec) -> BlobSdkObjects | None:
        """For an SDK-type parameter (its converter key says so, core/signature.py), the
        maker of its objects; found on the first read, where the function is known."""
        if not self._sdk_known:
            param = next(p for p in function.inputs if p.binding.name == self._name)
            if param.converter.startswith(SDK_PREFIX):
                self._sdk = BlobSdkObjects(
                    self._services, self.spec.connection, param.pytype, self._what
                )
            self._sdk_known = True
        return self._sdk


class BlobOutput(_BlobBinding):
    def __init__(self, binding: BindingInfo, services: HostServices) -> None:
        super().__init__(binding, services, "output")
        self._containers: set[str] = set()  # known to exist

    async def write(self, value: Datum, invocation: Invocation) -> None:
        data = value.value
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif value.type in ("dict", "list", "int", "double", "bool"):
            data = json.dumps(data).encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise BindingError(f"{self._what}: cannot write a {value.type} value")
        container, blob = self._blob(invocation)
        if container not in self._containers:
            # Created before the first upload: a large one goes up in parallel blocks, and
            # a missing container would fail them all at once.
            await ensure_container(self._service.get_container_client(container))
            self._containers.add(container)
        try:
            await blob.upload_blob(data, overwrite=True, **UPLOAD_OPTIONS)
        except ResourceNotFoundError:  # deleted since: once more, after creating it
            await ensure_container(self._service.get_container_client(container))
            await blob.upload_blob(data, overwrite=True, **UPLOAD_OPTIONS)
        QueueNotifier.of(self._services).notify(blob_container_key(container))
