"""RFC 9457 problem responses for requests the host refuses or cannot serve."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
