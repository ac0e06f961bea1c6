"""Function keys enforced locally, stored where the real host stores them (semantics §6.3,
§6.4): blob container azure-webjobs-secrets, {hostId}/host.json and {hostId}/{fn}.json.

The host runs on the in-process test harness with keys enforced; `funchost keys`, a
command whose output is the point, runs as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from funchost.testing import Harness
from tests.integration.harness_support import wait_until

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "http_basic"
SECRETS = "azure-webjobs-secrets"
MASTER = "pre-written-master-key-0123456789"
HOST_FN_KEY = "pre-written-host-function-key"
KEYED_KEY = "pre-written-key-for-keyed"


@pytest.fixture(scope="module")
def host_id() -> str:
    """This module's own host id: its keys never meet another module's or run's."""
    return f"keys-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def secrets(storage_connection_string: str, host_id: str) -> ContainerClient:
    """Keys written before the host starts, in the host's own JSON shape."""
    svc = BlobServiceClient.from_connection_string(storage_connection_string)
    container = svc.get_container_client(SECRETS)
    if not container.exists():
        container.create_container()
    host_keys = {
        "masterKey": {"name": "master", "value": MASTER, "encrypted": False},
        "functionKeys": [{"name": "default", "value": HOST_FN_KEY, "encrypted": False}],
        "systemKeys": [],
    }
    container.upload_blob(f"{host_id}/host.json", json.dumps(host_keys), overwrite=True)
    keyed = {"keys": [{"name": "default", "value": KEYED_KEY, "encrypted": False}]}
    container.upload_blob(f"{host_id}/keyed.json", json.dumps(keyed), overwrite=True)
    return container


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, host_id: str, secrets: ContainerClient
) -> Iterator[Harness]:
    settings = {
        "AzureWebJobsStorage": storage_connection_string,
        "AzureFunctionsWebHost__hostid": host_id,
        "AzureWebJobs.off.Disabled": "true",
    }
    harness = Harness(APP, settings=settings, auth=True)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def test_function_level_needs_a_key(host: Harness) -> None:
    r = host.get("/api/keyed")
    assert r.status_code == 401
    assert "x-functions-key" in r.json()["detail"]
    assert host.get("/api/keyed", params={"code": "wrong"}).status_code == 401
    assert host.invocations("keyed") == []  # refused before the function


def test_function_key_host_key_and_master_key_all_open_a_function_route(host: Harness) -> None:
    for key in (KEYED_KEY, HOST_FN_KEY, MASTER):
        assert host.get("/api/keyed", params={"code": key}).text == "you had a key"
        assert host.get("/api/keyed", headers={"x-functions-key": key}).status_code == 200


def test_header_wins_over_code(host: Harness) -> None:
    r = host.get("/api/keyed", params={"code": KEYED_KEY}, headers={"x-functions-key": "bad"})
    assert r.status_code == 401


def test_admin_level_needs_the_master_key(host: Harness) -> None:
    assert host.get("/api/master-only", params={"code": KEYED_KEY}).status_code == 401
    assert host.get("/api/master-only", params={"code": HOST_FN_KEY}).status_code == 401
    r = host.get("/api/master-only", params={"code": MASTER})
    assert r.status_code == 200 and r.text == "you had the master key"


def test_anonymous_needs_nothing(host: Harness) -> None:
    assert host.get("/api/hello").status_code == 200


def test_admin_api_needs_master_key_except_ping(host: Harness) -> None:
    assert host.get("/admin/host/status").status_code == 401
    assert host.get("/admin/host/status", params={"code": HOST_FN_KEY}).status_code == 401
    assert host.get("/admin/host/status", headers={"x-functions-key": MASTER}).status_code == 200
    assert host.get("/admin/functions", params={"code": MASTER}).status_code == 200
    assert host.get("/admin/host/ping").status_code == 200


def test_disabled_function_answers_only_the_master_key(host: Harness) -> None:
    assert host.get("/api/off").status_code == 404
    assert host.get("/api/off", params={"code": KEYED_KEY}).status_code == 404
    assert host.get("/api/off", params={"code": MASTER}).status_code == 200


def test_missing_function_keys_are_created_in_blob_storage(
    host: Harness, secrets: ContainerClient, host_id: str
) -> None:
    # `hello` had no keys written beforehand: the host creates {hostId}/hello.json at start
    # (in the background: the blob is what shows it).
    def stored(name: str) -> dict[str, Any] | None:
        blob = secrets.get_blob_client(f"{host_id}/{name}.json")
        return json.loads(blob.download_blob().readall()) if blob.exists() else None

    doc = wait_until(lambda: stored("hello"), f"{host_id}/hello.json")
    (key,) = doc["keys"]
    assert key["name"] == "default" and key["encrypted"] is False and len(key["value"]) >= 40
    assert doc["instanceId"] == host.host.instance_id  # by this host, not `funchost keys`
    # Pre-written keys are used as they are, never rewritten.
    host_doc = stored("host")
    assert host_doc is not None and host_doc["masterKey"]["value"] == MASTER
    assert stored("keyed") == {
        "keys": [{"name": "default", "value": KEYED_KEY, "encrypted": False}]
    }


def test_funchost_keys_prints_the_stored_keys(
    storage_connection_string: str, host_id: str, secrets: ContainerClient
) -> None:
    env = {
        "AzureWebJobsStorage": storage_connection_string,
        "AzureFunctionsWebHost__hostid": host_id,
        "PATH": "/usr/bin:/bin",
        # The code under test, as the test process has it (a work tree's src/).
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    out = subprocess.run(
        [sys.executable, "-m", "funchost", "keys", "--json", "--app-dir", str(APP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["hostId"] == host_id
    assert data["masterKey"] == MASTER
    assert data["functionKeys"] == {"default": HOST_FN_KEY}
    assert data["functions"]["keyed"] == {"default": KEYED_KEY}
