"""Blob trigger, blob and table bindings against real Azurite (semantics §3, §7)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from tests.hostprocess import HostProcess
from tests.integration.queue_helpers import queue, read_all, send, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"C_IN": f"in-{tag}", "C_OUT": f"out-{tag}", "C_FAIL": f"fail-{tag}",
            "C_BIG": f"big-{tag}", "Q_BLOBREQ": f"blobreq-{tag}", "T_NAME": f"t{tag}",
            "HOST_ID": f"blob-{tag}"}


@pytest.fixture(scope="module")
def blobs(storage_connection_string: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(storage_connection_string)


def start(names: dict[str, str], conn: str) -> HostProcess:
    env = {**names, "AzureWebJobsStorage": conn, "FUNCHOST_BLOB_SCAN_INTERVAL": "1",
           "AzureFunctionsWebHost__hostid": names["HOST_ID"]}
    proc = HostProcess("storage_bindings", env=env, args=["--no-auth"])
    proc.start()
    return proc


@pytest.fixture(scope="module")
def host(names: dict[str, str], storage_connection_string: str,
         blobs: BlobServiceClient) -> Iterator[HostProcess]:
    for key in ("C_IN", "C_OUT", "C_FAIL", "C_BIG"):
        blobs.create_container(names[key])
    # A blob that exists before the first start: with no scan cursor it fires once (§3.2).
    blobs.get_blob_client(names["C_IN"], "before.txt").upload_blob(b"old")
    proc = start(names, storage_connection_string)
    try:
        yield proc
    finally:
        proc.stop()


def blob_lines(host: HostProcess) -> list[dict[str, object]]:
    return [json.loads(m) for m in re.findall(r"BLOB (\{.*\})", host.output())]


def test_existing_blob_fires_once_on_first_start_semantics_3_2(host: HostProcess,
                                                                names: dict[str, str]) -> None:
    assert wait_until(lambda: any(b["name"] == f"{names['C_IN']}/before.txt"
                                  for b in blob_lines(host)), timeout=20)


def test_new_blob_fires_with_pattern_values_and_metadata_semantics_3_5(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient) -> None:
    blobs.get_blob_client(names["C_IN"], "cat.png").upload_blob(
        b"\x89PNG-data", metadata={"owner": "ada"},
        content_settings=ContentSettings(content_type="image/png"))
    found = wait_until(lambda: [b for b in blob_lines(host)
                                if b["name"] == f"{names['C_IN']}/cat.png"], timeout=20)
    assert found
    info = found[0]
    assert info["length"] == 9 and info["read"] == 9
    assert info["metadata"] == {"owner": "ada"}
    assert info["content_type"] == "image/png"
    assert str(info["uri"]).endswith(f"/{names['C_IN']}/cat.png")
    # The output path used {name} and {ext} from the trigger path.
    out = blobs.get_blob_client(names["C_OUT"], "cat-thumb.png")
    assert wait_until(lambda: out.exists(), timeout=10)
    assert out.download_blob().readall() == b"\x89PNG-data"[::-1]


def test_receipt_written_at_the_real_path_semantics_3_3(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient) -> None:
    blob = blobs.get_blob_client(names["C_IN"], "receipt.txt")
    etag = blob.upload_blob(b"r")["etag"]
    assert wait_until(lambda: any(b["name"].endswith("/receipt.txt") for b in blob_lines(host)),
                      timeout=20)
    receipt = blobs.get_blob_client(
        "azure-webjobs-hosts",
        f"blobreceipts/{names['HOST_ID']}/Host.Functions.thumbnail/{etag}/"
        f"{names['C_IN']}/receipt.txt")
    assert receipt.exists()
    assert "Incomplete" not in receipt.get_blob_properties().metadata
    cursor = blobs.get_blob_client(
        "azure-webjobs-hosts",
        f"blobscaninfo/{names['HOST_ID']}/devstoreaccount1/{names['C_IN']}/scanInfo")
    assert "LatestScan" in json.loads(cursor.download_blob().readall())


def test_blob_fires_once_per_version_and_again_when_overwritten(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient) -> None:
    blob = blobs.get_blob_client(names["C_IN"], "versioned.txt")
    blob.upload_blob(b"v1")
    name = f"{names['C_IN']}/versioned.txt"
    assert wait_until(lambda: [b for b in blob_lines(host) if b["name"] == name], timeout=20)
    # Several more scans pass (interval 1 s): still one run for this version.
    import time
    time.sleep(3)
    assert len([b for b in blob_lines(host) if b["name"] == name]) == 1
    blob.upload_blob(b"version two", overwrite=True)
    assert wait_until(lambda: len([b for b in blob_lines(host) if b["name"] == name]) == 2,
                      timeout=20)
    assert [b["read"] for b in blob_lines(host) if b["name"] == name] == [2, 11]


def test_failing_blob_goes_to_blob_poison_queue_after_5_semantics_3_4(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient,
        storage_connection_string: str) -> None:
    blobs.get_blob_client(names["C_FAIL"], "bad.bin").upload_blob(b"x")
    poison = queue(storage_connection_string, "webjobs-blobtrigger-poison")

    def poisoned() -> list[dict[str, str]]:
        msgs = []
        for m in poison.peek_messages(max_messages=32):
            import base64
            data = json.loads(base64.b64decode(m.content))
            if data.get("ContainerName") == names["C_FAIL"]:
                msgs.append(data)
        return msgs
    found = wait_until(poisoned, timeout=40)
    assert found and found[0]["BlobName"] == "bad.bin"
    assert found[0]["FunctionId"] == "Host.Functions.blob_fail"
    assert found[0]["Type"] == "BlobTrigger" and found[0]["ETag"]
    assert len(re.findall(rf"BLOBFAIL {names['C_FAIL']}/bad.bin", host.output())) == 5


def test_blob_input_by_queue_json_property_and_output(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient,
        storage_connection_string: str) -> None:
    blobs.get_blob_client(names["C_IN"], "doc.txt").upload_blob(b"hello blob")
    send(queue(storage_connection_string, names["Q_BLOBREQ"]), json.dumps({"BlobName": "doc.txt"}))
    out = blobs.get_blob_client(names["C_OUT"], "copy-doc.txt")
    assert wait_until(lambda: out.exists(), timeout=20)
    assert out.download_blob().readall() == b"HELLO BLOB"
    send(queue(storage_connection_string, names["Q_BLOBREQ"]), json.dumps({"BlobName": "nope.txt"}))
    assert host.wait_for_output(r"NOSOURCE nope.txt", timeout=20)


def test_large_blob_is_not_copied_many_times_in_memory(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient) -> None:
    size = 30 * 1024 * 1024
    blobs.get_blob_client(names["C_BIG"], "big.bin").upload_blob(b"\0" * size)
    m = host.wait_for_output(r"BIG (\d+) (\d+)", timeout=60)
    assert m is not None and int(m.group(1)) == size
    peak_kib = int(m.group(2))
    # Peak resident memory of the whole host: under 4x the blob plus the interpreter's
    # own ~120 MiB (download once, the function's read, the upload's blocks).
    assert peak_kib * 1024 < 4 * size + 120 * 1024 * 1024, peak_kib
    out = blobs.get_blob_client(f"{names['C_BIG']}-out", "big.bin")
    assert wait_until(lambda: out.exists(), timeout=30)
    assert out.get_blob_properties().size == size


def test_table_output_inserts_and_input_reads_semantics_7(host: HostProcess,
                                                          names: dict[str, str]) -> None:
    with httpx.Client(base_url=host.url, timeout=20) as c:
        rows = [{"RowKey": "a", "Size": 1}, {"RowKey": "b", "Size": 2},
                {"RowKey": "c", "Size": 3}, {"PartitionKey": "other", "RowKey": "z", "Size": 9}]
        assert c.post("/api/entities", json=rows).status_code == 201
        one = c.get("/api/entities/default-pk/b").json()
        assert one["PartitionKey"] == "default-pk" and one["RowKey"] == "b" and one["Size"] == 2
        assert "Timestamp" in one
        assert c.get("/api/entities/default-pk/missing").status_code == 404
        listed = c.get("/api/entities/default-pk").json()
        # filter "Size gt 1" and take=2
        assert [r["RowKey"] for r in listed] == ["b", "c"]
        assert c.get("/api/entities/other/z").json()["Size"] == 9


def test_table_output_is_insert_only_409_semantics_7(host: HostProcess,
                                                     names: dict[str, str]) -> None:
    with httpx.Client(base_url=host.url, timeout=20) as c:
        assert c.post("/api/entities", json={"RowKey": "dup", "Size": 1}).status_code == 201
        r = c.post("/api/entities", json={"RowKey": "dup", "Size": 2})
        assert r.status_code == 500
        assert host.wait_for_output(r"409 EntityAlreadyExists.*'dup'", timeout=10)
        assert c.get("/api/entities/default-pk/dup").json()["Size"] == 1
        bad = c.post("/api/entities", json={"RowKey": "n", "Nested": {"x": 1}})
        assert bad.status_code == 500
        assert host.wait_for_output(r"property 'Nested' must be a string, number", timeout=10)


def test_admin_invoke_blob_function_with_container_path(
        host: HostProcess, names: dict[str, str], blobs: BlobServiceClient) -> None:
    blobs.get_blob_client(names["C_IN"], "manual.txt").upload_blob(b"by hand")
    r = httpx.post(f"{host.url}/admin/functions/thumbnail",
                   json={"input": f"{names['C_IN']}/manual.txt"})
    assert r.status_code == 202
    assert wait_until(lambda: any(b["name"] == f"{names['C_IN']}/manual.txt"
                                  for b in blob_lines(host)), timeout=20)


def test_two_hosts_one_host_id_run_each_blob_once(storage_connection_string: str,
                                                  blobs: BlobServiceClient) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {"C_IN": f"in2-{tag}", "C_OUT": f"out2-{tag}", "C_FAIL": f"fail2-{tag}",
             "C_BIG": f"big2-{tag}", "Q_BLOBREQ": f"req2-{tag}", "T_NAME": f"t2{tag}",
             "HOST_ID": f"twin-{tag}"}
    blobs.create_container(names["C_IN"])
    hosts = [start(names, storage_connection_string) for _ in range(2)]
    try:
        for i in range(10):
            blobs.get_blob_client(names["C_IN"], f"f{i}.txt").upload_blob(b"x")

        def runs() -> list[str]:
            return [str(b["name"]) for h in hosts for b in blob_lines(h)]
        assert wait_until(lambda: len(runs()) >= 10, timeout=40)
        import time
        time.sleep(3)  # more scans pass; nothing runs twice
        assert sorted(runs()) == sorted(f"{names['C_IN']}/f{i}.txt" for i in range(10))
        # One scanner holds the lease; the other waits for it.
        assert sum("Singleton lock acquired" in h.output() for h in hosts) == 1
    finally:
        for h in hosts:
            h.stop()
