"""Cheap protocol probes: is what listens on a port really Azurite / a Service Bus emulator?

`funchost dev` reuses an emulator it finds on the port it would use, but only after one
request proves what it is; anything else on the port is named and refused, never used as
storage or as a broker (issue 17 item 3).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket

# Azure Storage answers every request with `Server: <service>/<version>`: Azurite with
# `Azurite-Blob/3.x` (-Queue, -Table), the old Windows emulator with `Windows-Azure-Blob/1.0`.
STORAGE_SERVERS = ("azurite-", "windows-azure-")
# AMQP 1.0's SASL protocol header (AMQP 1.0 part 5.3.1): a server that speaks AMQP 1.0 with
# SASL, as Service Bus and its emulators do, answers with the same eight bytes.
AMQP_SASL_HEADER = b"AMQP\x03\x01\x00\x00"


def listening(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def storage_server(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> str | None:
    """The `Server` header of an Azure Storage emulator on host:port (for example
    `Azurite-Blob/3.37.0`), else None (nothing there, or something else)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"x-ms-version": "2021-08-06"})
        server = conn.getresponse().getheader("Server") or ""
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return server if server.lower().startswith(STORAGE_SERVERS) else None


def speaks_amqp(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """host:port answers AMQP 1.0's SASL header with its own, as a Service Bus emulator
    does (a RabbitMQ without AMQP 1.0 answers with AMQP 0-9-1's and closes)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(AMQP_SASL_HEADER)
            received = b""
            while len(received) < len(AMQP_SASL_HEADER):
                chunk = s.recv(len(AMQP_SASL_HEADER) - len(received))
                if not chunk:
                    break
                received += chunk
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return received == AMQP_SASL_HEADER


def in_use_port(output: str) -> int | None:
    """The port of an `EADDRINUSE` in a service's output (Azurite: `listen EADDRINUSE:
    address already in use 127.0.0.1:10000`; the emulator: `cannot listen on
    127.0.0.1:5672: [Errno 98] Address already in use`)."""
    m = re.search(r"address already in use [^\s:]+:(\d+)", output, re.IGNORECASE) or re.search(
        r"cannot listen on [^\s:]+:(\d+): .*address already in use", output, re.IGNORECASE
    )
    return int(m.group(1)) if m else None
