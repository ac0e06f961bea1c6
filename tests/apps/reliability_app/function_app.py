"""Fixture app for the reliability suite: jobs with side effects through the idempotency
ledger (their effects stored atomically with the outcome), on a storage queue and on a
Service Bus queue; slow and stuck jobs for graceful stops; HTTP routes for fuzzing, limits
and security; a timer for the singleton under scale-out."""

import asyncio
import json
import logging
import os
import time
from datetime import timedelta

import azure.functions as func

from shared.idempotency import IdempotencyLedger
from shared.storage import StorageAccount

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("reliability_app")
account = StorageAccount.from_settings()
ledger = IdempotencyLedger(
    account,
    table=os.environ.get("REL_LEDGER", "RelLedger"),
    lease=timedelta(seconds=float(os.environ.get("REL_LEDGER_LEASE", "6"))),
)


async def _job(key: str, kind: str) -> None:
    """Work that takes a while, whose effect is stored once, with the ledger's outcome."""
    async with ledger.guard(key, scope=kind) as g:
        if g.duplicate:
            log.info("JOB DUPLICATE %s %s", kind, key)
            return
        await asyncio.sleep(float(os.environ.get("REL_WORK_SECONDS", "0.2")))
        g.result = os.getpid()
        g.effects.append({"RowKey": f"effect-{kind}", "Pid": os.getpid()})
    log.info("JOB DONE %s %s pid=%d", kind, key, os.getpid())


@app.queue_trigger(arg_name="msg", queue_name="%REL_Q%", connection="AzureWebJobsStorage")
async def storage_job(msg: func.QueueMessage) -> None:
    await _job(msg.get_json()["key"], "storage")


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%REL_SBQ%", connection="ServiceBusConnection"
)
async def servicebus_job(msg: func.ServiceBusMessage) -> None:
    await _job(json.loads(msg.get_body())["key"], "servicebus")


@app.queue_trigger(arg_name="msg", queue_name="%REL_SLOW_Q%", connection="AzureWebJobsStorage")
async def slow_job(msg: func.QueueMessage) -> None:
    log.info("SLOW STARTED %s", msg.get_body().decode())
    await asyncio.sleep(float(os.environ.get("REL_SLOW_SECONDS", "1.5")))
    log.info("SLOW DONE %s", msg.get_body().decode())


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%REL_SLOW_SBQ%", connection="ServiceBusConnection"
)
async def slow_servicebus_job(msg: func.ServiceBusMessage) -> None:
    log.info("SLOW SB STARTED %s", msg.get_body().decode())
    await asyncio.sleep(float(os.environ.get("REL_SLOW_SECONDS", "1.5")))
    log.info("SLOW SB DONE %s", msg.get_body().decode())


@app.queue_trigger(arg_name="msg", queue_name="%REL_STUCK_Q%", connection="AzureWebJobsStorage")
def stuck_job(msg: func.QueueMessage) -> None:
    # A sync function that overruns any grace period.
    log.info("STUCK STARTED %s", msg.get_body().decode())
    time.sleep(float(os.environ.get("REL_STUCK_SECONDS", "30")))


@app.queue_trigger(arg_name="msg", queue_name="%REL_MIXED_Q%", connection="AzureWebJobsStorage")
def mixed_job(msg: func.QueueMessage) -> None:
    # Bodies starting with "fail" always fail; the others succeed.
    body = msg.get_body().decode("utf-8", "replace")
    if body.startswith("fail"):
        raise RuntimeError(f"always failing: {body}")
    log.info("MIXED OK %s", body)


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%REL_MIXED_SBQ%", connection="ServiceBusConnection"
)
def mixed_servicebus_job(msg: func.ServiceBusMessage) -> None:
    body = msg.get_body().decode("utf-8", "replace")
    if body.startswith("fail"):
        raise RuntimeError(f"always failing: {body}")
    log.info("MIXED SB OK %s", body)


@app.timer_trigger(arg_name="timer", schedule="%REL_TIMER_SCHEDULE%")
def tick(timer: func.TimerRequest) -> None:
    log.info("TICK pid=%d at=%.3f", os.getpid(), time.time())


@app.route(route="echo/{name}", methods=["POST", "GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"name": req.route_params["name"], "size": len(req.get_body())}),
        mimetype="application/json",
    )


@app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def open_route(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("open")


@app.route(route="privileged", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_level(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin only")


@app.route(route="files/{name}", methods=["PUT"])
@app.blob_output(arg_name="out", path="%REL_CONTAINER%/{name}", connection="AzureWebJobsStorage")
def put_file(req: func.HttpRequest, out: func.Out[bytes]) -> func.HttpResponse:
    out.set(req.get_body())
    return func.HttpResponse("stored", status_code=201)


@app.route(route="rows/{pk}/{rk}", methods=["PUT"])
@app.table_output(arg_name="row", table_name="%REL_TABLE%", connection="AzureWebJobsStorage")
def put_row(req: func.HttpRequest, row: func.Out[str]) -> func.HttpResponse:
    row.set(
        json.dumps(
            {"PartitionKey": req.route_params["pk"], "RowKey": req.route_params["rk"], "V": 1}
        )
    )
    return func.HttpResponse("stored", status_code=201)


@app.route(route="relay/{n}", methods=["POST"])
@app.service_bus_queue_output(
    arg_name="out", queue_name="%REL_RELAY_SBQ%", connection="ServiceBusConnection"
)
async def relay(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    # Many of these at once, before the output's sender exists, share its first send.
    out.set(req.route_params["n"])
    return func.HttpResponse("sent")
