"""Helpers shared by the queue, blob and Service Bus integration tests, for what the
in-process harness (`funchost.testing`) does not report itself: what storage holds (output
and poison queues), messages stored as they are (not encoded as the host encodes), and a
wait on a condition the harness has no event for."""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, QueueServiceClient

from funchost.testing import Harness, InvocationRecord

T = TypeVar("T")

APPS = Path(__file__).resolve().parents[1] / "apps"
QUEUE_APP = APPS / "queue_basic"
NAMES = ("ECHO", "JSON", "FLAKY", "FAN", "SLOW", "CHAIN", "TEXT")


def queue_names(letter: str = "q") -> dict[str, str]:
    """The queue_basic app's `Q_*` settings, on queue names unique to the caller."""
    prefix = letter + uuid.uuid4().hex[:12]
    return {f"Q_{n}": f"{prefix}-{n.lower()}" for n in NAMES}


def queue_settings(**options: str) -> dict[str, str]:
    """host.json `extensions.queues` options as app settings (`batchSize="2"`, ...)."""
    return {f"AzureFunctionsJobHost__extensions__queues__{k}": v for k, v in options.items()}


def queue(conn: str, name: str) -> QueueClient:
    """A client for queue `name`, created if missing."""
    client = QueueServiceClient.from_connection_string(conn).get_queue_client(name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def encoded(body: str | bytes) -> str:
    """A body as the host stores it with the default messageEncoding (base64)."""
    data = body.encode() if isinstance(body, str) else body
    return base64.b64encode(data).decode()


def read_all(client: QueueClient, expect: int, timeout: float = 30) -> list[str]:
    """Receive and delete (base64-decoded) until `expect` messages came, or the timeout."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        for m in client.receive_messages(messages_per_page=32, visibility_timeout=30):
            got.append(base64.b64decode(m.content).decode())
            client.delete_message(m)
        if len(got) >= expect or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def peek_all(client: QueueClient) -> list[str]:
    """The visible messages' contents, as stored."""
    return [m.content for m in client.peek_messages(max_messages=32)]


def eventually(check: Callable[[], T], timeout: float = 30, what: str = "") -> T:
    """Poll `check` until it returns a truthy value (returned); AssertionError with the last
    value after `timeout` seconds. For conditions the harness has no event for."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}; last: {value!r}")
        time.sleep(0.05)


def logged(records: Iterable[InvocationRecord], prefix: str) -> list[str]:
    """What follows `prefix` in the lines the invocations logged, in order."""
    return [line[len(prefix) :] for r in records for line in r.logs if line.startswith(prefix)]


def any_logged(lines: Iterable[str], text: str) -> Any:
    return any(text in line for line in lines)


def wait_for_where(
    host: Harness,
    function: str,
    matches: Callable[[InvocationRecord], bool],
    count: int = 1,
    timeout: float = 30,
) -> list[InvocationRecord]:
    """`host.wait_for` for the invocations `matches` picks out: blocks on the recorder until
    `count` of them finished; them. (The harness's wait_for counts every invocation of a
    function.)"""

    def mine(records: list[InvocationRecord]) -> list[InvocationRecord]:
        return [r for r in records if r.function == function and matches(r)]

    found = mine(host.recorder.wait(lambda rs: len(mine(rs)) >= count, timeout))
    if len(found) < count:
        raise AssertionError(
            f"'{function}': {len(found)} matching invocation(s) within {timeout}s, expected "
            f"{count}; all: {[(r.reason, r.ok) for r in host.invocations(function)]}"
        )
    return found
