"""The queue loop in-process against real Azurite: visibility renewal while a message runs
(semantics §2.1.3), with the 10-minute lease and 5-minute renewal scaled down."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import anyio
import pytest
from azure.storage.queue import QueueClient as SyncQueueClient
from azure.storage.queue.aio import QueueClient

from funchost.storage.notify import QueueNotifier
from funchost.storage.queue_poller import PollerSettings, QueuePoller
from funchost.storage.queues import Codec

pytestmark = pytest.mark.integration


def test_running_message_stays_invisible_past_its_lease(
        storage_connection_string: str, unique_name: str) -> None:
    sync = SyncQueueClient.from_connection_string(storage_connection_string, unique_name)
    sync.create_queue()
    sync.send_message(base64.b64encode(b"long").decode())
    seen_meanwhile: list[Any] = []

    async def main() -> None:
        stopping = anyio.Event()
        async with QueueClient.from_connection_string(storage_connection_string,
                                                      unique_name) as queue:
            async def handler(msg: Any, body: bytes) -> None:
                # Runs for 5 s, well past the 2 s lease: only renewal keeps it hidden.
                for _ in range(5):
                    await anyio.sleep(1)
                    seen_meanwhile.extend(sync.peek_messages())
                stopping.set()

            # A 2 s lease, renewed every second (the real host: 10 minutes, every 5).
            settings = PollerSettings(1, 0, 5, timedelta(0), timedelta(seconds=1),
                                      lease_seconds=2)
            poller = QueuePoller(queue, lambda _m: None, settings, Codec("base64"), handler,
                                 QueueNotifier().watch(unique_name), stopping, "test queue")
            with anyio.fail_after(30):
                await poller.run()

    anyio.run(main)
    assert seen_meanwhile == []  # never visible again while it ran
    assert sync.get_queue_properties().approximate_message_count == 0  # and deleted after
