"""Failing timers with runtime retry policies (semantics §1.2): each attempt logs one line
`RUN {json}` with its retry context, then raises."""

import json
import logging

import azure.functions as func

app = func.FunctionApp()
log = logging.getLogger("timer_retry")
YEARLY = "0 0 0 1 1 *"


def record(timer: func.TimerRequest, context: func.Context) -> None:
    line = {
        "past_due": timer.past_due,
        "retry_count": context.retry_context.retry_count,
        "max_retry_count": context.retry_context.max_retry_count,
    }
    log.info("RUN %s", json.dumps(line))


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:01")
def fixed(timer: func.TimerRequest, context: func.Context) -> None:
    record(timer, context)
    raise RuntimeError("fixed attempt failed")


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
@app.retry(
    strategy="exponential_backoff",
    max_retry_count="3",
    minimum_interval="00:00:01",
    maximum_interval="00:00:02",
)
def backoff(timer: func.TimerRequest, context: func.Context) -> None:
    record(timer, context)
    raise RuntimeError("backoff attempt failed")
