"""Yearly timers for the schedule monitor tests (semantics §4.4, §4.5): the tests write
status blobs before starting the host and read them afterwards."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()
YEARLY = "0 0 0 1 1 *"


def record(name: str, timer: func.TimerRequest) -> None:
    line = {"fn": name, "pid": os.getpid(), "start": time.time(),
            "past_due": timer.past_due, "status": timer.schedule_status,
            "schedule": timer.schedule}
    with open(os.environ["TIMER_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def past_due(timer: func.TimerRequest) -> None:
    record("past_due", timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def changed(timer: func.TimerRequest) -> None:
    record("changed", timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def fresh(timer: func.TimerRequest) -> None:
    record("fresh", timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
def startup(timer: func.TimerRequest) -> None:
    record("startup", timer)


@app.timer_trigger(schedule="%TIMER_PERIOD%", arg_name="timer")
def from_setting(timer: func.TimerRequest) -> None:
    record("from_setting", timer)


@app.timer_trigger(schedule="0 0 25 * * *", arg_name="timer")
def bad(timer: func.TimerRequest) -> None:
    record("bad", timer)
