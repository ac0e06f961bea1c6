"""Yearly timers for the schedule monitor tests (semantics §4.4, §4.5): the tests write
status blobs before starting the host and read them afterwards. Each run logs one line
`RUN {json}` with the TimerRequest it got (IsPastDue, status, schedule)."""

import json
import logging

import azure.functions as func

app = func.FunctionApp()
log = logging.getLogger("timer_monitor")
YEARLY = "0 0 0 1 1 *"


def record(timer: func.TimerRequest) -> None:
    line = {
        "past_due": timer.past_due,
        "status": timer.schedule_status,
        "schedule": timer.schedule,
    }
    log.info("RUN %s", json.dumps(line))


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def past_due(timer: func.TimerRequest) -> None:
    record(timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def changed(timer: func.TimerRequest) -> None:
    record(timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer")
def fresh(timer: func.TimerRequest) -> None:
    record(timer)


@app.timer_trigger(schedule=YEARLY, arg_name="timer", run_on_startup=True)
def startup(timer: func.TimerRequest) -> None:
    record(timer)


@app.timer_trigger(schedule="%TIMER_PERIOD%", arg_name="timer")
def from_setting(timer: func.TimerRequest) -> None:
    record(timer)


@app.timer_trigger(schedule="0 0 25 * * *", arg_name="timer")
def bad(timer: func.TimerRequest) -> None:
    record(timer)
