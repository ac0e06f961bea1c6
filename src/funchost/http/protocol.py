"""uvicorn's h11 protocol with the timeouts of the real host's Kestrel server.

uvicorn closes an idle keep-alive connection only after a first request, and waits for
request headers without end: 200 silent connections or slowloris requests stayed open for
minutes. Here a connection that stays silent past the keep-alive timeout is closed, the
first request included, and a request whose headers take longer than the headers timeout
(Kestrel's RequestHeadersTimeout, 30 s) is closed too. Request bodies are timed by the
HTTP trigger as it reads them (`funchost.http.body`).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

from funchost.config.http_limits import HttpLimits


def guarded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    """The protocol class uvicorn builds each connection with, bound to `limits`."""

    class Guarded(_GuardedH11):
        headers_timeout = limits.headers_timeout_seconds

    return Guarded


class _GuardedH11(H11Protocol):
    headers_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature
        super().connection_made(transport)
        self._headers_timer: asyncio.TimerHandle | None = None
        # Silent from the start: the same keep-alive timeout as between requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        if self._headers_timer is None and (self.cycle is None or self.cycle.response_complete):
            # The first bytes of a request: its headers must be complete in time.
            self._headers_timer = self.loop.call_later(self.headers_timeout, self._too_slow)
        before = self.cycle
        super().data_received(data)
        if self._headers_timer is not None and self.cycle is not before:
            self._headers_timer.cancel()  # a new request started: its headers are in
            self._headers_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._headers_timer = None
        if not self.transport.is_closing():
            self.logger.info(
                "Closing a connection whose request headers took over %gs", self.headers_timeout
            )
            self.transport.close()


__all__ = ["guarded_protocol"]
