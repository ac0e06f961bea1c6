"""`funchost poison list|show|replay|purge` against Azurite and the Service Bus emulator, run
as a user runs it (a subprocess in an app folder with local.settings.json): a storage poison
queue and a Service Bus dead-letter queue listed, shown, replayed byte for byte and purged;
bad arguments refused with what is wrong."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.storage.queue import QueueClient

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ENTITY = "poison-cli"  # MaxDeliveryCount 1 in tests/sbemulator/Config.json
APP = """
import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="{queue}", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    pass


@app.service_bus_queue_trigger(arg_name="msg", queue_name="{entity}", connection="Bus")
def bus(msg: func.ServiceBusMessage) -> None:
    pass
"""


@pytest.fixture
def app_dir(
    tmp_path: Path, storage_connection_string: str, servicebus_connection_string: str
) -> tuple[Path, str]:
    queue = f"cli{uuid.uuid4().hex[:12]}"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / "function_app.py").write_text(APP.format(queue=queue, entity=ENTITY))
    settings = {
        "IsEncrypted": False,
        "Values": {
            "AzureWebJobsStorage": storage_connection_string,
            "Bus": servicebus_connection_string,
            "FUNCTIONS_WORKER_RUNTIME": "python",
        },
    }
    (tmp_path / "local.settings.json").write_text(json.dumps(settings))
    return tmp_path, queue


def funchost(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "Bus")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    return subprocess.run(
        [sys.executable, "-m", "funchost", "poison", *args, "--app-dir", str(app)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def ok(app: Path, *args: str) -> Any:
    done = funchost(app, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_storage_poison_queue(app_dir: tuple[Path, str], storage_connection_string: str) -> None:
    app, queue = app_dir
    poison = QueueClient.from_connection_string(storage_connection_string, f"{queue}-poison")
    poison.create_queue()
    # As the host stores them: base64 text of the body (one of them not even UTF-8).
    stored = [
        base64.b64encode(json.dumps({"jobId": "job-1"}).encode()).decode(),
        base64.b64encode(b"\xff\x00 raw bytes").decode(),
    ]
    for text in stored:
        poison.send_message(text)

    sources = {s["source"]: s for s in ok(app, "list")["sources"]}
    assert sources[f"queue:{queue}"]["count"] == 2
    assert sources[f"queue:{queue}"]["functions"] == ["work"]
    assert f"servicebus:{ENTITY}" in sources

    listed = ok(app, "list", f"queue:{queue}")["messages"]
    assert [m["jobId"] for m in listed] == ["job-1", None]
    assert listed[0]["body"] == '{"jobId": "job-1"}'
    first, second = listed[0]["messageId"], listed[1]["messageId"]
    assert ok(app, "show", f"queue:{queue}", second)["messageId"] == second

    replayed = ok(app, "replay", f"queue:{queue}", second)["replayed"]
    assert [r["messageId"] for r in replayed] == [second]
    target = QueueClient.from_connection_string(storage_connection_string, queue)
    (back,) = target.peek_messages(max_messages=32)
    assert back.content == stored[1]  # the stored text itself: the same bytes come back

    assert ok(app, "purge", f"queue:{queue}", "--all") == {"purged": 1}
    assert [m for m in poison.peek_messages(max_messages=32)] == []
    missing = funchost(app, "show", f"queue:{queue}", first)
    assert missing.returncode == 1 and f"no message '{first}' in {queue}-poison" in missing.stderr


def test_service_bus_dead_letters(
    app_dir: tuple[Path, str], servicebus_connection_string: str
) -> None:
    app, _ = app_dir
    body = b"\x00\x01 binary \xfe"
    with ServiceBusClient.from_connection_string(servicebus_connection_string) as client:
        with client.get_queue_sender(ENTITY) as sender:
            sender.send_messages(
                ServiceBusMessage(body, application_properties={"jobId": "j-7", "k": "v"})
            )
        with client.get_queue_receiver(ENTITY, max_wait_time=5) as receiver:
            (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            receiver.dead_letter_message(message, reason="Broken", error_description="test")

        (letter,) = ok(app, "list", f"servicebus:{ENTITY}")["messages"]
        assert letter["reason"] == "Broken" and letter["jobId"] == "j-7"
        assert letter["properties"]["k"] == "v"
        shown = funchost(app, "show", f"servicebus:{ENTITY}", letter["messageId"])
        assert shown.returncode == 0 and "Broken" in shown.stdout

        (replayed,) = ok(app, "replay", f"servicebus:{ENTITY}", "--all")["replayed"]
        assert replayed["messageId"] == letter["messageId"] and replayed["target"] == ENTITY
        with client.get_queue_receiver(ENTITY, max_wait_time=5) as receiver:
            (copy,) = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            assert b"".join(copy.body) == body
            props = {_text(k): _text(v) for k, v in (copy.application_properties or {}).items()}
            assert props["ReplayedFrom"] == letter["messageId"] and props["k"] == "v"
            receiver.complete_message(copy)
        with client.get_queue_receiver(
            ENTITY, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=2
        ) as dead:
            assert dead.peek_messages(max_message_count=10) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("list", "bogus"), "'bogus' is not a poison source"),
        (("replay", "queue:orders"), "give a MESSAGE_ID or --all"),
        (("purge", "queue:orders", "m1", "--all"), "give a MESSAGE_ID or --all"),
    ],
)
def test_bad_arguments_are_named(
    app_dir: tuple[Path, str], args: tuple[str, ...], said: str
) -> None:
    app, _ = app_dir
    done = funchost(app, *args)
    assert done.returncode != 0 and said in done.stderr


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
