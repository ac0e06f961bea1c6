"""Fixture app for telemetry: one job through four hops, each carried differently.

POST /api/start -> (queue output binding) TEL_QUEUE_1 -> hop_one -> (library
ServiceBusQueues) telemetry-hop-1 -> hop_two -> (Service Bus output binding)
telemetry-hop-2 -> hop_three -> (library StorageQueues) TEL_QUEUE_2 -> hop_four.
"""

import functools
import json
import os

import azure.functions as func

from shared.servicebus import ServiceBusNamespace
from shared.storage import StorageAccount
from shared.transport import ServiceBusQueues, StorageQueues

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@functools.cache
def bus() -> ServiceBusQueues:  # the harness points the connection at its emulator on load
    return ServiceBusQueues(ServiceBusNamespace.from_settings("ServiceBusConnection"))


queues = StorageQueues(StorageAccount.from_settings())


@app.route(route="start", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%TEL_QUEUE_1%", connection="AzureWebJobsStorage")
def start(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(json.dumps({"job": req.get_json()["job"]}))
    return func.HttpResponse("queued", status_code=202)


@app.queue_trigger(arg_name="msg", queue_name="%TEL_QUEUE_1%", connection="AzureWebJobsStorage")
async def hop_one(msg: func.QueueMessage) -> None:
    await bus().send("telemetry-hop-1", {"job": msg.get_json()["job"]})


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="telemetry-hop-1", connection="ServiceBusConnection"
)
@app.service_bus_queue_output(
    arg_name="out", queue_name="telemetry-hop-2", connection="ServiceBusConnection"
)
def hop_two(msg: func.ServiceBusMessage, out: func.Out[str]) -> None:
    out.set(msg.get_body().decode())


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="telemetry-hop-2", connection="ServiceBusConnection"
)
async def hop_three(msg: func.ServiceBusMessage) -> None:
    await queues.send(os.environ["TEL_QUEUE_2"], json.loads(msg.get_body()))


@app.queue_trigger(arg_name="msg", queue_name="%TEL_QUEUE_2%", connection="AzureWebJobsStorage")
def hop_four(msg: func.QueueMessage) -> None:
    if "traceparent" not in msg.get_json():
        raise ValueError("the library's message carries no traceparent")
