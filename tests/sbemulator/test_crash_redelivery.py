"""A message locked when the emulator dies (kill -9, `--data-dir`) comes back with its
delivery count raised, as a lock lost to a broker failure is in Service Bus; a message
that keeps killing the broker under it reaches the dead-letter queue after
MaxDeliveryCount. Through the unmodified SDK, sync and aio in turn."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue

from funchost.devservices.servicebus import ServiceBusEmulator

from .helpers import body, receive
from .sdk import client

pytestmark = pytest.mark.integration

CONFIG = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "sbemulatorns",
                "Queues": [
                    {"Name": "crash", "Properties": {"MaxDeliveryCount": 3}},
                    {"Name": "crash-sessions", "Properties": {"RequiresSession": True}},
                ],
            }
        ]
    }
}


def _quietly_close(thing: Any) -> None:
    # The connection died with the emulator; closing it may complain.
    with contextlib.suppress(Exception):
        thing.close()


def test_locked_messages_come_back_counted_after_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "Config.json"
    config.write_text(json.dumps(CONFIG))
    data = tmp_path / "data"
    loop = asyncio.new_event_loop()
    seen: list[tuple[str, int]] = []

    def run(flavor: str, first: bool) -> None:
        """Start the emulator, take the poison message (and a session message) under
        lock, then kill -9 the emulator while they are locked."""
        emulator = ServiceBusEmulator(config=config, data_dir=data)
        emulator.start()
        sb = client(flavor, emulator.connection_string, loop)
        try:
            if first:
                with sb.get_queue_sender("crash") as sender:
                    sender.send_messages([ServiceBusMessage("poison"), ServiceBusMessage("ok")])
                with sb.get_queue_sender("crash-sessions") as sender:
                    sender.send_messages(ServiceBusMessage("in-session", session_id="S"))
            receiver = sb.get_queue_receiver("crash")
            receiver.__enter__()
            for m in receive(receiver, 2 if first else 1):
                seen.append((body(m), m.delivery_count))
                if body(m) == "ok":
                    receiver.complete_message(m)
            session_receiver = sb.get_queue_receiver("crash-sessions", session_id="S")
            session_receiver.__enter__()
            seen.extend((body(m), m.delivery_count) for m in receive(session_receiver, 1))
        finally:
            emulator.kill()  # SIGKILL: no clean-up, locks held
            for thing in (locals().get("session_receiver"), locals().get("receiver"), sb):
                if thing is not None:
                    _quietly_close(thing)

    try:
        run("sync", first=True)
        run("aio", first=False)
        run("sync", first=False)
        assert seen == [
            ("poison", 0),
            ("ok", 0),
            ("in-session", 0),
            ("poison", 1),  # .NET shows DeliveryCount 2: it counts the current attempt
            ("in-session", 1),
            ("poison", 2),
            ("in-session", 2),
        ]

        # The third attempt died with the emulator too: MaxDeliveryCount (3) is used up.
        emulator = ServiceBusEmulator(config=config, data_dir=data)
        emulator.start()
        try:
            with client("aio", emulator.connection_string, loop) as sb:
                with sb.get_queue_receiver("crash") as receiver:
                    assert receiver.receive_messages(max_wait_time=1) == []
                with sb.get_queue_receiver(
                    "crash", sub_queue=ServiceBusSubQueue.DEAD_LETTER
                ) as dlq:
                    (dead,) = receive(dlq, 1)
                    assert (body(dead), dead.delivery_count, dead.dead_letter_reason) == (
                        "poison",
                        3,
                        "MaxDeliveryCountExceeded",
                    )
                    dlq.complete_message(dead)
                with sb.get_queue_receiver("crash-sessions", session_id="S") as receiver:
                    (again,) = receive(receiver, 1)
                    assert (body(again), again.delivery_count) == ("in-session", 3)
                    receiver.complete_message(again)
        finally:
            emulator.stop()
    finally:
        loop.close()
