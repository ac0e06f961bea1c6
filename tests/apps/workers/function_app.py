"""Fixture app: functions the worker-process tests drive (issue 16)."""

import ctypes
import logging
import os
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="pid", methods=["GET"])
def pid(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(os.getpid()))


@app.route(route="sleep", methods=["GET"])
def sleep(req: func.HttpRequest) -> func.HttpResponse:
    # A sync function: with one thread per worker, two at once overlap only in two processes.
    time.sleep(float(req.params.get("s", "1")))
    return func.HttpResponse(str(os.getpid()))


@app.route(route="crash", methods=["GET"])
def crash(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("crashing %d", os.getpid())
    ctypes.string_at(0)  # a segmentation fault, as a broken native extension would cause
    return func.HttpResponse("unreachable")


@app.route(route="spin", methods=["GET"])
def spin(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("spinning in %d", os.getpid())
    while True:  # only a restart of its process stops it
        pass


@app.queue_trigger(arg_name="msg", queue_name="%Q_HOLD%", connection="AzureWebJobsStorage")
def hold(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    if msg.dequeue_count == 1:
        logging.info("holding %s in pid %d", body, os.getpid())
        time.sleep(60)  # the test kills this process meanwhile
    logging.info("got %s again (dequeue count %d)", body, msg.dequeue_count)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")  # once a year: called by tests
def show_setting(timer: func.TimerRequest) -> None:
    logging.info("setting=%s", os.environ.get("FUNCHOST_TEST_SETTING"))


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")  # once a year: called by tests
def nap(timer: func.TimerRequest) -> None:
    time.sleep(1)
