"""Fixture app for the dashboard: a job whose progress moves step by step, a job that fails
its first attempt into the poison queue (a replay makes it succeed), a Service Bus worker
that dead-letters everything, a timer and an HTTP function. Queues and the status table
come from settings (DASH_*)."""

import asyncio
import json
import os

import azure.functions as func

from shared.deadletters import last_attempt_fails_job
from shared.status import JobState, StatusStore
from shared.storage import StorageAccount

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
statuses = StatusStore(StorageAccount.from_settings(), table=os.environ["DASH_STATUS_TABLE"])
STEPS = int(os.environ.get("DASH_STEPS", "6"))
STEP_SECONDS = float(os.environ.get("DASH_STEP_SECONDS", "1.0"))


@app.queue_trigger(arg_name="msg", queue_name="%DASH_JOBS%", connection="AzureWebJobsStorage")
async def slow_job(msg: func.QueueMessage) -> None:
    job = await statuses.start(await statuses.get(msg.get_json()["jobId"]))
    for step in range(1, STEPS + 1):
        await asyncio.sleep(STEP_SECONDS)
        job = await statuses.report_progress(job, step, total=STEPS, message=f"step {step}")
    await statuses.succeed(job, result={"steps": STEPS})


@app.queue_trigger(arg_name="msg", queue_name="%DASH_FLAKY%", connection="AzureWebJobsStorage")
async def flaky_job(msg: func.QueueMessage) -> None:
    job = await statuses.get(msg.get_json()["jobId"])
    if job.state is JobState.FAILED:  # its poison message replayed: funchost leaves the status
        job = await statuses.retry(job.job_id)
    if job.state is JobState.PENDING:
        job = await statuses.start(job)
    async with last_attempt_fails_job(statuses, msg, max_attempts=1):
        if job.attempt == 1:
            raise RuntimeError("the first attempt always fails")
        await statuses.succeed(job, result={"attempt": job.attempt})


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="dashboard-dlq", connection="ServiceBusConnection"
)
def bus_worker(msg: func.ServiceBusMessage) -> None:
    raise RuntimeError(f"cannot handle {json.loads(msg.get_body())}")


@app.timer_trigger(arg_name="timer", schedule="0 0 3 * * *")
def nightly(timer: func.TimerRequest) -> None:
    pass


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
