"""Bench app: a no-op function (the cost of an invocation) and a CPU-bound job (the
guidance's compute-intensive background work: crunching a CSV in pure Python)."""

import azure.functions as func

app = func.FunctionApp()

ROWS = "\n".join(f"{i},{i * 7 % 1000},item-{i}" for i in range(40000))


@app.queue_trigger(arg_name="msg", queue_name="noop", connection="AzureWebJobsStorage")
def noop(msg: func.QueueMessage) -> None:
    pass


@app.queue_trigger(arg_name="msg", queue_name="crunch", connection="AzureWebJobsStorage")
def crunch(msg: func.QueueMessage) -> None:
    totals: dict[int, int] = {}
    for line in ROWS.splitlines():
        key, value, _ = line.split(",")
        totals[int(value) % 97] = totals.get(int(value) % 97, 0) + int(key)
    if not totals:
        raise RuntimeError("nothing crunched")
