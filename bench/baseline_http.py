"""The baseline: the same handler as a bare Starlette app on uvicorn (sync endpoint, so it
also runs in a thread pool, as a sync Azure Function does)."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).parent / "apps" / "hello"))
from handler import hello_text  # type: ignore[import-not-found]  # from apps/hello, put on the path above


def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(hello_text(request.query_params.get("name")))


app = Starlette(routes=[Route("/api/hello", hello)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
