"""Blob trigger, blob and table bindings against real Azurite (semantics §3, §7), on the
in-process harness: each test runs its own host (only the functions it needs) with
containers, a table and a host id of its own."""

from __future__ import annotations

import base64
import gc
import json
import re
import tracemalloc
import uuid

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from funchost.testing import Harness, InvocationRecord
from funchost.testing.plugin import HostFactory
from funchost.triggers.blob import BlobTriggerHub
from tests.integration.queue_helpers import (
    APPS,
    any_logged,
    eventually,
    logged,
    queue,
    wait_for_where,
)

pytestmark = pytest.mark.integration

APP = APPS / "storage_bindings"
ADMIN_REASON = "This function was programmatically called via the host APIs."


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "C_IN": f"in-{tag}",
        "C_OUT": f"out-{tag}",
        "C_FAIL": f"fail-{tag}",
        "C_BIG": f"big-{tag}",
        "Q_BLOBREQ": f"blobreq-{tag}",
        "T_NAME": f"t{tag}",
        "HOST_ID": f"blob-{tag}",
    }


@pytest.fixture(scope="module")
def blobs(storage_connection_string: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(storage_connection_string)


def start(funchost: HostFactory, names: dict[str, str], *functions: str) -> Harness:
    """A host running only `functions` of storage_bindings. Uploads through the harness
    sweep at once; blobs uploaded otherwise are found by the scan every second."""
    settings = {
        **names,
        "FUNCHOST_BLOB_SCAN_INTERVAL": "1",
        "AzureFunctionsWebHost__hostid": names["HOST_ID"],
    }
    return funchost.start(APP, settings=settings, functions=functions)


def blob_info(record: InvocationRecord) -> dict[str, object]:
    (line,) = logged([record], "BLOB ")
    return dict(json.loads(line))


def blob_names(records: list[InvocationRecord]) -> list[str]:
    return [str(blob_info(r)["name"]) for r in records]


def scanner(host: Harness) -> BlobTriggerHub:
    assert host.host is not None and host.host.services is not None
    hub = host.host.services.per_host.find(BlobTriggerHub)
    assert hub is not None
    return hub


def test_existing_blob_fires_once_on_first_start_semantics_3_2(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    # A blob that exists before the first start: with no scan cursor it fires once.
    blobs.create_container(names["C_IN"])
    blobs.get_blob_client(names["C_IN"], "before.txt").upload_blob(b"old")
    host = start(funchost, names, "thumbnail")
    (run,) = host.wait_for("thumbnail")
    assert run.ok, run.error
    assert blob_names([run]) == [f"{names['C_IN']}/before.txt"]
    # A later sweep (forced by another upload) does not run it again.
    host.upload_blob(f"{names['C_IN']}/after.txt", b"new")
    host.wait_for("thumbnail", 2)
    host.wait_idle()
    assert sorted(blob_names(host.invocations("thumbnail"))) == [
        f"{names['C_IN']}/after.txt",
        f"{names['C_IN']}/before.txt",
    ]


def test_new_blob_fires_with_pattern_values_and_metadata_semantics_3_5(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    blobs.create_container(names["C_IN"])
    host = start(funchost, names, "thumbnail")
    # Uploaded with metadata and a content type (the harness's upload sets neither): the
    # next scan, within a second, finds it.
    blobs.get_blob_client(names["C_IN"], "cat.png").upload_blob(
        b"\x89PNG-data",
        metadata={"owner": "ada"},
        content_settings=ContentSettings(content_type="image/png"),
    )
    (run,) = host.wait_for("thumbnail")
    assert run.ok, run.error
    info = blob_info(run)
    assert info["name"] == f"{names['C_IN']}/cat.png"
    assert info["length"] == 9 and info["read"] == 9
    assert info["metadata"] == {"owner": "ada"}
    assert info["content_type"] == "image/png"
    assert str(info["uri"]).endswith(f"/{names['C_IN']}/cat.png")
    # The output path used {name} and {ext} from the trigger path; written by the time the
    # invocation finished.
    out = blobs.get_blob_client(names["C_OUT"], "cat-thumb.png")
    assert out.download_blob().readall() == b"\x89PNG-data"[::-1]


def test_receipt_written_at_the_real_path_semantics_3_3(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    host = start(funchost, names, "thumbnail")
    host.upload_blob(f"{names['C_IN']}/receipt.txt", b"r")  # returns after the sweep
    etag = blobs.get_blob_client(names["C_IN"], "receipt.txt").get_blob_properties().etag
    (run,) = host.wait_for("thumbnail")
    assert blob_names([run]) == [f"{names['C_IN']}/receipt.txt"]
    receipt = blobs.get_blob_client(
        "azure-webjobs-hosts",
        f"blobreceipts/{names['HOST_ID']}/Host.Functions.thumbnail/{etag}/"
        f"{names['C_IN']}/receipt.txt",
    )
    assert receipt.exists()
    assert "Incomplete" not in receipt.get_blob_properties().metadata
    cursor = blobs.get_blob_client(
        "azure-webjobs-hosts",
        f"blobscaninfo/{names['HOST_ID']}/devstoreaccount1/{names['C_IN']}/scanInfo",
    )
    assert "LatestScan" in json.loads(cursor.download_blob().readall())


def test_blob_fires_once_per_version_and_again_when_overwritten(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    host = start(funchost, names, "thumbnail")
    name = f"{names['C_IN']}/versioned.txt"
    host.upload_blob(name, b"v1")
    host.wait_for("thumbnail")
    # Two more sweeps (each forced by another upload) pass: still one run for this version.
    for i in range(2):
        host.upload_blob(f"{names['C_IN']}/tick-{i}.txt", b"t")
    host.wait_for("thumbnail", 3)
    host.wait_idle()
    assert blob_names(host.invocations("thumbnail")).count(name) == 1
    host.upload_blob(name, b"version two")
    host.wait_for("thumbnail", 4)
    host.wait_idle()
    runs = [r for r in host.invocations("thumbnail") if blob_info(r)["name"] == name]
    assert [blob_info(r)["read"] for r in runs] == [2, 11]


def test_failing_blob_goes_to_blob_poison_queue_after_5_semantics_3_4(
    funchost: HostFactory,
    names: dict[str, str],
    storage_connection_string: str,
) -> None:
    host = start(funchost, names, "blob_fail")
    host.upload_blob(f"{names['C_FAIL']}/bad.bin", b"x")
    runs = host.wait_for("blob_fail", 5, ok=False)
    assert logged(runs, "BLOBFAIL ") == [f"{names['C_FAIL']}/bad.bin"] * 5
    # The poison queue is one per account: this test's message names its container.
    poison = queue(storage_connection_string, "webjobs-blobtrigger-poison")

    def poisoned() -> list[dict[str, str]]:
        msgs = [json.loads(base64.b64decode(m.content)) for m in poison.peek_messages(32)]
        return [m for m in msgs if m.get("ContainerName") == names["C_FAIL"]]

    (found,) = eventually(poisoned, what="the blob's poison message")
    assert found["BlobName"] == "bad.bin"
    assert found["FunctionId"] == "Host.Functions.blob_fail"
    assert found["Type"] == "BlobTrigger" and found["ETag"]
    host.wait_idle()
    assert len(host.invocations("blob_fail")) == 5  # not a sixth time


def test_blob_input_by_queue_json_property_and_output(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    host = start(funchost, names, "copy_by_name")
    host.upload_blob(f"{names['C_IN']}/doc.txt", b"hello blob")
    host.send_queue(names["Q_BLOBREQ"], {"BlobName": "doc.txt"})
    (run,) = host.wait_for("copy_by_name")
    assert run.ok, run.error
    assert logged([run], "COPY ") == ["doc.txt 10"]
    out = blobs.get_blob_client(names["C_OUT"], "copy-doc.txt")
    assert out.download_blob().readall() == b"HELLO BLOB"
    # A missing input blob is None, not an error.
    host.send_queue(names["Q_BLOBREQ"], {"BlobName": "nope.txt"})
    _, missing = host.wait_for("copy_by_name", 2)
    assert missing.ok, missing.error
    assert logged([missing], "NOSOURCE ") == ["nope.txt"]
    assert not blobs.get_blob_client(names["C_OUT"], "copy-nope.txt").exists()


def test_large_blob_is_not_copied_many_times_in_memory(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    size = 30 * 1024 * 1024
    blobs.create_container(names["C_BIG"])
    data = b"\0" * size
    blobs.get_blob_client(names["C_BIG"], "big.bin").upload_blob(data)
    del data
    gc.collect()
    # The host runs in this process: trace what is allocated from its start (the first
    # scan finds the blob) until the copy is written.
    tracemalloc.start()
    try:
        host = start(funchost, names, "big_copy")
        (run,) = host.wait_for("big_copy", timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output's container does not exist: the host's first upload fails in several
    # parallel block uploads at once, whose exceptions the SDK never retrieves. Collect
    # those tasks here, on this thread, with the host stopped: their finalizers log a
    # traceback, and (CPython 3.11) that must not happen inside another thread's ast.parse.
    host.stop()
    gc.collect()
    assert run.ok, run.error
    assert logged([run], "BIG ") == [str(size)]
    # Download once, the function's read, the upload's blocks: under 4x the blob at the
    # peak (the host's start is in the count too).
    assert peak < 4 * size, f"peak {peak / size:.2f}x the blob"
    out = blobs.get_blob_client(f"{names['C_BIG']}-out", "big.bin")
    assert out.get_blob_properties().size == size


def test_table_output_inserts_and_input_reads_semantics_7(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    host = start(funchost, names, "add_entities", "get_entity", "list_entities")
    rows = [
        {"RowKey": "a", "Size": 1},
        {"RowKey": "b", "Size": 2},
        {"RowKey": "c", "Size": 3},
        {"PartitionKey": "other", "RowKey": "z", "Size": 9},
    ]
    assert host.post("/api/entities", json=rows).status_code == 201
    one = host.get("/api/entities/default-pk/b").json()
    assert one["PartitionKey"] == "default-pk" and one["RowKey"] == "b" and one["Size"] == 2
    assert "Timestamp" in one
    assert host.get("/api/entities/default-pk/missing").status_code == 404
    listed = host.get("/api/entities/default-pk").json()
    # filter "Size gt 1" and take=2
    assert [r["RowKey"] for r in listed] == ["b", "c"]
    assert host.get("/api/entities/other/z").json()["Size"] == 9


def test_table_input_with_row_key_is_the_partition_array_python_worker_1231_1725(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    # For Python the real host binds a table input as a JArray, whose builder queries
    # `PartitionKey eq '<pk>'` and ignores RowKey (N TablesExtensionConfigProvider.cs
    # JObjectBuilder; python-worker #1231 logs that request on Azurite, #1725 on Azure; the
    # worker's own emulator test test_table_functions.py iterates a list).
    host = start(funchost, names, "add_entities", "by_keys_raw")
    # No table yet: the host's query fails (404), it is not an empty array.
    assert host.get("/api/partition/default-pk/b").status_code == 500
    (missing,) = host.wait_for("by_keys_raw", ok=False)
    assert "does not exist (404 TableNotFound)" in str(missing.error), missing.error
    rows = [{"RowKey": "a", "Size": 1}, {"RowKey": "b", "Size": 2}, {"RowKey": "c", "Size": 3}]
    assert host.post("/api/entities", json=rows).status_code == 201
    got = host.get("/api/partition/default-pk/b").json()
    assert isinstance(got, list)
    assert sorted(r["RowKey"] for r in got) == ["a", "b", "c"]
    # A row key that matches nothing changes nothing either; another partition is empty.
    assert len(host.get("/api/partition/default-pk/missing").json()) == 3
    assert host.get("/api/partition/nobody/b").json() == []
    assert any_logged(host.logs, "rowKey does not select one entity")


def test_table_output_is_insert_only_409_semantics_7(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    host = start(funchost, names, "add_entities", "get_entity")
    assert host.post("/api/entities", json={"RowKey": "dup", "Size": 1}).status_code == 201
    assert host.post("/api/entities", json={"RowKey": "dup", "Size": 2}).status_code == 500
    (dup,) = host.wait_for("add_entities", ok=False)
    assert re.search(r"409 EntityAlreadyExists.*'dup'", str(dup.error)), dup.error
    assert host.get("/api/entities/default-pk/dup").json()["Size"] == 1
    bad = host.post("/api/entities", json={"RowKey": "n", "Nested": {"x": 1}})
    assert bad.status_code == 500
    _, nested = host.wait_for("add_entities", 2, ok=False)
    assert "property 'Nested' must be a string, number" in str(nested.error), nested.error
    assert host.get("/api/entities/default-pk/n").status_code == 404


def test_admin_invoke_blob_function_with_container_path(
    funchost: HostFactory, names: dict[str, str], blobs: BlobServiceClient
) -> None:
    host = start(funchost, names, "thumbnail")
    host.upload_blob(f"{names['C_IN']}/manual.txt", b"by hand", scan=False)
    r = host.post("/admin/functions/thumbnail", json={"input": f"{names['C_IN']}/manual.txt"})
    assert r.status_code == 202
    # The scan runs it too: the admin call is the run with the host API's reason.
    (run,) = wait_for_where(host, "thumbnail", lambda rec: rec.reason == ADMIN_REASON)
    assert run.ok, run.error
    info = blob_info(run)
    assert info["name"] == f"{names['C_IN']}/manual.txt" and info["read"] == 7


def test_two_hosts_one_host_id_run_each_blob_once(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    hosts = [start(funchost, names, "thumbnail") for _ in range(2)]
    # One scanner holds the lease; the other waits for it (and never sweeps).
    eventually(lambda: any(scanner(h).sweeps for h in hosts), what="a scanner sweeps")
    (holder,) = [h for h in hosts if scanner(h).sweeps]
    expected = [f"{names['C_IN']}/f{i}.txt" for i in range(10)]
    for path in expected:
        holder.upload_blob(path, b"x")
    # Two more sweeps pass over those blobs (each forced by another upload).
    for i in range(2):
        holder.upload_blob(f"{names['C_IN']}/tick-{i}.txt", b"t")
        expected.append(f"{names['C_IN']}/tick-{i}.txt")

    def runs() -> list[InvocationRecord]:
        return [r for h in hosts for r in h.invocations("thumbnail")]

    eventually(lambda: len(runs()) >= len(expected), what=f"{len(expected)} runs")
    for h in hosts:
        h.wait_idle()
    assert sorted(blob_names(runs())) == sorted(expected)  # each once, nothing twice
    assert [bool(scanner(h).sweeps) for h in hosts].count(True) == 1
