"""Fixture app for the in-process test harness: one function per trigger kind."""

import logging
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("harness_app")


@app.route(route="hello/{name}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    log.info("HELLO %s", req.route_params["name"])
    return func.HttpResponse(f"hello {req.route_params['name']} from {os.environ['HARNESS_WHO']}")


@app.queue_trigger(arg_name="msg", queue_name="%HARNESS_Q%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%HARNESS_Q%-out", connection="AzureWebJobsStorage")
def on_queue(msg: func.QueueMessage, out: func.Out[str]) -> None:
    body = msg.get_body().decode()
    log.info("QUEUE %s", body)
    if body == "fail":
        raise ValueError("asked to fail")
    out.set(body.upper())


@app.queue_trigger(
    arg_name="msg", queue_name="%HARNESS_Q%-out", connection="AzureWebJobsStorage"
)
def on_queue_out(msg: func.QueueMessage) -> None:
    log.info("SECOND HOP %s", msg.get_body().decode())


@app.blob_trigger(arg_name="blob", path="%HARNESS_C%/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    log.info("BLOB %s %d", blob.name, blob.length)


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
def yearly(timer: func.TimerRequest) -> None:
    log.info("TIMER past_due=%s", timer.past_due)


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="funchost-queue", connection="ServiceBusConnection"
)
def on_servicebus(msg: func.ServiceBusMessage) -> None:
    log.info("SB %s %s", msg.get_body().decode(), msg.message_id)
