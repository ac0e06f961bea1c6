"""Reading a request body within the real host's limits (`funchost.config.http_limits`):
at most the body size limit (413, checked against Content-Length first and then as it
streams, so memory stays bounded), arriving at the minimum data rate after the grace
period (408), and a client that goes away mid-upload is not an error of the host."""

from __future__ import annotations

import anyio
from starlette.requests import ClientDisconnect, Request

from funchost.config.http_limits import HttpLimits


class BodyTooLarge(Exception):
    """The body is over the size limit."""


class BodyTooSlow(Exception):
    """The body arrived slower than the minimum data rate."""


async def read_body(request: Request, limits: HttpLimits) -> bytes:
    """The whole body. Raises BodyTooLarge, BodyTooSlow, or ClientDisconnect."""
    headers = request.headers
    declared = headers.get("content-length", "")
    if not declared and "transfer-encoding" not in headers:
        # No Content-Length and no Transfer-Encoding: the request has no body (RFC 9112
        # §6.3), nothing to wait for. Most GETs; the timed loop below costs them ~5 %.
        return b""
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise BodyTooLarge(int(declared))
    start = anyio.current_time()
    parts: list[bytes] = []
    size = 0
    while True:
        # Kestrel's MinRequestBodyDataRate: after the grace period, bytes so far over time
        # so far may not drop below the rate; the next chunk is due by then.
        due = start + max(limits.body_grace_seconds, size / limits.min_body_bytes_per_second)
        try:
            with anyio.fail_after(max(0.0, due - anyio.current_time())):
                message = await request.receive()
        except TimeoutError:
            raise BodyTooSlow(size) from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise BodyTooLarge(size)
        if chunk:
            parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
