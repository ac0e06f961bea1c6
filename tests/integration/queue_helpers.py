"""Shared set-up for queue tests: each host gets its own queue names."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from azure.storage.queue import QueueClient, QueueServiceClient

from tests.hostprocess import HostProcess

NAMES = ("ECHO", "JSON", "FLAKY", "FAN", "SLOW", "CHAIN", "TEXT")


def queue_env(prefix: str, conn: str) -> dict[str, str]:
    env = {f"Q_{n}": f"{prefix}-{n.lower()}" for n in NAMES}
    env["AzureWebJobsStorage"] = conn
    return env


def start_host(prefix: str, conn: str, **extra: str) -> HostProcess:
    proc = HostProcess("queue_basic", env={**queue_env(prefix, conn), **extra}, args=["--no-auth"])
    proc.start()
    return proc


def queue(conn: str, name: str) -> QueueClient:
    client = QueueServiceClient.from_connection_string(conn).get_queue_client(name)
    try:
        client.create_queue()
    except Exception:  # noqa: BLE001 - already exists
        pass
    return client


def send(client: QueueClient, body: str | bytes) -> None:
    """As the real host sends (messageEncoding base64)."""
    data = body.encode() if isinstance(body, str) else body
    client.send_message(base64.b64encode(data).decode())


def read_all(client: QueueClient, expect: int, timeout: float = 15) -> list[str]:
    """Receive and delete until `expect` messages came (decoded from base64)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        for m in client.receive_messages(messages_per_page=32, visibility_timeout=30):
            got.append(base64.b64decode(m.content).decode())
            client.delete_message(m)
        if len(got) < expect:
            time.sleep(0.1)
    return got


def wait_until(check: Callable[[], Any], timeout: float = 15, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()
