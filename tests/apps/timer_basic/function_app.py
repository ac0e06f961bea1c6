"""Frequent timers for the firing, singleton and no-overlap tests (semantics §4).

Each run logs one line `RUN {json}`: when it started and ended (epoch seconds), IsPastDue
and the schedule status it was given. The tests read it from the invocation's log lines.
"""

import itertools
import json
import logging
import time

import azure.functions as func

app = func.FunctionApp()
log = logging.getLogger("timer_basic")
_slow_runs = itertools.count()


def record(timer: func.TimerRequest, start: float) -> None:
    line = {
        "start": start,
        "end": time.time(),
        "past_due": timer.past_due,
        "status": timer.schedule_status,
    }
    log.info("RUN %s", json.dumps(line))


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def every_second(timer: func.TimerRequest) -> None:
    record(timer, time.time())


@app.timer_trigger(schedule="*/2 * * * * *", arg_name="timer")
def every_two(timer: func.TimerRequest) -> None:
    record(timer, time.time())


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def slow(timer: func.TimerRequest) -> None:
    # The first run outlasts two occurrences (2.2 s); the runs after it are quick.
    start = time.time()
    if next(_slow_runs) == 0:
        time.sleep(2.2)
    record(timer, start)
