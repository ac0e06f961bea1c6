"""Fixture app: the trace context a Service Bus message and a queue message run in."""

import logging

import azure.functions as func

app = func.FunctionApp()


def _log(msg_id: str, context: func.Context) -> None:
    tc = context.trace_context
    logging.info("TRACE %s %s %s", msg_id, tc.trace_parent, tc.trace_state or "-")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trace-in", connection="ServiceBus")
def on_servicebus(msg: func.ServiceBusMessage, context: func.Context) -> None:
    _log(msg.get_body().decode(), context)


@app.queue_trigger(arg_name="msg", queue_name="%TRACE_QUEUE%", connection="AzureWebJobsStorage")
def on_queue(msg: func.QueueMessage, context: func.Context) -> None:
    _log(msg.get_body().decode(), context)
