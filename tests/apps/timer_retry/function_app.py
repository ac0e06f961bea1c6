"""Failing timers with runtime retry policies (semantics §1.2): each attempt records its
retry context, then raises."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()
YEARLY = "0 0 0 1 1 *"


def record(name: str, timer: func.TimerRequest, context: func.Context) -> None:
    line = {"fn": name, "start": time.time(), "past_due": timer.past_due,
            "retry_count": context.retry_context.retry_count,
            "max_retry_count": context.retry_context.max_retry_count}
    with open(os.environ["TIMER_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:01")
def fixed(timer: func.TimerRequest, context: func.Context) -> None:
    record("fixed", timer, context)
    raise RuntimeError("fixed attempt failed")


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
@app.retry(strategy="exponential_backoff", max_retry_count="3",
           minimum_interval="00:00:01", maximum_interval="00:00:02")
def backoff(timer: func.TimerRequest, context: func.Context) -> None:
    record("backoff", timer, context)
    raise RuntimeError("backoff attempt failed")
