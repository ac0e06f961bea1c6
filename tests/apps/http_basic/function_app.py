"""Fixture app: HTTP features the integration tests drive over real HTTP."""

import asyncio
import json
import logging
import threading
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    logging.info("saying hello to %s", name)
    logging.warning("second line from user code")
    return func.HttpResponse(f"hello {name}")


@app.route(route="items/{id:int?}", methods=["GET", "POST"])
def items(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    payload = {
        "method": req.method,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "json": req.get_json() if body else None,
        "url": req.url,
        "header": req.headers.get("x-custom"),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", status_code=201)


@app.route(route="items/special", methods=["GET"])
def items_special(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal route wins")


@app.route(route="files/{*rest}")
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", "<none>"))


@app.route(route="echo/binary", methods=["POST"])
def echo_binary(req: func.HttpRequest) -> func.HttpResponse:
    data = req.get_body()
    return func.HttpResponse(
        data[::-1], mimetype="application/octet-stream", headers={"x-length": str(len(data))}
    )


@app.route(route="cookies")
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    headers = {"Set-Cookie": "session=abc; Path=/; HttpOnly"}
    return func.HttpResponse("cookie set", headers=headers)


@app.route(route="redirect")
def redirect(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=302, headers={"Location": "/api/hello"})


@app.route(route="fail")
def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("boom from user code")


@app.route(route="slow")
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("s", "5")))
    return func.HttpResponse("finished")


@app.route(route="hold")
async def hold(req: func.HttpRequest) -> func.HttpResponse:
    # Runs until the file named by `until` exists: a test ends it when it wants.
    until = Path(req.params["until"])
    while not until.exists():
        await asyncio.sleep(0.02)
    return func.HttpResponse("released")


# Passes only once four calls wait in it at the same time: sync functions that run on
# parallel threads, shown without measuring time.
_together = threading.Barrier(4)


@app.route(route="sync-together")
def sync_together(req: func.HttpRequest) -> func.HttpResponse:
    _together.wait(timeout=30)
    return func.HttpResponse(threading.current_thread().name)


@app.route(route="ctx")
async def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {"invocation_id": context.invocation_id, "function_name": context.function_name}
        ),
        mimetype="application/json",
    )


@app.route(route="text")
def text(req: func.HttpRequest) -> str:
    return "plain string return"


@app.route(route="nothing")
def nothing(req: func.HttpRequest) -> None:
    return None


@app.route(route="keyed", auth_level=func.AuthLevel.FUNCTION)
def keyed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("you had a key")


@app.route(route="master-only", auth_level=func.AuthLevel.ADMIN)
def master_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("you had the master key")


@app.function_name("renamed")
@app.route(route="named/{who}")
def some_python_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params["who"])


@app.route(route="off")
def off(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("disabled functions should not answer")
