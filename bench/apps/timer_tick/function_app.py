"""An every-second timer that records when user code starts, for bench/timer_jitter.py."""

import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    started = time.time()
    with Path(os.environ["BENCH_TIMER_OUT"]).open("a", encoding="utf-8") as out:
        out.write(f"{started!r}\n")
