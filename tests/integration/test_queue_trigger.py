"""Queue trigger and output against real Azurite (functions-host-semantics.md §2, §7)."""

from __future__ import annotations

import json
import re
import socket
import statistics
from collections.abc import Iterator

import pytest

from funchost.devservices.azurite import Azurite, find_azurite
from tests.conftest import REPO
from tests.hostprocess import HostProcess
from tests.integration.queue_helpers import queue, queue_env, read_all, send, start_host, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefix() -> str:
    import uuid
    return "q" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def host(prefix: str, storage_connection_string: str) -> Iterator[HostProcess]:
    proc = start_host(prefix, storage_connection_string)
    try:
        yield proc
    finally:
        proc.stop()


def test_message_runs_with_all_metadata_and_is_deleted_semantics_2_3(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    q = queue(storage_connection_string, f"{prefix}-echo")
    send(q, "hello queue")
    m = host.wait_for_output(r"META (\{.*\"body\": \"hello queue\".*\})")
    assert m is not None, host.output()[-3000:]
    meta = json.loads(m.group(1))
    assert meta["dequeue_count"] == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["id"])
    assert meta["pop_receipt"] and meta["insertion_time"] and meta["expiration_time"]
    assert meta["time_next_visible"]
    out = read_all(queue(storage_connection_string, f"{prefix}-echo-out"), 1)
    assert out == ["echo:hello queue"]
    # Deleted after success: nothing left, not even invisible.
    assert wait_until(lambda: q.get_queue_properties().approximate_message_count == 0)
    assert host.wait_for_output(rf"Executing 'Functions.echo' \(Reason='New queue message "
                                rf"detected on '{prefix}-echo'.', Id=") is not None


def test_json_body_properties_are_binding_data(host: HostProcess, prefix: str,
                                               storage_connection_string: str) -> None:
    send(queue(storage_connection_string, f"{prefix}-json"),
         json.dumps({"Target": "blue", "Value": 42}))
    out = read_all(queue(storage_connection_string, f"{prefix}-json-blue"), 1)
    assert [json.loads(o) for o in out] == [{"got": 42}]


def test_poison_after_exactly_five_attempts_semantics_2_1_4(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    send(queue(storage_connection_string, f"{prefix}-flaky"), "bad-1")
    poison = queue(storage_connection_string, f"{prefix}-flaky-poison")
    assert read_all(poison, 1, timeout=20) == ["bad-1"]
    attempts = [int(n) for n in re.findall(r"ATTEMPT bad-1 (\d+)", host.output())]
    assert attempts == [1, 2, 3, 4, 5]
    assert host.wait_for_output(rf"moved to '{prefix}-flaky-poison': it failed 5 time") is not None


def test_undecodable_message_is_poisoned_at_once_without_running_semantics_2_2(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    q = queue(storage_connection_string, f"{prefix}-echo")
    q.send_message("this is not base64!")  # raw text, while messageEncoding is base64
    poison = queue(storage_connection_string, f"{prefix}-echo-poison")
    got = wait_until(lambda: [m.content for m in poison.peek_messages()], timeout=15)
    assert got == ["this is not base64!"]
    assert host.wait_for_output(r"not a valid Base-64 string") is not None
    assert "this is not base64" not in "".join(re.findall(r"META .*", host.output()))


def test_output_fans_out_json_arrays_and_lists_semantics_7(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    send(queue(storage_connection_string, f"{prefix}-fan"), "go")
    assert sorted(read_all(queue(storage_connection_string, f"{prefix}-fan-out"), 3)) == \
        ["3", "a", '{"b": 1}']
    assert sorted(read_all(queue(storage_connection_string, f"{prefix}-fan-list"), 2)) == ["x", "y"]


def test_str_parameter_gets_body_text(host: HostProcess, prefix: str,
                                      storage_connection_string: str) -> None:
    send(queue(storage_connection_string, f"{prefix}-text"), "plain words")
    assert host.wait_for_output(r"TEXT plain words") is not None


def test_fast_path_wakes_listener_in_same_host_semantics_2_1_7(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    q = queue(storage_connection_string, f"{prefix}-chain")
    for i in range(5):
        send(q, str(i))
    found = wait_until(lambda: len(re.findall(r"CHAIN_LATENCY_MS ([\d.]+)", host.output())) >= 5)
    assert found
    latencies = [float(x) for x in re.findall(r"CHAIN_LATENCY_MS ([\d.]+)", host.output())]
    # Without the fast path the second hop would wait for a poll (up to 1 s here).
    assert statistics.median(latencies) < 200, latencies


def test_batch_size_and_new_batch_threshold_bound_concurrency_semantics_2_1_5(
        storage_connection_string: str) -> None:
    import uuid
    prefix = "c" + uuid.uuid4().hex[:10]
    q = queue(storage_connection_string, f"{prefix}-slow")
    # Short and long runs alternate, so a slot frees while its batch-mate still runs.
    for i in range(8):
        send(q, f"m{i}:{0.2 if i % 2 == 0 else 1.5}")
    proc = start_host(prefix, storage_connection_string,
                      AzureFunctionsJobHost__extensions__queues__batchSize="2",
                      AzureFunctionsJobHost__extensions__queues__newBatchThreshold="1")
    try:
        assert wait_until(lambda: len(re.findall(r"DONE m\d", proc.output())) == 8, timeout=30)
        peak = max(int(n) for n in re.findall(r"CONCURRENT (\d+)", proc.output()))
        assert peak == 3  # batchSize + newBatchThreshold
    finally:
        proc.stop()


def test_two_hosts_compete_and_process_every_message_once(storage_connection_string: str) -> None:
    import uuid
    prefix = "k" + uuid.uuid4().hex[:10]
    q = queue(storage_connection_string, f"{prefix}-slow")
    # Small batches, so that one host cannot take every message at once.
    hosts = [start_host(prefix, storage_connection_string,
                        AzureFunctionsJobHost__extensions__queues__batchSize="4",
                        AzureFunctionsJobHost__extensions__queues__newBatchThreshold="0")
             for _ in range(2)]
    try:
        for i in range(24):
            send(q, f"m{i}")
        def done() -> list[str]:
            return [d for h in hosts for d in re.findall(r"DONE (m\d+)", h.output())]
        assert wait_until(lambda: len(done()) >= 24, timeout=40)
        processed = done()
        assert sorted(processed) == sorted(f"m{i}" for i in range(24))  # each exactly once
        assert all(re.search(r"DONE m\d", h.output()) for h in hosts)  # both took work
    finally:
        for h in hosts:
            h.stop()


def test_visibility_timeout_delays_the_retry(storage_connection_string: str) -> None:
    import time
    import uuid
    prefix = "v" + uuid.uuid4().hex[:10]
    proc = start_host(prefix, storage_connection_string,
                      AzureFunctionsJobHost__extensions__queues__visibilityTimeout="00:00:03",
                      AzureFunctionsJobHost__extensions__queues__maxDequeueCount="2")
    try:
        send(queue(storage_connection_string, f"{prefix}-flaky"), "slowretry")
        assert proc.wait_for_output(r"ATTEMPT slowretry 1", timeout=15)
        first = time.monotonic()
        assert proc.wait_for_output(r"ATTEMPT slowretry 2", timeout=15)
        assert time.monotonic() - first >= 2.5
        assert read_all(queue(storage_connection_string, f"{prefix}-flaky-poison"), 1) == ["slowretry"]
    finally:
        proc.stop()


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_storage_down_at_start_then_up_loses_nothing(tmp_path: object) -> None:
    import uuid
    exe = find_azurite(REPO)
    assert exe is not None
    blob, qport, table = _free_ports(3)
    conn = Azurite(exe, blob_port=blob, queue_port=qport, table_port=table)
    prefix = "d" + uuid.uuid4().hex[:10]
    from funchost.devservices.azurite import AzuriteEndpoints
    cs = AzuriteEndpoints("127.0.0.1", blob, qport, table).connection_string
    proc = HostProcess("queue_basic", env=queue_env(prefix, cs), args=["--no-auth"])
    proc.start()
    try:
        assert proc.wait_for_output(r"is unreachable; retrying in", timeout=15)
        assert proc.returncode is None  # still running
        conn.start()
        try:
            send(queue(cs, f"{prefix}-echo"), "after outage")
            assert proc.wait_for_output(r"META .*after outage", timeout=30), proc.output()[-2000:]
            assert read_all(queue(cs, f"{prefix}-echo-out"), 1) == ["echo:after outage"]
        finally:
            conn.stop()
    finally:
        proc.stop()


def test_message_encoding_none(storage_connection_string: str) -> None:
    import uuid
    prefix = "n" + uuid.uuid4().hex[:10]
    proc = start_host(prefix, storage_connection_string,
                      AzureFunctionsJobHost__extensions__queues__messageEncoding="none")
    try:
        queue(storage_connection_string, f"{prefix}-echo").send_message("raw text")
        out = queue(storage_connection_string, f"{prefix}-echo-out")
        got = wait_until(lambda: [m.content for m in out.peek_messages()])
        assert got == ["echo:raw text"]  # written without base64 too
    finally:
        proc.stop()


def test_admin_invoke_runs_queue_function_with_input_semantics_6_6(
        host: HostProcess, prefix: str, storage_connection_string: str) -> None:
    import httpx
    r = httpx.post(f"{host.url}/admin/functions/echo", json={"input": "manual run"})
    assert r.status_code == 202
    m = host.wait_for_output(r"META (\{.*manual run.*\})")
    assert m is not None
    meta = json.loads(m.group(1))
    assert meta["id"] is None and meta["dequeue_count"] == 0
    out = queue(storage_connection_string, f"{prefix}-echo-out")
    assert "echo:manual run" in read_all(out, 2, timeout=5)
