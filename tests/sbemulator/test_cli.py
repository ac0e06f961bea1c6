"""The `sbemulator` command as a process: the ready lines, clean stop on SIGTERM/SIGINT,
config errors that name the file, entity and field, and the command-line extras."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from funchost.devservices.servicebus import ServiceBusEmulator

from .helpers import body, receive

VENV_BIN = Path(sys.executable).parent


def _run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sbemulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # the tests read the exit code
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_lines_and_clean_stop(sig: signal.Signals) -> None:
    exe = VENV_BIN / "sbemulator"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "sbemulator"]
    proc = subprocess.Popen(
        [*argv, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        m = re.fullmatch(r"sbemulator listening on 127\.0\.0\.1:(\d+)\n", ready)
        assert m, ready
        port = int(m.group(1))
        assert port > 0
        assert proc.stdout.readline() == (
            f"Endpoint=sb://localhost:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;\n"
        )
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(5) == 0
        assert time.monotonic() - started < 2
        assert proc.stdout.read() == ""  # exactly two lines on stdout
    finally:
        if proc.poll() is None:
            proc.kill()


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "Config.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _ns(**entities: object) -> dict[str, object]:
    return {"UserConfig": {"Namespaces": [{"Name": "ns", **entities}]}}


@pytest.mark.parametrize(
    "doc,expected",
    [
        ("{not json", r"invalid JSON at line 1"),
        (
            _ns(Queues=[{"Name": "orders", "Properties": {"LockDuration": "one minute"}}]),
            r"Queues\[0\] 'orders'.*LockDuration: not a duration: 'one minute'",
        ),
        (
            _ns(Queues=[{"Name": "orders", "Properties": {"ForwardTo": "nowhere"}}]),
            r"queue 'orders': ForwardTo: no queue or topic named 'nowhere'",
        ),
        (
            _ns(
                Topics=[
                    {
                        "Name": "t",
                        "Subscriptions": [
                            {
                                "Name": "s",
                                "Rules": [
                                    {
                                        "Name": "r",
                                        "Properties": {
                                            "FilterType": "Sql",
                                            "SqlFilter": {"SqlExpression": "a = = 1"},
                                        },
                                    }
                                ],
                            }
                        ],
                    }
                ]
            ),
            r"Subscriptions\[0\] 's' Rules\[0\] 'r'.*SqlExpression: expected a value",
        ),
    ],
)
def test_bad_config_exits_with_a_precise_error(tmp_path: Path, doc: object, expected: str) -> None:
    path = _write(tmp_path, doc)
    result = _run("--port", "0", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert str(path) in result.stderr
    assert re.search(expected, result.stderr), result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = _run("--port", "0", "--config", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "absent.json: cannot read config file" in result.stderr


@pytest.mark.integration
def test_command_line_entities_and_auto_create() -> None:
    emulator = ServiceBusEmulator(
        auto_create=True,
        extra_args=["--queue", "cli-q:MaxDeliveryCount=1", "--topic", "cli-t:one,two"],
    )
    emulator.start()
    try:
        assert emulator.connection_string is not None
        with ServiceBusClient.from_connection_string(emulator.connection_string) as sb:
            with sb.get_queue_sender("made-on-demand") as sender:
                sender.send_messages(ServiceBusMessage("auto"))
            with sb.get_queue_receiver("made-on-demand") as receiver:
                (m,) = receive(receiver, 1)
                assert body(m) == "auto"
                receiver.complete_message(m)
            with sb.get_topic_sender("cli-t") as sender:
                sender.send_messages(ServiceBusMessage("fan"))
            with sb.get_subscription_receiver("cli-t", "two") as receiver:
                (m,) = receive(receiver, 1)
                assert body(m) == "fan"
                receiver.complete_message(m)
            with sb.get_queue_sender("cli-q") as sender:
                sender.send_messages(ServiceBusMessage("once"))
            with sb.get_queue_receiver("cli-q") as receiver:
                (m,) = receive(receiver, 1)
                receiver.abandon_message(m)  # MaxDeliveryCount=1 from the command line
                assert receiver.peek_messages(5, sequence_number=1) == []
        assert "auto-creating queue 'made-on-demand'" in emulator.output()
    finally:
        emulator.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stderr_until_ready(*args: str, env: dict[str, str] | None = None) -> str:
    """What the emulator logs before it is ready (it is stopped right after)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sbemulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("sbemulator listening on ")
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        return proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_admin_api_port() -> None:
    # With --port 0 a free port; EMULATOR_HTTP_PORT (the official setting) or
    # --http-port choose it; "off" serves none.
    assert re.search(r"administration API on http://127\.0\.0\.1:\d+ ", _stderr_until_ready())
    port = _free_port()
    logged = _stderr_until_ready(env={"EMULATOR_HTTP_PORT": str(port)})
    assert f"administration API on http://127.0.0.1:{port} (HTTPS on the same port)" in logged
    assert "administration API" not in _stderr_until_ready("--http-port", "off")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = _run("--port", "0", "--http-port", str(taken))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr
    result = _run("--port", "0", "--http-port", "nine")
    assert (result.returncode, "not a port: 'nine'" in result.stderr) == (2, True)
