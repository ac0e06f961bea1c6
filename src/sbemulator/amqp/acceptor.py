"""Accepting connections, with the limits that keep a flood of them from exhausting the
emulator.

proton's own acceptor takes one socket per wake-up from a backlog of 10 and gives every
socket a transport. This one drains the backlog, keeps at most `max_connections`
connections (the official emulator's quota; a few more are let in only to be told so
in AMQP), drops the rest at once, and reads every connection's bytes through
`DeliveryIdRepair` before proton does. `ConnectionTable` remembers when each was
accepted, so a connection that has not opened within the handshake timeout is closed.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from proton import Condition, Connection, Event, Handler, Transport, symbol
from proton.handlers import IOHandler
from proton.reactor import Container

from .frame_filter import DeliveryIdRepair

log = logging.getLogger(__name__)

BACKLOG = 128
ACCEPTS_PER_WAKEUP = 64
# Connections let in beyond the quota, only to be answered with resource-limit-exceeded
# (so the SDK raises ServiceBusQuotaExceededError instead of a bare connection reset).
REFUSAL_SLOTS = 16
PAUSE_AFTER_ACCEPT_ERROR = 0.2  # seconds; out of descriptors, say: let some close first
_KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


@dataclass
class Accepted:
    """One accepted connection, until its transport closes."""

    connection: Connection
    transport: Transport
    incoming: _Filtered  # what proton reads from; knows when bytes last came in
    accepted_at: float
    over_quota: bool
    opened: bool = False


@dataclass
class ConnectionTable:
    """Accepted connections, counted against the quota and timed for the handshake."""

    max_connections: int
    handshake_timeout: float
    # proton's wrappers hash and compare by the C object they wrap.
    live: dict[Connection, Accepted] = field(default_factory=dict)
    refused: int = 0  # politely (resource-limit-exceeded)
    dropped: int = 0  # closed unread
    handshake_timeouts: int = 0
    idle_timeouts: int = 0

    def admits(self) -> bool | None:
        """True: a connection within the quota; False: over it, to be refused in AMQP;
        None: drop the socket unread."""
        if len(self.live) < self.max_connections:
            return True
        if len(self.live) < self.max_connections + REFUSAL_SLOTS:
            return False
        return None

    def add(self, record: Accepted) -> None:
        self.live[record.connection] = record

    def find(self, connection: Connection) -> Accepted | None:
        return self.live.get(connection)

    def forget(self, connection: Connection) -> None:
        self.live.pop(connection, None)

    def forget_closed(self) -> None:
        """Drop connections whose transport closed without an event naming them (proton
        unbinds a transport from its connection as it closes)."""
        for connection in [c for c, r in self.live.items() if r.transport.closed]:
            del self.live[connection]

    def unopened_since(self, deadline: float) -> list[Accepted]:
        """Connections accepted before `deadline` that have not opened yet."""
        return [r for r in self.live.values() if not r.opened and r.accepted_at <= deadline]

    def silent_since(self, deadline: float) -> list[Accepted]:
        """Open connections that have sent nothing since `deadline` (monotonic time)."""
        return [r for r in self.live.values() if r.opened and r.incoming.last_input <= deadline]


class _Filtered:
    """A transport as proton's IO handler sees it: incoming bytes pass through the
    delivery-id repair first; everything else is the transport's own."""

    def __init__(self, transport: Transport) -> None:
        object.__setattr__(self, "_transport", transport)
        object.__setattr__(self, "_repair", DeliveryIdRepair())
        object.__setattr__(self, "_backlog", b"")
        object.__setattr__(self, "last_input", time.monotonic())

    def push(self, data: bytes) -> None:
        object.__setattr__(self, "last_input", time.monotonic())
        transport: Transport = self._transport
        out = self._backlog + self._repair.feed(data) if self._backlog else self._repair.feed(data)
        # A renumbered transfer can be a few bytes longer than it came in: push what
        # fits; proton consumes input as it is pushed, so the rest fits right after.
        while out:
            room = transport.capacity()
            if room <= 0:
                break
            transport.push(out[:room])
            out = out[room:]
        object.__setattr__(self, "_backlog", out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._transport, name, value)


class Listener(Handler):
    """The listening socket: accepts connections for `handler` (the AMQP server)."""

    def __init__(
        self,
        container: Container,
        host: str,
        port: int,
        handler: Handler,
        table: ConnectionTable,
        clock: Callable[[], float],
    ) -> None:
        super().__init__()
        self.container = container
        self.handler = handler
        self.table = table
        self.clock = clock
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
        self.socket = sock
        # proton types these as its own acceptor's and keeps private attributes on them
        # that its IO handler reads; hence Any.
        selectable: Any = container.selectable(handler=cast(Any, self), delegate=sock)
        selectable.reading = True
        # proton's IO handler sees this selectable's events too; no transport tells it
        # that there is nothing to read for it.
        selectable._transport = None
        container.update(selectable)
        self._selectable = selectable

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def on_selectable_readable(self, event: Event) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: no room for another socket
                self._pause(exc)
                return
            self._take(sock)

    def _take(self, sock: socket.socket) -> None:
        admitted = self.table.admits()
        if admitted is None:
            self.table.dropped += 1
            _close_quietly(sock)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(sock)
        container = self.container
        connection: Any = container.connection(self.handler)
        connection._acceptor = self  # tells proton's IO handler not to dial out
        transport: Any = Transport(Transport.SERVER)
        transport.bind(connection)
        selectable: Any = container.selectable(delegate=sock)
        filtered: Any = _Filtered(transport)
        selectable._transport = filtered  # where proton's IO handler reads from
        transport._selectable = selectable
        self.table.add(
            Accepted(connection, transport, filtered, self.clock(), over_quota=not admitted)
        )
        IOHandler.update(filtered, selectable, container.now)

    def _pause(self, exc: OSError) -> None:
        log.warning(
            "cannot accept connections (%s); pausing %.1fs",
            errno.errorcode.get(exc.errno or 0, exc),
            PAUSE_AFTER_ACCEPT_ERROR,
        )
        self._selectable.reading = False
        self.container.update(self._selectable)
        self.container.schedule(PAUSE_AFTER_ACCEPT_ERROR, _Resume(self))

    def resume(self) -> None:
        self._selectable.reading = True
        self.container.update(self._selectable)

    def close(self) -> None:
        if not self._selectable.is_terminal:
            self._selectable.terminate()
            self.container.update(self._selectable)


class _Resume(Handler):
    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self.listener = listener

    def on_timer_task(self, event: Event) -> None:
        self.listener.resume()


def close_unopened(record: Accepted, description: str) -> None:
    """Close a connection that never opened: it gets no AMQP close, only the socket's."""
    record.transport.condition = condition("amqp:connection:forced", description)
    record.transport.close_tail()
    record.transport.close_head()


def close_silent(record: Accepted, description: str) -> None:
    """Close an open connection that fell silent: an AMQP close with the reason. A
    peer that does not answer it loses the socket at proton's own idle deadline."""
    connection = record.connection
    connection.condition = condition("amqp:connection:forced", description)
    connection.close()


def condition(name: str, description: str) -> Condition:
    """An error condition with an info map: pyamqp reads the info field of a close
    without checking that it is there."""
    return Condition(name, description, {symbol("com.microsoft:tracking-id"): "sbemulator"})


def _keepalive(sock: socket.socket) -> None:
    """TCP keep-alive, so a peer that vanished without a FIN is noticed by the kernel
    even on a connection that negotiated no idle timeout."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE.items():
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        log.debug("closing a dropped socket failed", exc_info=True)
