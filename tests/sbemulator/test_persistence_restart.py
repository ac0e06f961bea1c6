"""`--data-dir`: messages, their state, session state and sequence numbers survive a
restart of the emulator process. The sync SDK writes, the aio SDK reads."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusSubQueue,
)

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
                    {"Name": "p", "Properties": {}},
                    {"Name": "ps", "Properties": {"RequiresSession": True}},
                ],
                "Topics": [{"Name": "pt", "Subscriptions": [{"Name": "sub"}]}],
            }
        ]
    }
}


def test_state_survives_restart(tmp_path: Path) -> None:
    # The sync SDK writes, the aio SDK reads after the restart (a restart costs seconds).
    writer, reader = "sync", "aio"
    config = tmp_path / "Config.json"
    config.write_text(json.dumps(CONFIG))
    data = tmp_path / "data"
    loop = asyncio.new_event_loop()
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)

    first = ServiceBusEmulator(config=config, data_dir=data)
    first.start()
    try:
        with client(writer, first.connection_string, loop) as sb:
            with sb.get_queue_sender("p") as sender:
                sender.send_messages(
                    [
                        ServiceBusMessage(t, application_properties={"t": t})
                        for t in ("done", "abandoned", "deferred", "dead", "idle")
                    ]
                )
                (scheduled_seq,) = sender.schedule_messages(ServiceBusMessage("scheduled"), far)
            with sb.get_queue_receiver("p") as receiver:
                done, abandoned, deferred, dead, _idle = receive(receiver, 5)
                receiver.complete_message(done)
                receiver.abandon_message(abandoned)
                receiver.defer_message(deferred)
                receiver.dead_letter_message(dead, reason="R", error_description="D")
                # the idle one stays locked: a restart unlocks it
            with sb.get_queue_sender("ps") as sender:
                sender.send_messages(ServiceBusMessage("in-session", session_id="s1"))
            with sb.get_queue_receiver("ps", session_id="s1") as receiver:
                receiver.session.set_state(b"checkpoint")
            with sb.get_topic_sender("pt") as sender:
                sender.send_messages(ServiceBusMessage("to-topic"))
    finally:
        first.stop()

    second = ServiceBusEmulator(config=config, data_dir=data)
    second.start()
    try:
        assert "restored 7 message(s)" in second.output()
        with client(reader, second.connection_string, loop) as sb:
            with sb.get_queue_receiver("p") as receiver:
                got = {body(m): m for m in receive(receiver, 2)}
                assert set(got) == {"abandoned", "idle"}
                assert got["abandoned"].delivery_count == 1
                assert got["abandoned"].application_properties[b"t"] == b"abandoned"
                peeked = receiver.peek_messages(10, sequence_number=1)
                states = {body(m): m.state for m in peeked}
                assert states["deferred"] == ServiceBusMessageState.DEFERRED
                assert states["scheduled"] == ServiceBusMessageState.SCHEDULED
                assert {m.sequence_number for m in peeked if body(m) == "scheduled"} == {
                    scheduled_seq
                }
                (again,) = receiver.receive_deferred_messages([deferred.sequence_number])
                for m in [*got.values(), again]:
                    receiver.complete_message(m)
            with sb.get_queue_sender("p") as sender:
                sender.send_messages(ServiceBusMessage("after-restart"))
            with sb.get_queue_receiver("p") as receiver:
                (new,) = receive(receiver, 1)
                assert new.sequence_number > scheduled_seq  # numbering continues
                receiver.complete_message(new)
            with sb.get_queue_receiver("p", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
                (dl,) = receive(dlq, 1)
                assert (body(dl), dl.dead_letter_reason, dl.sequence_number) == (
                    "dead",
                    "R",
                    dead.sequence_number,
                )
                dlq.complete_message(dl)
            with sb.get_queue_receiver(
                "ps", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2
            ) as receiver:
                assert receiver.session.session_id == "s1"
                assert receiver.session.get_state() == b"checkpoint"
                (m,) = receive(receiver, 1)
                assert body(m) == "in-session"
                receiver.complete_message(m)
            with sb.get_subscription_receiver("pt", "sub") as receiver:
                (m,) = receive(receiver, 1)
                assert body(m) == "to-topic"
                receiver.complete_message(m)
    finally:
        second.stop()
        loop.close()
