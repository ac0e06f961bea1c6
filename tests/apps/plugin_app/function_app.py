"""Fixture app: functions on a trigger type that only a third-party plug-in provides."""

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.generic_trigger(arg_name="tick", type="tickTrigger", intervalMs=100)
def on_tick(tick: str) -> None:
    logging.info("TICK %s", tick)


# The listener of this one crashes twice after reporting started; the host restarts it.
@app.generic_trigger(arg_name="tick", type="tickTrigger", intervalMs=100, crashes=2)
def crashy_tick(tick: str) -> None:
    logging.info("CRASHY %s", tick)


@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
