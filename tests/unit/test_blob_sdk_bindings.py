"""SDK-type blob bindings without a network: which parameters are SDK-type (the worker's
rule), and the blocking clients they get from each kind of connection."""

from __future__ import annotations

from pathlib import Path

import anyio
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob
import pytest
from azure.functions.meta import Datum
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.blob import BlobClient, ContainerClient

from funchost.config.host_config import HostConfig
from funchost.core.clients import ClientCache
from funchost.core.converters import SDK_DATUM, converter_for, sdk_converter
from funchost.core.services import HostServices
from funchost.core.signature import bind_signature
from funchost.core.spec import BindingInfo
from funchost.errors import BindingError, FunctionLoadError
from funchost.storage.blob_sdk import BlobSdkObjects, sdk_kind

URL = "https://acct.blob.core.windows.net"


def binding(name: str, kind: str, direction: str = "in") -> BindingInfo:
    return BindingInfo(name, kind, direction, {"name": name, "type": kind, "path": "c/b"})


def test_sdk_annotation_on_a_blob_input_or_trigger_is_sdk_type() -> None:
    assert sdk_converter("blob", blob.BlobClient) is not None
    assert sdk_converter("blobTrigger", blob.StorageStreamDownloader) is not None
    assert sdk_converter("blob", bytes) is None
    assert sdk_converter("queueTrigger", blob.BlobClient) is None  # no converter for it

    def fn(trig: blob.ContainerClient, data: blob.BlobClient, raw: bytes) -> None: ...

    sig = bind_signature(
        "f",
        fn,
        (binding("trig", "blobTrigger"), binding("data", "blob"), binding("raw", "blob")),
    )
    assert [p.converter for p in sig.inputs] == ["sdk:blobTrigger", "sdk:blob", "generic"]


def test_sdk_annotation_elsewhere_is_refused_by_name() -> None:
    def fn(msg: func.QueueMessage, data: blob.BlobClient) -> None: ...

    with pytest.raises(FunctionLoadError, match="does not match its annotation"):
        bind_signature("f", fn, (binding("msg", "queueTrigger"), binding("data", "table")))


def test_the_converter_passes_the_bindings_object_on() -> None:
    conv = converter_for("sdk:blob")
    marker = object()
    assert conv.decode(Datum(marker, SDK_DATUM), trigger_metadata={}) is marker
    with pytest.raises(ValueError, match="unexpected type of data"):
        conv.decode(Datum(b"x", "bytes"), trigger_metadata={})


def test_annotations_map_to_the_sdk_classes_the_extension_builds() -> None:
    assert sdk_kind(blob.BlobClient, "w") is BlobClient
    assert sdk_kind(blob.ContainerClient, "w") is ContainerClient
    with pytest.raises(BindingError, match="not one of the blob extension's types"):
        sdk_kind(list[blob.BlobClient], "blob input 'x'")


def test_sync_clients_from_each_kind_of_connection() -> None:
    clients = ClientCache(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "Ident__serviceUri": URL,
            "Mi__blobServiceUri": URL,
            "Mi__credential": "managedidentity",
            "Mi__clientId": "00000000-0000-0000-0000-000000000001",
        }
    )
    dev = clients.sync_blob_service(None)
    assert dev.account_name == "devstoreaccount1" and "127.0.0.1:10000" in dev.url
    assert clients.sync_blob_service("AzureWebJobsStorage") is dev  # one per connection
    ident = clients.sync_blob_service("Ident")
    assert ident.url.startswith(URL) and isinstance(ident.credential, DefaultAzureCredential)
    mi = clients.sync_blob_service("Mi")
    assert isinstance(mi.credential, ManagedIdentityCredential)
    with pytest.raises(BindingError, match="connection 'Nope' is not set"):
        clients.sync_blob_service("Nope", what="blob input 'x'")
    anyio.run(clients.aclose)


def test_objects_name_the_bindings_blob_on_an_identity_connection(tmp_path: Path) -> None:
    environ = {"Ident__serviceUri": URL}
    services = HostServices(
        config=HostConfig.load(tmp_path, environ),
        environ=environ,
        host_id="h",
        instance_id="i",
        clients=ClientCache(environ),
    )
    made = BlobSdkObjects(services, "Ident", blob.BlobClient, "blob input 'x'")
    client = anyio.run(made.datum, "photos", "a/b.png").value
    assert isinstance(client, BlobClient) and client.url == f"{URL}/photos/a/b.png"
    box = BlobSdkObjects(services, "Ident", blob.ContainerClient, "blob input 'x'")
    assert anyio.run(box.datum, "photos", "a/b.png").value.container_name == "photos"
