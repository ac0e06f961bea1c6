"""The dashboard's fixture host (tests/apps/dashboard_app) with keys enforced and a known
master key, for the browser test and the HTTP-level ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from funchost.testing import Harness
from funchost.testing.plugin import HostFactory
from shared.status import StatusStore
from shared.storage import StorageAccount
from tests.conftest import REPO

APP = REPO / "tests" / "apps" / "dashboard_app"
MASTER = "dashboard-master-key-0123456789abcdef"


@pytest.fixture
def dashboard_host(
    funchost: HostFactory, storage_connection_string: str
) -> Iterator[tuple[Harness, StatusStore, dict[str, str]]]:
    tag = uuid.uuid4().hex[:10]
    host_id = f"dash-{tag}"
    names = {
        "DASH_STATUS_TABLE": f"DashStatus{tag}",
        "FUNCHOST_DASHBOARD_STATUS_TABLE": f"DashStatus{tag}",
        "DASH_JOBS": f"dashjobs{tag}",
        "DASH_FLAKY": f"dashflaky{tag}",
        "FUNCHOST_DASHBOARD_REFRESH": "0.5",
        "AzureFunctionsWebHost__hostid": host_id,
    }
    secrets = BlobServiceClient.from_connection_string(storage_connection_string)
    container = secrets.get_container_client("azure-webjobs-secrets")
    if not container.exists():
        container.create_container()
    keys = {
        "masterKey": {"name": "master", "value": MASTER, "encrypted": False},
        "functionKeys": [],
        "systemKeys": [],
    }
    container.upload_blob(f"{host_id}/host.json", json.dumps(keys), overwrite=True)
    account = StorageAccount.from_connection_string(storage_connection_string)
    host = funchost.start(APP, settings=names, auth=True)
    try:
        yield host, StatusStore(account, table=names["DASH_STATUS_TABLE"]), names
    finally:
        host.run(account.close)  # the store is used on the host's loop (Playwright owns ours)
