"""SDK-type blob bindings (azurefunctions-extensions-bindings-blob) through the host, on
real Azurite: the function gets the blocking azure-storage-blob client the extension would
build from the host's ModelBindingData (its blobClient.py, containerClient.py,
storageStreamDownloader.py; PW bindings/meta.py deferred bindings), made from the
binding's connection as funchost resolves it."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from funchost.testing import Harness
from funchost.testing.plugin import HostFactory
from tests.integration.queue_helpers import APPS, any_logged, logged

pytestmark = pytest.mark.integration

APP = APPS / "blob_sdk"
ADMIN_REASON = "This function was programmatically called via the host APIs."


@pytest.fixture
def container() -> str:
    return f"sdk-{uuid.uuid4().hex[:12]}"


def start(
    funchost: HostFactory, container: str, storage_connection_string: str, *functions: str
) -> Harness:
    settings = {
        "C_SDK": container,
        # `connection="SdkStorage"` is found as AzureWebJobsSdkStorage, as for any binding.
        "AzureWebJobsSdkStorage": storage_connection_string,
        "FUNCHOST_BLOB_SCAN_INTERVAL": "1",
        "AzureFunctionsWebHost__hostid": container,
    }
    return funchost.start(APP, settings=settings, functions=functions)


def test_blob_trigger_gets_a_blob_client_for_the_new_blob(
    funchost: HostFactory, container: str, storage_connection_string: str
) -> None:
    host = start(funchost, container, storage_connection_string, "sdk_trigger")
    host.upload_blob(f"{container}/hello.txt", b"hello sdk")
    (run,) = host.wait_for("sdk_trigger")
    assert run.ok, run.error
    (line,) = logged([run], "SDKBLOB ")
    assert json.loads(line) == {
        "type": "azure.storage.blob._blob_client.BlobClient",
        "container": container,
        "name": "hello.txt",
        "size": 9,
        "content": "hello sdk",
    }
    # Run by hand through the admin API, it gets a client the same way.
    host.upload_blob(f"{container}/manual.txt", b"by hand", scan=False)
    r = host.post("/admin/functions/sdk_trigger", json={"input": f"{container}/manual.txt"})
    assert r.status_code == 202
    (manual,) = host.wait_for("sdk_trigger", where=lambda rec: rec.reason == ADMIN_REASON)
    assert manual.ok, manual.error
    assert json.loads(logged([manual], "SDKBLOB ")[0])["content"] == "by hand"


def test_blob_input_gets_container_client_and_stream_downloader(
    funchost: HostFactory, container: str, storage_connection_string: str
) -> None:
    BlobServiceClient.from_connection_string(storage_connection_string).create_container(
        container
    )
    host = start(funchost, container, storage_connection_string, "sdk_input")
    host.upload_blob(f"{container}/a.txt", b"first", scan=False)
    host.upload_blob(f"{container}/b.txt", b"second", scan=False)
    r = host.get("/api/sdk/b.txt")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "container_type": "azure.storage.blob._container_client.ContainerClient",
        "container": container,
        "names": ["a.txt", "b.txt"],
        "stream_type": "azure.storage.blob._download.StorageStreamDownloader",
        "stream_name": "b.txt",
        "content": "second",
    }
    # A new downloader for every invocation: a second read sees the blob as it is now.
    host.upload_blob(f"{container}/b.txt", b"changed", scan=False)
    assert host.get("/api/sdk/b.txt").json()["content"] == "changed"
    # On Azure the extension looks the connection up itself, only as SdkStorage,
    # SdkStorage__serviceUri or SdkStorage__blobServiceUri: it would not find this one.
    assert any_logged(host.logs, "funchost finds its connection as 'AzureWebJobsSdkStorage'")


def test_stream_downloader_for_a_missing_blob_fails_the_invocation(
    funchost: HostFactory, container: str, storage_connection_string: str
) -> None:
    host = start(funchost, container, storage_connection_string, "sdk_input")
    assert host.get("/api/sdk/nope.txt").status_code == 500
    (run,) = host.wait_for("sdk_input", ok=False)
    assert "unable to create the StorageStreamDownloader SDK type" in str(run.error), run.error
    assert "nope.txt" in str(run.error)
