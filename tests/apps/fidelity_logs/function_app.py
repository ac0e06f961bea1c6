"""Fixture app: what a user reads on the console (log lines, failures), the trace context
and the working directory, as the real host and worker give them."""

import json
import logging
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Read at import, relative to the working directory: the real worker runs in the app folder.
GREETING = Path("data/greeting.txt").read_text().strip()


@app.route(route="levels")
def levels(req: func.HttpRequest) -> func.HttpResponse:
    logging.debug("a debug line")
    logging.info("an info line")
    logging.warning("a warning line")
    logging.error("an error line")
    logging.critical("a critical line")
    logging.getLogger("my.module").warning("a named logger's line")
    return func.HttpResponse("logged")


@app.route(route="multiline")
def multiline(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("first\nsecond")
    try:
        {}["missing"]
    except KeyError:
        logging.exception("handled")
    return func.HttpResponse("logged")


def divide(a: int, b: int) -> float:
    return a / b


@app.route(route="divide")
def divide_by_zero(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(divide(1, 0)))


@app.route(route="divide_async")
async def divide_by_zero_async(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(divide(2, 0)))


@app.route(route="secret")
def secret(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("cannot connect with DefaultEndpointsProtocol=https;AccountKey=abc==")


@app.route(route="trace")
def trace(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    tc = context.trace_context
    return func.HttpResponse(
        json.dumps(
            {
                "trace_parent": tc.trace_parent,
                "trace_state": tc.trace_state,
                "attributes": dict(tc.attributes),
                "Traceparent": tc.Traceparent,  # type: ignore[attr-defined]
                "Tracestate": tc.Tracestate,  # type: ignore[attr-defined]
                "Attributes": dict(tc.Attributes),  # type: ignore[attr-defined]
            }
        ),
        mimetype="application/json",
    )


@app.route(route="cwd")
def cwd(req: func.HttpRequest) -> func.HttpResponse:
    here = Path("data/greeting.txt")
    body = {
        "cwd": os.getcwd(),
        "greeting": GREETING,
        "now": here.read_text().strip(),
        "app_directory": os.environ.get("FUNCTIONS_APPLICATION_DIRECTORY"),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
