"""An every-second timer that records when user code starts, for bench/timer_jitter.py."""

import os
import time

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    started = time.time()
    with open(os.environ["BENCH_TIMER_OUT"], "a", encoding="utf-8") as out:
        out.write(f"{started!r}\n")
