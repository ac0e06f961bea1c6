"""The wire between the host and a worker process: frames of a 4-byte big-endian length
and a pickle (protocol 5) of a tuple whose first item names the message.

Pickle, not JSON: the data are the library's own `Datum`s (HTTP bodies as bytes, nested
datums), which pickle as they are, and both ends run funchost's own code. The peer is a
child process the host started, on a socket pair nobody else holds.

Host to worker:
    (CONFIG, HostConfig): first, before the worker indexes the app
    (ENV, changed, removed): app settings that changed since the worker started (`funchost
     dev` points connections at the emulators it starts after the app was indexed)
    (INVOKE, call_id, function, invocation_id, reason, trigger, metadata, carried,
     retry, inputs)
Worker to host:
    (HELLO, pid, python_version, specs, errors): indexed; specs are portable FunctionSpecs
    (FATAL, message): the app cannot run in this interpreter (import error, no library)
    (DONE, call_id, results) / (FAILED, call_id, WorkerException)
    (LOG, levelno, logger, message, invocation_id, function, created)
"""

from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import select
import socket
from collections.abc import Callable
from typing import Any

CONFIG = "c"
ENV = "e"
INVOKE = "i"
HELLO = "h"
FATAL = "x"
DONE = "d"
FAILED = "f"
LOG = "l"

HEADER = 4
MAX_FRAME = 1 << 31  # what the length field holds; a bigger message cannot be sent


def pickle_compactly(datum_class: type) -> None:
    """Pickle the library's `Datum` as a call `Datum(value, type)`: half the time and
    bytes of pickle's default for an object (its class, then its `__dict__`), and messages
    are mostly datums (HTTP headers, trigger metadata)."""
    copyreg.pickle(datum_class, lambda d: (datum_class, (d.value, d.type)))


def encode(message: tuple[Any, ...]) -> memoryview:
    """The frame of `message`, pickled straight after its length (a large HTTP body or
    blob is copied once, into the frame, not again to prefix it)."""
    out = io.BytesIO()
    out.write(bytes(HEADER))
    pickle.dump(message, out, protocol=5)
    size = out.tell() - HEADER
    if size >= MAX_FRAME:
        raise ValueError(f"a message of {size} bytes is too large for a worker frame")
    out.seek(0)
    out.write(size.to_bytes(HEADER, "big"))
    return out.getbuffer()


def decode(body: bytes | memoryview) -> tuple[Any, ...]:
    message: tuple[Any, ...] = pickle.loads(body)
    return message


class FrameProtocol(asyncio.Protocol):
    """Reads frames on an event loop, calling `on_message` with each message in order and
    `on_end` once the peer closed the socket (or `on_message` raised: the conversation is
    out of step). A protocol, not a StreamReader: no task wakes up per message."""

    def __init__(
        self,
        on_message: Callable[[tuple[Any, ...]], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        self._on_message = on_message
        self._on_end = on_end
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self._ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while len(buffer) - start >= HEADER:
                size = int.from_bytes(buffer[start : start + HEADER], "big")
                end = start + HEADER + size
                if len(buffer) < end:
                    break
                with memoryview(buffer) as view, view[start + HEADER : end] as body:
                    message = decode(body)  # unpickled from the buffer, not from a copy
                start = end
                self._on_message(message)
        except Exception as exc:  # noqa: BLE001 - reported to the owner, which ends the peer
            self._end(exc)
            assert self.transport is not None
            self.transport.close()
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(None)

    def _end(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(error)


def send_all(sock: socket.socket, frame: bytes | memoryview) -> None:
    """`sendall` that also works on a non-blocking socket (one an event loop reads): when
    the peer's buffer is full, wait until it drains. Callers serialize their calls."""
    view = memoryview(frame)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            select.select([], [sock], [])


def read_blocking(sock: socket.socket) -> tuple[Any, ...] | None:
    """One message from a blocking socket; None at the end of the stream."""
    header = _exactly(sock, HEADER)
    if header is None:
        return None
    body = _exactly(sock, int.from_bytes(header, "big"))
    return None if body is None else decode(body)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def in_worker(*args: Any, **kwargs: Any) -> Any:
    """The host's stand-in for a function that runs in a worker process."""
    raise RuntimeError("this function runs in a worker process, not in the host")
