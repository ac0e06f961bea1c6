"""The function's `http` output as a response (H: 200 with no body when nothing is set;
cookies as the host writes them, `funchost.http.cookies`).

Sent as raw ASGI messages: this is on every request's path, and the converter has already
produced the final status, headers and body.
"""

from __future__ import annotations

from typing import Any

from azure.functions.meta import Datum
from starlette.types import Receive, Scope, Send

from funchost.http.cookies import set_cookie_header

_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
_OCTETS = (b"content-type", b"application/octet-stream")
_JSON = (b"content-type", b"application/json")


class DatumResponse:
    """An ASGI response built from the `http` output datum."""

    def __init__(self, datum: Datum | None) -> None:
        self.status, self.headers, self.body = _parts(datum)
        if self.status < 200 or self.status in (204, 304):
            self.body = b""
        else:
            self.headers.append((b"content-length", str(len(self.body)).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _parts(datum: Datum | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if datum is None or datum.value is None:
        return 200, [], b""
    if datum.type == "string":
        return 200, [_PLAIN], datum.value.encode("utf-8")
    if datum.type == "bytes":
        return 200, [_OCTETS], datum.value
    if datum.type == "json":
        return 200, [_JSON], datum.value.encode("utf-8")
    if datum.type != "http":
        raise TypeError(f"unexpected HTTP output of type {datum.type!r}")
    value: dict[str, Any] = datum.value
    status = int(value["status_code"].value) if value.get("status_code") else 200
    body_datum = value.get("body")
    body = b"" if body_datum is None or body_datum.value is None else body_datum.value
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = [
        (name.lower().encode("latin-1"), str(h.value).encode("latin-1"))
        for name, h in (value.get("headers") or {}).items()
        if name.lower() != "content-length"
    ]
    headers.extend(
        (b"set-cookie", set_cookie_header(cookie).encode("latin-1"))
        for cookie in value.get("cookies") or ()
    )
    return status, headers, body
