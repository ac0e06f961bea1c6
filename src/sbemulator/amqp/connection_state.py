"""Per-connection state: the receivers a connection opened (management requests name
them by link name) and the reply links of its `$cbs` and `$management` nodes."""

from __future__ import annotations

from collections import deque
from typing import Any

from proton import Link

from .addresses import entity_path
from .receiver_links import Consumer


class ReplyLink:
    """The server-to-client link of a `$cbs` or `$management` node. Replies wait for the
    client's credit; they may even be produced before the link is attached."""

    def __init__(self) -> None:
        self.link: Link | None = None
        self.pending: deque[bytes] = deque()

    def send(self, payload: bytes) -> None:
        self.pending.append(payload)
        self.flush()

    def flush(self) -> None:
        link = self.link
        while self.pending and link is not None and link.credit > 0:
            delivery = link.delivery(link.delivery_tag())
            link.stream(self.pending.popleft())
            link.advance()
            delivery.settle()


class ConnectionState:
    def __init__(self) -> None:
        self.consumers: dict[str, Consumer] = {}  # by link name (management's associated-link-name)
        self.replies: dict[tuple[Any, str], ReplyLink] = {}
        self.closed = False
        self.granted: list[str] = []  # resources of the tokens put on $cbs (--require-key)

    def reply_link(self, session: Any, address: str) -> ReplyLink:
        key = (session, entity_path(address))
        if key not in self.replies:
            self.replies[key] = ReplyLink()
        return self.replies[key]
