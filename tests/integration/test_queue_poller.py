"""The queue loop renews a running message's visibility (semantics §2.1.3), in the real
host on the in-process harness against real Azurite, with the 10-minute lease and
5-minute renewal scaled down to 2 s and 1 s."""

from __future__ import annotations

import time

import pytest

from funchost.testing.plugin import HostFactory
from tests.integration.queue_helpers import (
    QUEUE_APP,
    eventually,
    logged,
    peek_all,
    queue,
    queue_names,
)

pytestmark = pytest.mark.integration


def test_running_message_stays_invisible_past_its_lease(
    funchost: HostFactory, storage_connection_string: str
) -> None:
    names = queue_names()
    # A 2 s lease renewed every second (the real host's: 10 minutes, renewed every 5).
    settings = {**names, "FUNCHOST_QUEUE_LEASE_SECONDS": "2"}
    host = funchost.start(QUEUE_APP, settings=settings, functions=("slow",))
    # Runs for 4 s, two leases of 2 s: only renewal keeps it hidden meanwhile.
    host.send_queue(names["Q_SLOW"], "long:4")
    eventually(lambda: "CONCURRENT 1" in host.logs, what="the message runs")
    q = queue(storage_connection_string, names["Q_SLOW"])
    seen_meanwhile: list[str] = []
    while not host.invocations("slow"):  # sample what is visible while it runs
        seen_meanwhile.extend(peek_all(q))
        time.sleep(0.2)
    (run,) = host.invocations("slow")
    assert run.ok, run.error
    assert logged([run], "DONE ") == ["long"]
    assert seen_meanwhile == []  # never visible again while it ran
    # And deleted after: nothing left, not even invisible; it ran once.
    eventually(lambda: q.get_queue_properties().approximate_message_count == 0, what="deleted")
    host.wait_idle()
    assert len(host.invocations("slow")) == 1
