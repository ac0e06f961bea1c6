"""The function's `http` output as a response (H: 200 with no body when nothing is set)."""

from __future__ import annotations

from typing import Any

from azure.functions.meta import Datum
from starlette.responses import Response


def to_response(datum: Datum | None) -> Response:
    if datum is None or datum.value is None:
        return Response(status_code=200)
    if datum.type == "string":
        return Response(datum.value, media_type="text/plain; charset=utf-8")
    if datum.type == "bytes":
        return Response(datum.value, media_type="application/octet-stream")
    if datum.type == "json":
        return Response(datum.value, media_type="application/json")
    if datum.type != "http":
        raise TypeError(f"unexpected HTTP output of type {datum.type!r}")
    value: dict[str, Any] = datum.value
    status = int(value["status_code"].value) if value.get("status_code") else 200
    body_datum = value.get("body")
    body = b"" if body_datum is None or body_datum.value is None else body_datum.value
    if isinstance(body, str):
        body = body.encode("utf-8")
    bodyless = status < 200 or status in (204, 304)
    response = Response(b"" if bodyless else body, status_code=status)
    headers = response.headers
    # The function's own headers replace what Starlette computed.
    if "content-length" in headers:
        del headers["content-length"]
    for name, header in (value.get("headers") or {}).items():
        if name.lower() != "content-length":
            headers.append(name, str(header.value))
    for cookie in value.get("cookies") or []:
        for morsel in cookie.values():
            headers.append("set-cookie", morsel.OutputString())
    if not bodyless:
        headers["content-length"] = str(len(body))
    return response
