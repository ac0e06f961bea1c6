"""A clean stop redoes nothing: what finished within the grace period is settled, what
never started is released, what overran the grace period is cut short and released, and
the host ends without a traceback (a second Ctrl-C ends it at once)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from azure.servicebus import ServiceBusClient
from azure.storage.queue import QueueClient

from funchost.devservices.servicebus import ServiceBusEmulator
from funchost.testing import Harness
from tests.integration.queue_helpers import queue
from tests.reliability.conftest import APP, host_process, settings

pytestmark = pytest.mark.integration


def _count(queue: QueueClient) -> int:
    """Messages in the queue, visible or not."""
    return queue.get_queue_properties().approximate_message_count or 0


def test_work_finishing_within_the_grace_period_is_settled_not_redone(
    storage_connection_string: str,
    emulators: Callable[..., ServiceBusEmulator],
    report: Callable[..., None],
) -> None:
    s = settings(REL_SLOW_SECONDS="1.5")
    emulator = emulators(s)
    host = Harness(
        APP,
        settings={
            **s,
            "AzureWebJobsStorage": storage_connection_string,
            "ServiceBusConnection": emulator.connection_string or "",
        },
        grace=20,
    ).start()
    stopped_after = 0.0
    try:
        host.send_queue(s["REL_SLOW_Q"], "q-1")
        host.send_servicebus(s["REL_SLOW_SBQ"], "sb-1")
        deadline = time.monotonic() + 20
        while not ({"SLOW STARTED q-1", "SLOW SB STARTED sb-1"} <= set(host.logs)):
            assert time.monotonic() < deadline, host.logs
            time.sleep(0.05)
    finally:
        began = time.monotonic()
        host.stop()  # both are mid-run: they finish within the grace period
        stopped_after = time.monotonic() - began
    assert {"SLOW DONE q-1", "SLOW SB DONE sb-1"} <= set(host.logs)
    assert [r.ok for r in host.invocations()] == [True, True]
    # Settled: the queue message is deleted (not merely invisible) and the Service Bus
    # message completed, so a restart has nothing to redo.
    assert _count(queue(storage_connection_string, s["REL_SLOW_Q"])) == 0
    with (
        ServiceBusClient.from_connection_string(emulator.connection_string or "") as sb,
        sb.get_queue_receiver(s["REL_SLOW_SBQ"]) as receiver,
    ):
        assert receiver.peek_messages(max_message_count=5) == []
    report(
        "graceful stop",
        finished_in_grace="2 of 2",
        redelivered=0,
        stop_took=f"{stopped_after:.1f}s",
    )


def test_a_sync_function_overrunning_the_grace_period_is_cut_and_its_message_released(
    storage_connection_string: str, report: Callable[..., None]
) -> None:
    # In-process, the abandoned thread sleeps on: keep it short so the test run ends.
    s = settings(REL_STUCK_SECONDS="8")
    host = Harness(
        APP, settings={**s, "AzureWebJobsStorage": storage_connection_string}, grace=1
    ).start()
    try:
        host.send_queue(s["REL_STUCK_Q"], "stuck-1")
        deadline = time.monotonic() + 20
        while "STUCK STARTED stuck-1" not in host.logs:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        began = time.monotonic()
        host.stop()
        took = time.monotonic() - began
    (record,) = host.invocations("stuck_job")
    assert not record.ok and type(record.error).__name__ == "InvocationCancelled"
    assert took < 6  # the grace period (1 s) and a release, not the 8 s sleep
    # Released: visible again at once, its dequeue count the one delivery it had.
    messages = queue(storage_connection_string, s["REL_STUCK_Q"]).peek_messages(max_messages=5)
    assert [(m.dequeue_count, m.content) for m in messages] == [(1, "c3R1Y2stMQ==")]
    report("grace overrun", cut_after=f"{took:.1f}s", message_released="yes")


def test_sigterm_drains_and_a_second_ctrl_c_ends_at_once_without_a_traceback(
    storage_connection_string: str,
) -> None:
    s = settings(REL_STUCK_SECONDS="60")
    env = {**s, "AzureWebJobsStorage": storage_connection_string}
    # One signal: a drain; the stuck function is cut after --grace; exit code 0.
    first = host_process(env, "--grace", "2")
    first.start()
    queue(storage_connection_string, s["REL_STUCK_Q"]).send_message("c3R1Y2stMg==")
    assert first.wait_for_output("STUCK STARTED stuck-2", timeout=20)
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    out = first.output()
    assert "cutting them short" in out and "Traceback" not in out
    # Two Ctrl-C: the second ends the host at once, still without a traceback.
    second = host_process(env, "--grace", "60")
    second.start()
    assert second.wait_for_output("STUCK STARTED stuck-2", timeout=30)
    second.signal(signal.SIGINT)
    assert second.wait_for_output("Stopping", timeout=10)
    began = time.monotonic()
    second.signal(signal.SIGINT)
    code = second.wait(15)
    assert code is not None and time.monotonic() - began < 10
    assert "Traceback" not in second.output(), second.output()[-3000:]
