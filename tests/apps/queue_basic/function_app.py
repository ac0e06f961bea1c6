"""Fixture app: queue trigger and output behaviours. Queue names come from settings so each
test uses its own queues."""

import json
import logging
import threading
import time
import typing

import azure.functions as func

app = func.FunctionApp()

_lock = threading.Lock()
_running = 0


@app.queue_trigger(arg_name="msg", queue_name="%Q_ECHO%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%Q_ECHO%-out", connection="AzureWebJobsStorage")
def echo(msg: func.QueueMessage, out: func.Out[str]) -> None:
    meta = {
        "id": msg.id, "dequeue_count": msg.dequeue_count, "pop_receipt": msg.pop_receipt,
        "insertion_time": msg.insertion_time.isoformat() if msg.insertion_time else None,
        "expiration_time": msg.expiration_time.isoformat() if msg.expiration_time else None,
        "time_next_visible": msg.time_next_visible.isoformat() if msg.time_next_visible else None,
        "body": msg.get_body().decode(),
    }
    logging.info("META %s", json.dumps(meta))
    out.set("echo:" + msg.get_body().decode())


@app.queue_trigger(arg_name="msg", queue_name="%Q_JSON%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%Q_JSON%-{Target}", connection="AzureWebJobsStorage")
def route_by_body(msg: func.QueueMessage, out: func.Out[str]) -> None:
    # {Target} in the output queue name comes from the JSON body (semantics §2.3).
    out.set(json.dumps({"got": msg.get_json()["Value"]}))


@app.queue_trigger(arg_name="msg", queue_name="%Q_FLAKY%", connection="AzureWebJobsStorage")
def flaky(msg: func.QueueMessage) -> None:
    logging.info("ATTEMPT %s %s", msg.get_body().decode(), msg.dequeue_count)
    raise RuntimeError(f"failing on purpose, attempt {msg.dequeue_count}")


@app.queue_trigger(arg_name="msg", queue_name="%Q_FAN%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="arr", queue_name="%Q_FAN%-out", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="many", queue_name="%Q_FAN%-list", connection="AzureWebJobsStorage")
def fanout(msg: func.QueueMessage, arr: func.Out[str],
           many: func.Out[typing.List[str]]) -> None:
    arr.set(json.dumps(["a", {"b": 1}, 3]))
    many.set(["x", "y"])


@app.queue_trigger(arg_name="msg", queue_name="%Q_SLOW%", connection="AzureWebJobsStorage")
def slow(msg: func.QueueMessage) -> None:
    global _running
    with _lock:
        _running += 1
        logging.info("CONCURRENT %d", _running)
    name, _, seconds = msg.get_body().decode().partition(":")
    time.sleep(float(seconds or 0.6))
    with _lock:
        _running -= 1
    logging.info("DONE %s", name)


@app.queue_trigger(arg_name="msg", queue_name="%Q_CHAIN%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%Q_CHAIN%-next", connection="AzureWebJobsStorage")
def chain_first(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(json.dumps({"sent": time.time()}))


@app.queue_trigger(arg_name="msg", queue_name="%Q_CHAIN%-next", connection="AzureWebJobsStorage")
def chain_second(msg: func.QueueMessage) -> None:
    sent = msg.get_json()["sent"]
    logging.info("CHAIN_LATENCY_MS %.1f", (time.time() - sent) * 1000)


@app.queue_trigger(arg_name="body", queue_name="%Q_TEXT%", connection="AzureWebJobsStorage")
def as_text(body: str) -> None:
    # A str annotation gets the body text through the generic converter (semantics §8.3).
    logging.info("TEXT %s", body)
