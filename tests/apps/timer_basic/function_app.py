"""Frequent timers for the firing, singleton and no-overlap tests (semantics §4).

Each run appends one JSON line to the file named by TIMER_OUT, so tests can count runs
across several host processes."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()


def record(name: str, timer: func.TimerRequest, start: float, **extra: object) -> None:
    line = {"fn": name, "pid": os.getpid(), "start": start, "end": time.time(),
            "past_due": timer.past_due, "status": timer.schedule_status, **extra}
    with open(os.environ["TIMER_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def every_second(timer: func.TimerRequest) -> None:
    record("every_second", timer, time.time())


@app.timer_trigger(schedule="*/2 * * * * *", arg_name="timer")
def every_two(timer: func.TimerRequest) -> None:
    record("every_two", timer, time.time())


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def slow(timer: func.TimerRequest) -> None:
    start = time.time()
    time.sleep(2.5)
    record("slow", timer, start)
