"""Function keys enforced locally, stored where the real host stores them (semantics §6.3,
§6.4): blob container azure-webjobs-secrets, {hostId}/host.json and {hostId}/{fn}.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from tests.hostprocess import APPS, HostProcess

pytestmark = pytest.mark.integration

MASTER = "pre-written-master-key-0123456789"
HOST_FN_KEY = "pre-written-host-function-key"
KEYED_KEY = "pre-written-key-for-keyed"


@pytest.fixture(scope="module")
def host_id() -> str:
    return f"keys-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def secrets(storage_connection_string: str, host_id: str) -> BlobServiceClient:
    """Keys written before the host starts, in the host's own JSON shape."""
    svc = BlobServiceClient.from_connection_string(storage_connection_string)
    container = svc.get_container_client("azure-webjobs-secrets")
    if not container.exists():
        container.create_container()
    container.upload_blob(f"{host_id}/host.json", json.dumps({
        "masterKey": {"name": "master", "value": MASTER, "encrypted": False},
        "functionKeys": [{"name": "default", "value": HOST_FN_KEY, "encrypted": False}],
        "systemKeys": [],
    }), overwrite=True)
    container.upload_blob(f"{host_id}/keyed.json", json.dumps({
        "keys": [{"name": "default", "value": KEYED_KEY, "encrypted": False}]}), overwrite=True)
    return svc


@pytest.fixture(scope="module")
def host(storage_connection_string: str, host_id: str,
         secrets: BlobServiceClient) -> Iterator[HostProcess]:
    proc = HostProcess("http_basic", env={"AzureWebJobsStorage": storage_connection_string,
                                          "AzureFunctionsWebHost__hostid": host_id,
                                          "AzureWebJobs.off.Disabled": "true"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(host: HostProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=10) as c:
        yield c


def test_function_level_needs_a_key(client: httpx.Client) -> None:
    r = client.get("/api/keyed")
    assert r.status_code == 401
    assert "x-functions-key" in r.json()["detail"]
    assert client.get("/api/keyed", params={"code": "wrong"}).status_code == 401


def test_function_key_host_key_and_master_key_all_open_a_function_route(
        client: httpx.Client) -> None:
    for key in (KEYED_KEY, HOST_FN_KEY, MASTER):
        assert client.get("/api/keyed", params={"code": key}).text == "you had a key"
        assert client.get("/api/keyed", headers={"x-functions-key": key}).status_code == 200


def test_header_wins_over_code(client: httpx.Client) -> None:
    r = client.get("/api/keyed", params={"code": KEYED_KEY}, headers={"x-functions-key": "bad"})
    assert r.status_code == 401


def test_admin_level_needs_the_master_key(client: httpx.Client) -> None:
    assert client.get("/api/master-only", params={"code": KEYED_KEY}).status_code == 401
    assert client.get("/api/master-only", params={"code": HOST_FN_KEY}).status_code == 401
    assert client.get("/api/master-only", params={"code": MASTER}).status_code == 200


def test_anonymous_needs_nothing(client: httpx.Client) -> None:
    assert client.get("/api/hello").status_code == 200


def test_admin_api_needs_master_key_except_ping(client: httpx.Client) -> None:
    assert client.get("/admin/host/status").status_code == 401
    assert client.get("/admin/host/status", params={"code": HOST_FN_KEY}).status_code == 401
    assert client.get("/admin/host/status", headers={"x-functions-key": MASTER}).status_code == 200
    assert client.get("/admin/functions", params={"code": MASTER}).status_code == 200
    assert client.get("/admin/host/ping").status_code == 200


def test_disabled_function_answers_only_the_master_key(client: httpx.Client) -> None:
    assert client.get("/api/off").status_code == 404
    assert client.get("/api/off", params={"code": MASTER}).status_code == 200


def test_missing_function_keys_are_created_in_blob_storage(
        host: HostProcess, secrets: BlobServiceClient, host_id: str) -> None:
    container = secrets.get_container_client("azure-webjobs-secrets")
    # `hello` had no keys written beforehand: the host creates {hostId}/hello.json.
    names = {b.name for b in container.list_blobs(name_starts_with=f"{host_id}/")}
    deadline = time.monotonic() + 10
    while f"{host_id}/hello.json" not in names and time.monotonic() < deadline:
        time.sleep(0.2)
        names = {b.name for b in container.list_blobs(name_starts_with=f"{host_id}/")}
    doc = json.loads(container.download_blob(f"{host_id}/hello.json").readall())
    key = doc["keys"][0]
    assert key["name"] == "default" and key["encrypted"] is False and len(key["value"]) >= 40
    # Pre-written keys are used as they are, never rewritten.
    host_doc = json.loads(container.download_blob(f"{host_id}/host.json").readall())
    assert host_doc["masterKey"]["value"] == MASTER


def test_funchost_keys_prints_the_stored_keys(storage_connection_string: str,
                                              host_id: str, secrets: BlobServiceClient) -> None:
    env = {"AzureWebJobsStorage": storage_connection_string,
           "AzureFunctionsWebHost__hostid": host_id, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "funchost", "keys", "--json", "--app-dir",
                          str(APPS / "http_basic")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["hostId"] == host_id
    assert data["masterKey"] == MASTER
    assert data["functionKeys"] == {"default": HOST_FN_KEY}
    assert data["functions"]["keyed"] == {"default": KEYED_KEY}
