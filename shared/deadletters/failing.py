"""Marking a job Failed when its message is given up, from inside the app.

The Functions host moves a message to the poison queue (Storage) or the broker dead-letters
it (Service Bus) without telling the app, so a job's status would stay Running. Two ways to
record the failure, which also work on the real Azure host:

(a) on the last attempt, before re-raising (the message stays replayable)::

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    async def place_order(msg: func.QueueMessage) -> None:
        async with last_attempt_fails_job(statuses, msg, max_attempts=5):  # host.json
            await work(msg.get_json())

(b) a function on the poison queue / dead-letter queue (it consumes the message)::

    @app.queue_trigger(arg_name="msg", queue_name="orders-poison", connection=...)
    async def orders_poisoned(msg: func.QueueMessage) -> None:
        await fail_job_of_dead_letter(statuses, msg)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusReceivedMessage

from ..errors import InvalidArgument, InvalidTransition, JobsError, KeyInProgress
from ..status import JobStatus, StatusStore
from .model import JobIdFinder, find_job_id, text_properties

log = logging.getLogger(__name__)

#: host.json ``extensions.queues.maxDequeueCount`` when not set.
DEFAULT_MAX_DEQUEUE_COUNT = 5
#: A Service Bus entity's ``MaxDeliveryCount`` when not set.
DEFAULT_MAX_DELIVERY_COUNT = 10

POISON_REASON = "its message was moved to the poison queue (maxDequeueCount attempts failed)"


def attempt_of(message: Any) -> int:
    """This delivery's number, 1 for the first: a queue message's ``dequeue_count``, a
    Functions Service Bus message's ``delivery_count`` (the host counts from 1), an SDK
    received message's ``delivery_count + 1`` (the SDK counts earlier deliveries).

    Raises
    ------
    InvalidArgument
        `message` is none of these, or carries no count.
    """
    if isinstance(message, ServiceBusReceivedMessage):
        return (message.delivery_count or 0) + 1
    if isinstance(message, func.ServiceBusMessage):
        count = message.delivery_count
    elif isinstance(message, func.QueueMessage):
        count = getattr(message, "dequeue_count", None)
    else:
        raise InvalidArgument(f"not a queue or Service Bus message: {type(message).__name__}")
    if count is None:
        raise InvalidArgument("the message carries no dequeue/delivery count")
    return int(count)


def is_last_attempt(message: Any, max_attempts: int | None = None) -> bool:
    """True if a failure now gives the message up. `max_attempts` defaults to 5 for a queue
    message (host.json ``maxDequeueCount``) and 10 for Service Bus (``MaxDeliveryCount``);
    pass the configured value."""
    return attempt_of(message) >= (max_attempts or _default_limit(message))


async def fail_job_on_last_attempt(
    statuses: StatusStore,
    message: Any,
    error: BaseException | str,
    *,
    max_attempts: int | None = None,
    job_id: JobIdFinder = find_job_id,
) -> JobStatus | None:
    """On the message's last attempt, mark its job Failed with `error`; then re-raise.

    Call it where the function catches its exception. Problems recording the status are
    logged, not raised, so the function re-raises its own error. A `KeyInProgress` does
    not fail the job: another worker is still running it.

    Returns
    -------
    JobStatus | None
        The job's record when it was marked (or already final), else None (not the last
        attempt, no job id in the message, no record, or the update failed).
    """
    if isinstance(error, KeyInProgress) or not is_last_attempt(message, max_attempts):
        return None
    limit = max_attempts or _default_limit(message)
    what = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = f"gave up after attempt {attempt_of(message)} of {limit}: {what}"
    try:
        return await _fail(statuses, _job_of(message, job_id), text)
    except (JobsError, AzureError):
        log.warning("could not mark the job of a given-up message Failed", exc_info=True)
        return None


@contextlib.asynccontextmanager
async def last_attempt_fails_job(
    statuses: StatusStore,
    message: Any,
    *,
    max_attempts: int | None = None,
    job_id: JobIdFinder = find_job_id,
) -> AsyncIterator[None]:
    """`fail_job_on_last_attempt` around a block: an exception in it marks the job Failed
    on the last attempt and propagates unchanged."""
    try:
        yield
    except Exception as exc:
        await fail_job_on_last_attempt(
            statuses, message, exc, max_attempts=max_attempts, job_id=job_id
        )
        raise


async def fail_job_of_dead_letter(
    statuses: StatusStore,
    message: Any,
    *,
    reason: str | None = None,
    job_id: JobIdFinder = find_job_id,
) -> JobStatus | None:
    """Mark the job of a message on a poison/dead-letter queue Failed, with `reason` or the
    reason the message carries (Service Bus ``DeadLetterReason``/``ErrorDescription``).

    A job already Failed keeps its error (the last attempt's is more precise); other final
    states are left alone. The host deletes the message once the function returns, so the
    message is no longer there to replay: the job's recorded `input` is.

    Returns
    -------
    JobStatus | None
        The job's record, or None when the message names no job or the job has no record.

    Raises
    ------
    StatusConflict, azure.core.exceptions.AzureError
        The record could not be updated: the host retries the message.
    """
    return await _fail(statuses, _job_of(message, job_id), reason or _reason(message))


async def _fail(statuses: StatusStore, job: str | None, error: str) -> JobStatus | None:
    if job is None:
        return None
    status = await statuses.find(job)
    if status is None or status.state.is_final:
        return status
    try:
        return await statuses.fail(status, error, message="given up")
    except InvalidTransition:
        return await statuses.find(job)  # it became final meanwhile


def _job_of(message: Any, find: JobIdFinder) -> str | None:
    if isinstance(message, ServiceBusReceivedMessage):
        body = b"".join(message.body)
        return find(body, text_properties(message.application_properties))
    properties = getattr(message, "application_properties", None)
    return find(message.get_body(), text_properties(properties))


def _reason(message: Any) -> str:
    reason = getattr(message, "dead_letter_reason", None)
    if not reason:
        return POISON_REASON
    description = getattr(message, "dead_letter_error_description", None)
    return f"dead-lettered: {reason}" + (f": {description}" if description else "")


def _default_limit(message: Any) -> int:
    if isinstance(message, (ServiceBusReceivedMessage, func.ServiceBusMessage)):
        return DEFAULT_MAX_DELIVERY_COUNT
    return DEFAULT_MAX_DEQUEUE_COUNT
