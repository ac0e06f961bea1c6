"""Fixture app: a function on a trigger type that only a third-party plug-in provides."""

import logging

import azure.functions as func

app = func.FunctionApp()


@app.generic_trigger(arg_name="tick", type="tickTrigger", intervalMs=100)
def on_tick(tick: str) -> None:
    logging.info("TICK %s", tick)
