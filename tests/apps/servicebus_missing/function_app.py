"""Fixture app: Service Bus triggers on entities its servicebus.config.json does not
declare, next to an HTTP function that must answer whatever happens to them."""

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="cli-orders", connection="ServiceBusConnection")
def on_order(msg: func.ServiceBusMessage) -> None:
    logging.info("order received: %s", msg.get_body().decode())


@app.service_bus_topic_trigger(
    arg_name="msg", topic_name="cli-events", subscription_name="audit", connection="ServiceBusConnection"
)
def on_event(msg: func.ServiceBusMessage) -> None:
    logging.info("event received: %s", msg.get_body().decode())
