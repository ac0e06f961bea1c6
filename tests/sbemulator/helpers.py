"""Small helpers shared by the SDK-driven tests."""

from __future__ import annotations

import time
from typing import Any


def receive(receiver: Any, count: int, timeout: float = 5.0) -> list[Any]:
    """Receive until `count` messages arrived or `timeout` passed."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        left = max(0.5, deadline - time.monotonic())
        got += receiver.receive_messages(max_message_count=count - len(got),
                                         max_wait_time=min(left, 2.0))
    return got


def body(message: Any) -> str:
    return str(message)
