"""A client that speaks just enough AMQP by hand to misbehave on purpose: connect and say
nothing, stop halfway through the handshake, or open and then fall silent."""

from __future__ import annotations

import socket
import struct
import time

from sbemulator.amqp.codec import compound, decode, encode_string, encode_symbol

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_INIT, SASL_OUTCOME = 0x41, 0x44
OPEN, CLOSE = 0x10, 0x18


def frame(code: int, fields: list[bytes], kind: int = 0) -> bytes:
    body = b"\x00\x53" + bytes((code,)) + compound(0xC0, b"".join(fields), len(fields))
    return struct.pack(">IBBH", 8 + len(body), 2, kind, 0) + body


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def handshake(port: int) -> tuple[socket.socket, dict[int, list[object]]]:
    """A connection through SASL ANONYMOUS and the AMQP open; the performatives the
    server sent, by code (its open carries the idle-time-out it asks for)."""
    sock = connect(port)
    sock.sendall(SASL_HEADER + frame(SASL_INIT, [encode_symbol("ANONYMOUS")], kind=1))
    sock.sendall(AMQP_HEADER + frame(OPEN, [encode_string("raw-client")]))
    return sock, dict(read_frames(sock, until=OPEN, timeout=10))


def read_frames(
    sock: socket.socket, *, until: int | None = None, timeout: float
) -> list[tuple[int, list[object]]]:
    """Performatives (code, fields) read until `until` arrives, the peer closes the
    socket, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    buf = b""
    out: list[tuple[int, list[object]]] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
        buf, frames = _split(buf)
        out += frames
        if until is not None and any(code == until for code, _ in frames):
            break
    return out


def closed_within(sock: socket.socket, timeout: float) -> float | None:
    """Seconds until the peer closed the socket (reading and dropping what it sends),
    or None if it was still open after `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            return None
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def _split(buf: bytes) -> tuple[bytes, list[tuple[int, list[object]]]]:
    frames = []
    while buf:
        if buf.startswith(b"AMQP"):
            if len(buf) < 8:
                break
            buf = buf[8:]
            continue
        if len(buf) < 8:
            break
        size, doff = struct.unpack_from(">IB", buf)
        if len(buf) < size:
            break
        body = buf[doff * 4 : size]
        buf = buf[size:]
        if body:
            value, _ = decode(body)
            frames.append((value.descriptor, list(value.value or [])))
    return buf, frames
