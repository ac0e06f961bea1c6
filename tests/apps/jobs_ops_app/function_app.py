"""Fixture app for the poison/dead-letter helpers on a real host: jobs that mark their
status Failed on the last attempt (storage queue, Service Bus queue), and jobs whose
poison / dead-letter queue has a function that marks them Failed. Queues come from
settings (OPS_*); the Service Bus entities are ops-host and ops-host-b (MaxDeliveryCount 2)."""

import json
import os
from typing import Any

import azure.functions as func

from shared.deadletters import fail_job_of_dead_letter, last_attempt_fails_job
from shared.status import JobState, StatusStore
from shared.storage import StorageAccount

app = func.FunctionApp()
statuses = StatusStore(StorageAccount.from_settings(), table=os.environ["OPS_STATUS_TABLE"])
MAX_ATTEMPTS = 2  # host.json maxDequeueCount; the entities' MaxDeliveryCount


async def _work(msg: Any, body: dict[str, Any]) -> None:
    """Fails while the job's attempt is at most body["failAttempts"]."""
    job = await statuses.get(body["jobId"])
    if job.state is JobState.PENDING:
        job = await statuses.start(job)
    async with last_attempt_fails_job(statuses, msg, max_attempts=MAX_ATTEMPTS):
        if job.attempt <= body.get("failAttempts", 0):
            raise RuntimeError(f"failing attempt {job.attempt}")
        await statuses.succeed(job, result={"attempt": job.attempt})


@app.queue_trigger(arg_name="msg", queue_name="%OPS_QUEUE_A%", connection="AzureWebJobsStorage")
async def work_a(msg: func.QueueMessage) -> None:
    await _work(msg, msg.get_json())


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="ops-host", connection="ServiceBusConnection"
)
async def work_sb_a(msg: func.ServiceBusMessage) -> None:
    await _work(msg, json.loads(msg.get_body()))


@app.queue_trigger(arg_name="msg", queue_name="%OPS_QUEUE_B%", connection="AzureWebJobsStorage")
async def work_b(msg: func.QueueMessage) -> None:
    raise RuntimeError("always fails")


@app.queue_trigger(
    arg_name="msg", queue_name="%OPS_QUEUE_B_POISON%", connection="AzureWebJobsStorage"
)
async def poisoned_b(msg: func.QueueMessage) -> None:
    await fail_job_of_dead_letter(statuses, msg)


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="ops-host-b", connection="ServiceBusConnection"
)
async def work_sb_b(msg: func.ServiceBusMessage) -> None:
    raise RuntimeError("always fails")


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="ops-host-b/$DeadLetterQueue", connection="ServiceBusConnection"
)
async def dead_sb_b(msg: func.ServiceBusMessage) -> None:
    await fail_job_of_dead_letter(statuses, msg)
