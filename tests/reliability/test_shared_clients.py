"""Shared clients under concurrency: fifty invocations whose first send through the same
Service Bus output binding happens at once all succeed (the SDK's sender used to be left
half-made, and every send after it failed)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.servicebus import ServiceBusClient

from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.testing import Harness
from tests.reliability.conftest import APP, settings

pytestmark = pytest.mark.integration

SENDS = 50


def _status(host: Harness, path: str) -> int | str:
    try:
        return int(host.post(path, timeout=60).status_code)
    except Exception as exc:  # noqa: BLE001 - reported with the others
        return type(exc).__name__


def test_fifty_concurrent_first_sends_through_one_output_binding(
    storage_connection_string: str,
    emulators: Callable[..., ServiceBusEmulator],
    report: Callable[..., None],
) -> None:
    s = settings()
    broker = emulators(s)
    host = Harness(
        APP,
        settings={
            **s,
            "AzureWebJobsStorage": storage_connection_string,
            "ServiceBusConnection": broker.connection_string or "",
        },
        functions=("relay",),
    ).start()
    try:
        with ThreadPoolExecutor(SENDS) as pool:
            statuses = list(pool.map(lambda n: _status(host, f"/api/relay/{n}"), range(SENDS)))
    finally:
        host.stop()
    assert statuses == [200] * SENDS, (statuses, broker.output()[-3000:])
    got: list[str] = []
    with (
        ServiceBusClient.from_connection_string(broker.connection_string or "") as sb,
        sb.get_queue_receiver(s["REL_RELAY_SBQ"], max_wait_time=5) as receiver,
    ):
        while len(got) < SENDS:
            batch = receiver.receive_messages(max_message_count=SENDS)
            if not batch:
                break
            for message in batch:
                got.append(str(message))
                receiver.complete_message(message)
    assert sorted(got, key=int) == [str(n) for n in range(SENDS)]
    report("concurrent first sends", sends=SENDS, succeeded=len(got), failed=SENDS - len(got))
