"""Fixture app: HTTP streaming with azurefunctions-extensions-http-fastapi, as Microsoft's
samples write it (needs PYTHON_ENABLE_INIT_INDEXING=1 before Python 3.13).

Gates make the tests deterministic: a stream waits at `gate` until the client opens it
(`/api/open/{token}`), and `/api/seen/{token}/{size}` answers once `upload` has read that
many bytes of its body, so a client can prove what arrived before it sent or read more.
"""

import asyncio

import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    Request,
    StreamingResponse,
)
from fastapi import HTTPException

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_gates: dict[str, asyncio.Event] = {}
_read: dict[str, int] = {}
_progress: dict[str, asyncio.Event] = {}


def _gate(token: str) -> asyncio.Event:
    return _gates.setdefault(token, asyncio.Event())


@app.route(route="stream/{token}", methods=["GET"])
async def stream(req: Request) -> StreamingResponse:
    token = req.path_params["token"]
    count = int(req.query_params.get("count", "3"))

    async def chunks():
        yield f"first of {token}\n"
        await asyncio.wait_for(_gate(token).wait(), 20)
        for i in range(1, count):
            yield f"chunk {i} of {token}\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.route(route="open/{token}", methods=["POST"])
async def open_gate(req: Request) -> dict:
    _gate(req.path_params["token"]).set()
    return {"opened": req.path_params["token"]}


@app.route(route="upload/{token}", methods=["POST"])
async def upload(req: Request) -> JSONResponse:
    token = req.path_params["token"]
    chunks = 0
    async for chunk in req.stream():
        if chunk:
            chunks += 1
            _read[token] = _read.get(token, 0) + len(chunk)
            _progress.setdefault(token, asyncio.Event()).set()
    return JSONResponse(
        {
            "bytes": _read.get(token, 0),
            "chunks": chunks,
            "invocation": req.headers.get("x-ms-invocation-id"),
        }
    )


@app.route(route="seen/{token}/{size:int}", methods=["GET"])
async def seen(req: Request) -> JSONResponse:
    token, size = req.path_params["token"], int(req.path_params["size"])
    while _read.get(token, 0) < size:
        event = _progress[token] = asyncio.Event()
        try:
            await asyncio.wait_for(event.wait(), 10)
        except TimeoutError:
            return JSONResponse({"read": _read.get(token, 0)}, status_code=504)
    return JSONResponse({"read": _read[token]})


@app.route(route="values/{name}", methods=["GET"])
async def values(req: Request) -> dict:
    # Anything but a Response goes through FastAPI's own serialization.
    return {"name": req.path_params["name"], "q": req.query_params.get("q"), "url": str(req.url)}


@app.route(route="nothing", methods=["GET"])
async def nothing(req: Request) -> None:
    return None


@app.route(route="boom", methods=["GET"])
async def boom(req: Request) -> JSONResponse:
    raise ValueError("boom while streaming")


@app.route(route="teapot", methods=["GET"])
async def teapot(req: Request) -> JSONResponse:
    raise HTTPException(status_code=418, detail="short and stout")


@app.route(route="broken/{token}", methods=["GET"])
async def broken(req: Request) -> StreamingResponse:
    async def chunks():
        yield "a good start\n"
        raise RuntimeError("the generator broke")

    return StreamingResponse(chunks(), media_type="text/plain")


@app.route(route="slow", methods=["GET"])
async def slow(req: Request) -> StreamingResponse:
    async def chunks():
        for i in range(4):
            yield f"slow {i}\n"
            await asyncio.sleep(0.25)

    return StreamingResponse(chunks(), media_type="text/plain")
