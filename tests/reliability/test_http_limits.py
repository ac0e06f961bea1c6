"""Connections that never finish, or never start, a request are cut, as Kestrel cuts them:
idle connections after the keep-alive timeout, slow request headers after the headers
timeout, a body arriving slower than the minimum data rate (or never) with 408. A
connection storm beyond the connection limit gets 503s, and the host serves on after."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from funchost.testing import Harness
from tests.reliability.conftest import APP, settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[Harness]:
    s = settings(
        FUNCHOST_HTTP_KEEPALIVE_SECONDS="2",
        FUNCHOST_HTTP_HEADERS_TIMEOUT_SECONDS="2",
        FUNCHOST_HTTP_MAX_CONNECTIONS="100",
    )
    harness = Harness(APP, settings={**s, "AzureWebJobsStorage": storage_connection_string})
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def _connect(host: Harness) -> socket.socket:
    port = int(host.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection within `seconds`, and what it sent."""
    sock.settimeout(seconds)
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        pass
    return True, got


def test_silent_and_slowloris_connections_are_closed(
    host: Harness, report: Callable[..., None]
) -> None:
    silent = [_connect(host) for _ in range(50)]
    slow = [_connect(host) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"GET /api/open HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
    began = time.monotonic()
    results = [_closed_within(sock, 10) for sock in silent + slow]
    took = time.monotonic() - began
    for sock in silent + slow:
        sock.close()
    assert all(closed for closed, _ in results)
    assert took < 10
    assert host.get("/api/open").text == "open"  # and it serves on
    report(
        "idle and slowloris connections",
        silent=50,
        slowloris=50,
        closed=len(results),
        all_closed_within=f"{took:.1f}s (timeouts 2 s)",
    )


def test_a_body_shorter_than_its_content_length_gets_408(host: Harness) -> None:
    sock = _connect(host)
    sock.sendall(b"POST /api/echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly this")
    closed, got = _closed_within(sock, 15)  # 5 s grace at 240 bytes/s
    sock.close()
    assert closed and got.startswith(b"HTTP/1.1 408"), got[:200]


def test_a_connection_storm_past_the_limit_gets_503_and_the_host_serves_on(
    host: Harness, report: Callable[..., None]
) -> None:
    socks = [_connect(host) for _ in range(150)]
    statuses = []
    for sock in socks:
        sock.sendall(b"GET /api/open HTTP/1.1\r\nHost: x\r\n\r\n")
    for sock in socks:
        sock.settimeout(10)
        head = sock.recv(64)
        statuses.append(int(head.split()[1]))
        sock.close()
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) > 0  # over the limit of 100 open connections
    assert host.get("/api/open").text == "open"
    report(
        "connection storm",
        connections=150,
        limit=100,
        ok=statuses.count(200),
        refused_503=statuses.count(503),
    )
