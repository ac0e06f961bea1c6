"""kill -9 of a host mid-batch, and of the Service Bus emulator mid-run: nothing is lost
and no effect is applied twice. Three host processes compete on one storage queue (and
on one Service Bus queue); every job stores its effect through the idempotency ledger,
atomically with its outcome, so a job redone after a crash cannot store it twice."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.data.tables import TableClient
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.queue import QueueClient

from funchost.devservices.servicebus import ServiceBusEmulator
from tests.hostprocess import HostProcess
from tests.integration.queue_helpers import eventually
from tests.reliability.conftest import host_process, settings

# Each scenario runs three host processes and waits out leases: more than the suite's
# default per-test timeout on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOBS = 60
# An expected fault's one line (core/logs.py `fault`): `[time] what (Type: why)`; the console
# names no level, as `func start`.
FAULT_LINE = re.compile(r" \(\w+: .*\)$", re.MULTILINE)


def _env(s: dict[str, str], storage: str, servicebus: str = "") -> dict[str, str]:
    return {
        **s,
        "AzureWebJobsStorage": storage,
        "ServiceBusConnection": servicebus,
        # A killed host's messages and ledger claims come back within seconds, not the
        # real host's 10 minutes (queue) and the ledger's 5 minutes.
        "FUNCHOST_QUEUE_LEASE_SECONDS": "4",
        "REL_LEDGER_LEASE": "3",
        "REL_WORK_SECONDS": "0.15",
        "AzureFunctionsJobHost__extensions__queues__batchSize": "4",
        "AzureFunctionsJobHost__extensions__queues__newBatchThreshold": "2",
        "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls": "4",
    }


def _ledger(storage: str, s: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    """Every ledger row by key: the outcome rows (one per scope) and effect rows."""
    rows: dict[str, list[dict[str, object]]] = {}
    with TableClient.from_connection_string(storage, s["REL_LEDGER"]) as table:
        try:
            for row in table.list_entities():
                rows.setdefault(str(row["PartitionKey"]), []).append(dict(row))
        except Exception:  # noqa: BLE001 - the table does not exist yet
            return {}
    return rows


def _done(rows: dict[str, list[dict[str, object]]], kind: str) -> set[str]:
    return {
        key
        for key, items in rows.items()
        if any(r.get("Scope") == kind and r.get("State") == "Succeeded" for r in items)
    }


def _wait_done(storage: str, s: dict[str, str], kind: str, count: int, timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        done = _done(_ledger(storage, s), kind)
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(0.3)


def _check(storage: str, s: dict[str, str], kind: str, keys: list[str]) -> dict[str, int]:
    rows = _ledger(storage, s)
    effects = Counter(
        key for key, items in rows.items() for r in items if r["RowKey"] == f"effect-{kind}"
    )
    attempts = [
        int(r.get("Attempt", 1))  # type: ignore[call-overload]
        for items in rows.values()
        for r in items
        if r.get("Scope") == kind
    ]
    return {
        "lost": len(set(keys) - _done(rows, kind)),
        "applied_twice": sum(1 for n in effects.values() if n > 1),
        "effects": sum(effects.values()),
        "redone_after_crash": sum(1 for a in attempts if a > 1),
    }


def _dead_lettered(connection: str, queue: str) -> list[tuple[str, str | None]]:
    with (
        ServiceBusClient.from_connection_string(connection) as sb,
        sb.get_queue_receiver(queue, sub_queue="deadletter") as receiver,
    ):
        found = receiver.peek_messages(max_message_count=50, sequence_number=1)
        return [(str(m), m.dead_letter_reason) for m in found]


def _start_hosts(env: dict[str, str], n: int) -> list[HostProcess]:
    hosts = [host_process(env) for _ in range(n)]
    for host in hosts:
        host.start()
    return hosts


def test_kill_9_of_one_of_three_hosts_on_a_storage_queue_loses_nothing_and_repeats_nothing(
    storage_connection_string: str, report: Callable[..., None]
) -> None:
    s = settings()
    env = _env(s, storage_connection_string)
    hosts = _start_hosts(env, 3)
    try:
        queue = QueueClient.from_connection_string(storage_connection_string, s["REL_Q"])
        keys = [f"job-{i}-{uuid.uuid4().hex[:6]}" for i in range(JOBS)]
        import base64

        for key in keys:
            queue.send_message(base64.b64encode(json.dumps({"key": key}).encode()).decode())
        _wait_done(storage_connection_string, s, "storage", JOBS // 4, timeout=60)
        victim = hosts[0]
        assert victim.wait_for_output("JOB DONE storage", timeout=30)  # it took part
        victim.kill()  # mid-batch: it holds messages and ledger claims
        hosts[0] = host_process(env)
        hosts[0].start()
        done = _wait_done(storage_connection_string, s, "storage", JOBS, timeout=120)
        assert len(done) == JOBS
        figures = _check(storage_connection_string, s, "storage", keys)
        assert figures["lost"] == 0 and figures["applied_twice"] == 0, figures
        assert figures["effects"] == JOBS
        # Messages the killed host had finished but not deleted come back once their
        # invisibility ends, are seen as duplicates by the ledger, and are deleted.
        eventually(
            lambda: (queue.get_queue_properties().approximate_message_count or 0) == 0,
            timeout=60,
            what="the queue drained",
        )
    finally:
        for host in hosts:
            host.stop()
    report("kill -9 host, storage queue", jobs=JOBS, hosts=3, **figures)


def test_kill_9_of_a_host_and_of_the_emulator_on_a_service_bus_queue_loses_nothing(
    storage_connection_string: str,
    emulators: Callable[..., ServiceBusEmulator],
    tmp_path: Path,
    report: Callable[..., None],
) -> None:
    s = settings()
    emulator = emulators(s, data_dir=tmp_path / "sb")
    assert emulator.connection_string and emulator.port
    env = _env(s, storage_connection_string, emulator.connection_string)
    hosts = _start_hosts(env, 3)
    try:
        keys = [f"job-{i}-{uuid.uuid4().hex[:6]}" for i in range(JOBS)]
        with (
            ServiceBusClient.from_connection_string(emulator.connection_string) as sb,
            sb.get_queue_sender(s["REL_SBQ"]) as sender,
        ):
            sender.send_messages([ServiceBusMessage(json.dumps({"key": k})) for k in keys])
        _wait_done(storage_connection_string, s, "servicebus", JOBS // 4, timeout=60)
        hosts[1].kill()
        hosts[1] = host_process(env)
        hosts[1].start()
        _wait_done(storage_connection_string, s, "servicebus", JOBS // 2, timeout=60)
        # The broker itself dies mid-run and comes back on the same port with its data.
        emulator.kill()
        restarted = emulators(s, data_dir=tmp_path / "sb", port=emulator.port)
        assert restarted.port == emulator.port
        done = _wait_done(storage_connection_string, s, "servicebus", JOBS, timeout=120)
        dead = _dead_lettered(restarted.connection_string or "", s["REL_SBQ"])
        # A redelivery of a job whose claim was still live waited for it (the ledger's
        # wait) instead of failing ten times in a row into the dead-letter queue.
        assert dead == [], dead
        assert len(done) == JOBS, sorted(set(keys) - done)
        figures = _check(storage_connection_string, s, "servicebus", keys)
        assert figures["lost"] == 0 and figures["applied_twice"] == 0, figures
        assert all(h.returncode is None for h in hosts)  # every host rode out the outage
        # Expected faults are one line each, `what (Type: why)`: no tracebacks at all (a
        # function's own failures, a redelivered job whose claim was still live, print the
        # worker's `Exception:`/`Stack:` lines instead).
        outputs = [h.output() for h in hosts]
        for out in outputs:
            assert "Traceback" not in out
        figures["fault_lines"] = max(len(FAULT_LINE.findall(out)) for out in outputs)
    finally:
        for host in hosts:
            host.stop()
    report("kill -9 host and emulator, Service Bus queue", jobs=JOBS, hosts=3, **figures)
