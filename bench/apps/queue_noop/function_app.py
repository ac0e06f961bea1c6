"""Benchmark app: a no-op queue function, and a two-hop chain for fast-path latency."""

import json
import logging
import time

import azure.functions as func

log = logging.getLogger(__name__)
app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_Q%", connection="AzureWebJobsStorage")
def noop(msg: func.QueueMessage) -> None:
    pass


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_IDLE%", connection="AzureWebJobsStorage")
def idle_probe(msg: func.QueueMessage) -> None:
    log.info("IDLE_LATENCY_MS %.2f", (time.time() - float(msg.get_body())) * 1000)


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_CHAIN%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%BENCH_CHAIN%-next", connection="AzureWebJobsStorage")
def chain_start(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(json.dumps({"sent": time.time()}))


@app.queue_trigger(
    arg_name="msg", queue_name="%BENCH_CHAIN%-next", connection="AzureWebJobsStorage"
)
def chain_end(msg: func.QueueMessage) -> None:
    log.info("FAST_LATENCY_MS %.2f", (time.time() - msg.get_json()["sent"]) * 1000)
