"""Azurite (with its data on disk) and the Service Bus emulator (with --data-dir) stop for
a while and come back on the same ports: the host stays up, says so in a few lines,
resumes by itself and loses nothing, including what was sent before the outage."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from funchost.devservices.azurite import Azurite, find_azurite
from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.testing import Harness
from tests.conftest import REPO
from tests.integration.queue_helpers import encoded, queue
from tests.reliability.conftest import APP, settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OUTAGE_SECONDS = 8


def _azurite(location: Path, ports: tuple[int, int, int] = (0, 0, 0)) -> Azurite:
    exe = find_azurite(REPO)
    assert exe is not None
    blob, queue_port, table = ports
    service = Azurite(
        exe, location=location, blob_port=blob, queue_port=queue_port, table_port=table
    )
    deadline = time.monotonic() + 30
    while True:  # the old process's ports may take a moment to be free again
        try:
            service.start()
            return service
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_storage_and_broker_outages_are_ridden_out_and_nothing_is_lost(
    tmp_path: Path,
    emulators: Callable[..., ServiceBusEmulator],
    report: Callable[..., None],
) -> None:
    s = settings(REL_WORK_SECONDS="0.05")
    storage = _azurite(tmp_path / "azurite")
    assert storage.endpoints is not None
    ports = (
        storage.endpoints.blob_port,
        storage.endpoints.queue_port,
        storage.endpoints.table_port,
    )
    conn = storage.endpoints.connection_string
    broker = emulators(s, data_dir=tmp_path / "sb")
    host = Harness(
        APP,
        settings={
            **s,
            "AzureWebJobsStorage": conn,
            "ServiceBusConnection": broker.connection_string or "",
            "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:01",
        },
    ).start()
    keys = [f"k{i}-{uuid.uuid4().hex[:6]}" for i in range(20)]
    try:
        before, during = keys[:10], keys[10:]
        for key in before[:5]:
            host.send_queue(s["REL_Q"], {"key": key})
        host.send_servicebus(s["REL_SBQ"], [json.dumps({"key": k}) for k in before[5:]])
        host.wait_for("storage_job", 5, ok=True)
        host.wait_for("servicebus_job", 5, ok=True)
        # Both go down (Azurite stopped, so its data is flushed to disk; the emulator
        # killed: its journal is durable).
        storage.stop()
        broker.kill()
        time.sleep(OUTAGE_SECONDS)
        assert host.host is not None and host.host.state == "Running"
        broker = emulators(s, data_dir=tmp_path / "sb", port=broker.port)
        with (
            ServiceBusClient.from_connection_string(broker.connection_string or "") as sb,
            sb.get_queue_sender(s["REL_SBQ"]) as sender,
        ):
            sender.send_messages([ServiceBusMessage(json.dumps({"key": k})) for k in during[5:]])
        storage = _azurite(tmp_path / "azurite", ports)
        q = queue(conn, s["REL_Q"])
        for key in during[:5]:
            q.send_message(encoded(json.dumps({"key": key})))
        host.wake(s["REL_Q"])
        host.wait_for("storage_job", 10, ok=True, timeout=120)
        host.wait_for("servicebus_job", 10, ok=True, timeout=120)
        host.wait_idle(timeout=60)
        faults = [line for line in host.logs if "unreachable" in line or "failed" in line]
    finally:
        host.stop()
        storage.stop()
    done = {
        line.split()[3]
        for r in host.invocations()
        if r.ok
        for line in r.logs
        if line.startswith("JOB DONE")
    }
    assert set(keys) <= done, sorted(set(keys) - done)
    report(
        "outage of Azurite and the emulator",
        seconds=OUTAGE_SECONDS,
        jobs=len(keys),
        lost=len(set(keys) - done),
        host_exits=0,
        fault_lines=len(faults),
    )
