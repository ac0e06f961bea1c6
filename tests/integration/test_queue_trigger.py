"""Queue trigger and output against real Azurite (functions-host-semantics.md §2, §7), on
the in-process harness: each test runs its own host (only the functions it needs) on queues
of its own, and reads each invocation's outcome and log lines from the harness."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import statistics
import time
from collections.abc import Callable, Iterator

import pytest

from funchost.devservices.azurite import Azurite, AzuriteEndpoints, find_azurite
from funchost.devservices.process import ServiceStartError
from funchost.testing import Harness, InvocationRecord
from funchost.testing.plugin import HostFactory
from tests.conftest import REPO, unavailable
from tests.integration.queue_helpers import (
    QUEUE_APP,
    any_logged,
    encoded,
    eventually,
    logged,
    peek_all,
    queue,
    queue_names,
    queue_settings,
    read_all,
)

pytestmark = pytest.mark.integration

ADMIN_REASON = "This function was programmatically called via the host APIs."


@pytest.fixture
def names() -> dict[str, str]:
    return queue_names()


def start(funchost: HostFactory, names: dict[str, str], *functions: str, **queues: str) -> Harness:
    """A host running only `functions` of queue_basic, with host.json queue options."""
    return funchost.start(
        QUEUE_APP, settings={**names, **queue_settings(**queues)}, functions=functions
    )


def meta_of(record: InvocationRecord) -> dict[str, object]:
    (line,) = logged([record], "META ")
    return dict(json.loads(line))


def test_message_runs_with_all_metadata_and_is_deleted_semantics_2_3(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "echo")
    name = names["Q_ECHO"]
    host.send_queue(name, "hello queue")
    (run,) = host.wait_for("echo")
    assert run.ok, run.error
    meta = meta_of(run)
    assert meta["body"] == "hello queue"
    assert meta["dequeue_count"] == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", str(meta["id"]))
    assert meta["pop_receipt"] and meta["insertion_time"] and meta["expiration_time"]
    assert meta["time_next_visible"]
    reason = f"New queue message detected on '{name}'."
    assert run.reason == reason
    assert run.logs[0] == f"Executing 'Functions.echo' (Reason='{reason}', Id={run.invocation_id})"
    # The output was written before the invocation finished.
    assert read_all(queue(storage_connection_string, f"{name}-out"), 1) == ["echo:hello queue"]
    # Deleted after success: nothing left, not even invisible.
    q = queue(storage_connection_string, name)
    eventually(lambda: q.get_queue_properties().approximate_message_count == 0, what="deleted")
    host.wait_idle()
    assert len(host.invocations("echo")) == 1


def test_json_body_properties_are_binding_data(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "route_by_body")
    host.send_queue(names["Q_JSON"], {"Target": "blue", "Value": 42})
    (run,) = host.wait_for("route_by_body")
    assert run.ok, run.error
    out = read_all(queue(storage_connection_string, f"{names['Q_JSON']}-blue"), 1)
    assert [json.loads(o) for o in out] == [{"got": 42}]


def test_poison_after_exactly_five_attempts_semantics_2_1_4(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "flaky")
    name = names["Q_FLAKY"]
    host.send_queue(name, "bad-1")
    runs = host.wait_for("flaky", 5, ok=False)
    assert logged(runs, "ATTEMPT ") == [f"bad-1 {n}" for n in (1, 2, 3, 4, 5)]
    poison = queue(storage_connection_string, f"{name}-poison")
    assert read_all(poison, 1) == ["bad-1"]  # the body as it was stored
    assert any_logged(host.logs, f"moved to '{name}-poison': it failed 5 time")
    host.wait_idle()
    assert len(host.invocations("flaky")) == 5  # not a sixth time
    assert (
        queue(storage_connection_string, name).get_queue_properties().approximate_message_count == 0
    )


def test_undecodable_message_is_poisoned_at_once_without_running_semantics_2_2(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "echo")
    # Raw text while messageEncoding is base64 (stored as is: send_queue would encode it);
    # the listener finds it at its next poll (maxPollingInterval 1 s).
    queue(storage_connection_string, names["Q_ECHO"]).send_message("this is not base64!")
    poison = queue(storage_connection_string, f"{names['Q_ECHO']}-poison")
    got = eventually(lambda: peek_all(poison), what="the poison message")
    assert got == ["this is not base64!"]
    assert any_logged(host.logs, "not a valid Base-64 string")
    host.wait_idle()
    assert host.invocations("echo") == []  # never ran


def test_output_fans_out_json_arrays_and_lists_semantics_7(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "fanout")
    host.send_queue(names["Q_FAN"], "go")
    (run,) = host.wait_for("fanout")
    assert run.ok, run.error
    fan = names["Q_FAN"]
    # Each element is written as the host's `JToken.ToString()` makes it: an object as
    # Newtonsoft's indented JSON, a number as its .NET text (H FunctionBinding.cs
    # BindAsyncCollectorAsync; azure-functions-host#9581).
    assert sorted(read_all(queue(storage_connection_string, f"{fan}-out"), 3)) == [
        "3",
        "a",
        '{\n  "b": 1\n}',
    ]
    assert sorted(read_all(queue(storage_connection_string, f"{fan}-list"), 2)) == ["x", "y"]


def test_str_parameter_gets_body_text(funchost: HostFactory, names: dict[str, str]) -> None:
    host = start(funchost, names, "as_text")
    host.send_queue(names["Q_TEXT"], "plain words")
    (run,) = host.wait_for("as_text")
    assert run.ok, run.error
    assert logged([run], "TEXT ") == ["plain words"]


def test_fast_path_wakes_listener_in_same_host_semantics_2_1_7(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    # maxPollingInterval 10 s: without the fast path the second hop would wait for a poll,
    # up to 10 s once its listener has backed off.
    host = start(funchost, names, "chain_first", "chain_second", maxPollingInterval="00:00:10")
    for i in range(5):
        host.send_queue(names["Q_CHAIN"], str(i))
    runs = host.wait_for("chain_second", 5)
    assert all(r.ok for r in runs), [r.error for r in runs]
    latencies = [float(x) for x in logged(runs, "CHAIN_LATENCY_MS ")]
    assert len(latencies) == 5
    assert statistics.median(latencies) < 200, latencies


def test_batch_size_and_new_batch_threshold_bound_concurrency_semantics_2_1_5(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    q = queue(storage_connection_string, names["Q_SLOW"])
    # All waiting before the host starts. Short and long runs alternate, so a slot frees
    # while its batch-mate still runs.
    for i in range(8):
        q.send_message(encoded(f"m{i}:{0.2 if i % 2 == 0 else 1.5}"))
    host = start(funchost, names, "slow", batchSize="2", newBatchThreshold="1")
    runs = host.wait_for("slow", 8, timeout=60)
    assert all(r.ok for r in runs), [r.error for r in runs]
    assert sorted(logged(runs, "DONE ")) == [f"m{i}" for i in range(8)]
    peak = max(int(n) for n in logged(runs, "CONCURRENT "))
    assert peak == 3  # batchSize + newBatchThreshold


def test_two_hosts_compete_and_process_every_message_once(
    funchost: HostFactory, names: dict[str, str]
) -> None:
    # Small batches, so that one host cannot take every message at once.
    hosts = [start(funchost, names, "slow", batchSize="4", newBatchThreshold="0") for _ in range(2)]
    for i in range(24):
        hosts[i % 2].send_queue(names["Q_SLOW"], f"m{i}")  # wakes each host in turn

    def runs() -> list[InvocationRecord]:
        return [r for h in hosts for r in h.invocations("slow")]

    eventually(lambda: len(runs()) >= 24, timeout=60, what="24 runs")
    for h in hosts:
        h.wait_idle()
    assert all(r.ok for r in runs()), [r.error for r in runs()]
    processed = logged(runs(), "DONE ")
    assert sorted(processed) == sorted(f"m{i}" for i in range(24))  # each exactly once
    assert all(h.invocations("slow") for h in hosts)  # both took work


def test_visibility_timeout_delays_the_retry(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "flaky", visibilityTimeout="00:00:03", maxDequeueCount="2")
    host.send_queue(names["Q_FLAKY"], "slowretry")
    first, second = host.wait_for("flaky", 2, ok=False)
    assert logged([first, second], "ATTEMPT ") == ["slowretry 1", "slowretry 2"]
    # The failed message became visible again 3 s after the first attempt.
    assert second.finished - first.finished >= 2.5
    poison = queue(storage_connection_string, f"{names['Q_FLAKY']}-poison")
    assert read_all(poison, 1) == ["slowretry"]


@contextlib.contextmanager
def storage_down() -> Iterator[tuple[AzuriteEndpoints, Callable[[], None]]]:
    """Endpoints where no storage answers yet, and `bring_up()` that starts Azurite there.

    The ports are ones an Azurite got (ports 0) and gave back on stop; from then until
    `bring_up()` this test keeps them bound without listening (connections are refused, as
    when nothing runs there), so no other process takes them meanwhile. Azurite restarts on
    them, retried while a port is briefly busy."""
    exe = find_azurite(REPO)
    if exe is None:
        unavailable("Azurite not found: `npm install azurite`")
    assert exe is not None
    first = Azurite(exe)
    first.start()
    first.stop()
    assert first.endpoints is not None
    ends = first.endpoints
    ports = (ends.blob_port, ends.queue_port, ends.table_port)
    held: list[socket.socket] = []
    for port in ports:
        s = socket.socket()
        with contextlib.suppress(OSError):  # taken already: it will be retried below
            s.bind((ends.host, port))
        held.append(s)
    started: list[Azurite] = []

    def bring_up() -> None:
        for s in held:
            s.close()
        for attempt in range(20):
            service = Azurite(exe, blob_port=ports[0], queue_port=ports[1], table_port=ports[2])
            try:
                service.start()
            except ServiceStartError:
                if attempt == 19:
                    raise
                time.sleep(0.5)  # a port still busy: try again
                continue
            started.append(service)
            return

    try:
        yield ends, bring_up
    finally:
        for s in held:
            s.close()
        for service in started:
            service.stop()


def test_storage_down_at_start_then_up_loses_nothing(funchost: HostFactory) -> None:
    names = queue_names("d")
    with storage_down() as (endpoints, bring_up):
        conn = endpoints.connection_string
        host = funchost.start(
            QUEUE_APP, settings={**names, "AzureWebJobsStorage": conn}, functions=("echo",)
        )
        eventually(
            lambda: any(re.search(r"is unreachable; retrying in", line) for line in host.logs),
            what="the listener reports storage unreachable",
        )
        assert host.host is not None and host.host.state == "Running"  # still running
        bring_up()
        host.send_queue(names["Q_ECHO"], "after outage")
        (run,) = host.wait_for("echo", timeout=60)
        assert run.ok, run.error
        assert meta_of(run)["body"] == "after outage"
        assert read_all(queue(conn, f"{names['Q_ECHO']}-out"), 1) == ["echo:after outage"]


def test_message_encoding_none(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "echo", messageEncoding="none")
    # Stored as plain text (send_queue would encode it as this host does: the same, but
    # this way the test does not depend on the harness's encoding).
    queue(storage_connection_string, names["Q_ECHO"]).send_message("raw text")
    (run,) = host.wait_for("echo")
    assert run.ok, run.error
    assert meta_of(run)["body"] == "raw text"
    out = queue(storage_connection_string, f"{names['Q_ECHO']}-out")
    assert peek_all(out) == ["echo:raw text"]  # written without base64 too


def test_admin_invoke_runs_queue_function_with_input_semantics_6_6(
    funchost: HostFactory, names: dict[str, str], storage_connection_string: str
) -> None:
    host = start(funchost, names, "echo")
    r = host.post("/admin/functions/echo", json={"input": "manual run"})
    assert r.status_code == 202
    (run,) = host.wait_for("echo")
    assert run.ok, run.error
    assert run.reason == ADMIN_REASON
    meta = meta_of(run)
    assert meta["body"] == "manual run"
    assert meta["id"] is None and meta["dequeue_count"] == 0
    out = queue(storage_connection_string, f"{names['Q_ECHO']}-out")
    assert read_all(out, 1) == ["echo:manual run"]
