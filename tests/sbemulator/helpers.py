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
        got += receiver.receive_messages(
            max_message_count=count - len(got), max_wait_time=min(left, 2.0)
        )
    return got


def body(message: Any) -> str:
    return str(message)


def settle_bypassing_client_checks(receiver: Any, message: Any) -> None:
    """Complete `message` as `complete_message` does, minus the SDK's own check of the
    lock's expiry time (`_settle_message_with_retry`), so that what is tested is the
    server's answer: a rejected disposition carrying com.microsoft:message-lock-lost."""
    target = getattr(receiver, "target", receiver)  # the aio receiver behind the blocking view
    operation = target._do_retryable_operation(
        target._settle_message, timeout=None, message=message, settle_operation="complete"
    )
    if hasattr(operation, "__await__"):
        receiver._loop.run_until_complete(operation)
