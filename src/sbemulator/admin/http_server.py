"""The management API's HTTP server, on its own threads, plain HTTP and HTTPS on one port.

The official emulator serves it over plain HTTP (port 5300, `EMULATOR_HTTP_PORT`), which
the .NET SDK reaches by itself and other clients by pointing their base URL there. The
Python SDK's `ServiceBusAdministrationClient` always speaks HTTPS, whatever the
connection string says; so a connection whose first byte opens a TLS handshake gets one,
with the development certificate shipped with the emulator (`CERTIFICATE`, for
`localhost`, `127.0.0.1` and `::1`; clients pass it as `connection_verify`). Its key is
public: it protects nothing, it only lets an unmodified client connect.

Limits: 64 connections at once (more are closed at once), 30 s to send a request, 1 MiB
per request body (413 beyond).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .resources import AdminApi, Reply, Request

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CERTIFICATE = HERE / "localhost.crt"
_KEY = HERE / "localhost.key"
MAX_CONNECTIONS = 64
TIMEOUT = 30.0
MAX_BODY = 1024 * 1024
_TLS_HANDSHAKE = 0x16  # the first byte of a TLS ClientHello record


class AdminServer:
    """Serves `api` on `host:port` (0: a free port) until `stop()`."""

    def __init__(self, api: AdminApi, host: str, port: int) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.api = api
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(CERTIFICATE, _KEY)
        self._server.tls = tls
        # A short poll interval: stop() waits for it, and the emulator stops on a signal
        # within a timer tick.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sbemulator-admin",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = MAX_CONNECTIONS

    api: AdminApi
    tls: ssl.SSLContext

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("admin API: %d connections open, refusing another", MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(TIMEOUT)
        first = request.recv(1, socket.MSG_PEEK)
        if first and first[0] == _TLS_HANDSHAKE:
            with self.tls.wrap_socket(request, server_side=True) as secure:
                _Handler(secure, client_address, self, tls=True)
            return
        _Handler(request, client_address, self, tls=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Called from socketserver's except block: a client that went away, a failed TLS
        # handshake. Not the emulator's problem; the traceback only at DEBUG.
        log.debug("admin API: error serving %s", client_address, exc_info=True)  # noqa: LOG014  # called inside socketserver's handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    server: _Server

    def __init__(self, request: Any, client_address: Any, server: Any, tls: bool = False) -> None:
        self.tls = tls
        super().__init__(request, client_address, server)

    def do_GET(self) -> None:  # the names http.server calls
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(Reply(413, "", "text/plain"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        scheme = "https" if self.tls else "http"
        host = self.headers.get("Host") or f"localhost:{self.server.server_address[1]}"
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            f"{scheme}://{host}",
        )
        try:
            reply = self.server.api.handle(request)
        except Exception:  # a bug must not kill the server thread: logged, a 500
            log.exception("admin API: %s %s failed", self.command, self.path)
            reply = Reply(
                500, "<Error><Code>500</Code><Detail>see the emulator's log</Detail></Error>"
            )
        self._reply(reply)

    def _reply(self, reply: Reply) -> None:
        data = reply.body.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        log.debug("admin API: %s", format % args)
