"""Fixture app: values returned to queue outputs, as the python worker's own end-to-end
apps return them (tests/endtoend/queue_functions: `put_queue_message_return`,
`put_queue_multiple_out`). The queue names come from the Q_OUT setting."""

import json
import typing

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="message_return", methods=["POST"], binding_arg_name="resp")
@app.queue_output(arg_name="$return", queue_name="%Q_OUT%-ret", connection="AzureWebJobsStorage")
def message_return(req: func.HttpRequest, resp: func.Out[str]) -> bytes:
    # As the worker's e2e app writes it: annotated bytes, returns a QueueMessage.
    return func.QueueMessage(body=req.get_body())


@app.route(route="message_out", methods=["POST"])
@app.queue_output(arg_name="msg", queue_name="%Q_OUT%-out", connection="AzureWebJobsStorage")
def message_out(req: func.HttpRequest, msg: func.Out[func.QueueMessage]) -> func.HttpResponse:
    msg.set(func.QueueMessage(body=req.get_body().decode()))
    return func.HttpResponse("sent")


@app.route(route="message_list", methods=["POST"])
@app.queue_output(arg_name="msgs", queue_name="%Q_OUT%-list", connection="AzureWebJobsStorage")
def message_list(
    req: func.HttpRequest, msgs: func.Out[typing.List[func.QueueMessage]]
) -> func.HttpResponse:
    msgs.set(["plain", func.QueueMessage(body="wrapped")])
    return func.HttpResponse("sent")


@app.route(route="json_text", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%Q_OUT%-json", connection="AzureWebJobsStorage")
def json_text(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    # The request body, as text: a compact JSON object, a non-JSON string, or a string that
    # only looks like JSON.
    out.set(req.get_body().decode())
    return func.HttpResponse("sent")


@app.route(route="dict_text", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%Q_OUT%-json", connection="AzureWebJobsStorage")
def dict_text(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(json.dumps({"name": "Zoë", "n": [1, 2], "nested": {}}))
    return func.HttpResponse("sent")
