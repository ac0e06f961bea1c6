"""Returning results beyond the status API: callbacks, and a request-reply path over
Service Bus for message-driven callers.

- A job with a ``callback`` URL or a reply address gets its final status delivered by
  ``job_notifications`` (the status store queues a notice when the job becomes final):
  the callback is POSTed signed (``X-Jobs-Signature``, setting `CALLBACK_SECRET`), retried
  with backoff, then by the queue (5 deliveries), then parked on
  ``job-notifications-poison``; every attempt carries the same ``Idempotency-Key``.
- ``job_requests`` takes jobs as Service Bus messages on ``job-requests`` (the same JSON as
  ``POST /api/jobs``) and answers on the message's ``ReplyTo`` with the final status,
  ``CorrelationId`` = the request's ``MessageId``, in the session of the request's
  ``ReplyToSessionId`` (or its MessageId). A request that is not a valid job is answered
  at once with a Failed status naming each problem.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging

import azure.functions as func

from shared.jobapi import JobRequest
from shared.results import CallbackSender, CompletionNotifier, ServiceBusReplySender
from shared.settings import setting
from shared.status import JobState

from .catalog import job_api
from .services import NOTIFY_QUEUE, json_body, services

log = logging.getLogger(__name__)
bp = func.Blueprint()

REQUESTS = "job-requests"


@functools.cache
def notifier() -> CompletionNotifier:
    secret = setting("CALLBACK_SECRET", "")
    return CompletionNotifier(
        reply=ServiceBusReplySender(services().servicebus),
        callback=CallbackSender(secret) if secret else None,
    )


@bp.queue_trigger(arg_name="msg", queue_name=NOTIFY_QUEUE, connection="AzureWebJobsStorage")
async def job_notifications(msg: func.QueueMessage) -> None:
    job = await services().status.get(str(json_body(msg.get_body())["jobId"]))
    if job.callback_url and notifier().callback is None:
        raise RuntimeError(f"job {job.job_id} has a callback but CALLBACK_SECRET is not set")
    failed = [d for d in await notifier().notify(job) if not d.ok]
    if failed:  # the queue delivers the notice again (receivers dedupe by Idempotency-Key)
        raise RuntimeError(
            f"job {job.job_id}: " + "; ".join(f"{d.channel}: {d.detail}" for d in failed)
        )


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name=REQUESTS, connection="ServiceBusConnection"
)
async def job_requests(msg: func.ServiceBusMessage) -> None:
    # The job's id comes from the request's, so a redelivered request finds its job.
    job_id = "req-" + hashlib.sha256(str(msg.message_id).encode()).hexdigest()[:32]
    request, problems = _parse(msg.get_body())
    store = services().status
    known = await store.find(job_id)
    if known is not None:
        if known.state is JobState.PENDING and request is not None:
            await job_api().kinds[request.kind].start(known, request)  # cut short before
        return
    reply_to = msg.reply_to or None
    if request is None:
        if reply_to is None:
            raise ValueError(f"request {msg.message_id} is not a valid job: {problems}")
        job = await store.create(
            "invalid", job_id=job_id, reply_to=reply_to, correlation_id=msg.message_id
        )
        await store.fail(job, "not a valid job: " + "; ".join(problems))
        return
    job = await job_api().accept(
        request, reply_to=reply_to, correlation_id=msg.message_id, job_id=job_id
    )
    log.info("job %s (%s) accepted from message %s", job.job_id, job.kind, msg.message_id)


def _parse(body: bytes) -> tuple[JobRequest | None, list[str]]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, [f"the body is not JSON: {exc}"]
    request, problems = job_api().parse(data)
    return request, [
        f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems
    ]
