"""The app's clients and stores, built once per process from its settings.

Building them does no I/O (clients open on first use, per event loop), so a module may
call `services()` at import time or in a function. Settings:

- `AzureWebJobsStorage`: status records, the idempotency ledger, job queues and blobs.
- `ServiceBusConnection`: the order pipeline's queues and the message-driven requests.
- `SensitiveStorage`: the gatekeeper's own account (functions/sensitive.py): the API app
  may only add messages to its intake queue; only the jobs app reads it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from datetime import timedelta

from shared.idempotency import IdempotencyLedger
from shared.servicebus import ServiceBusNamespace
from shared.status import JobStatus, StatusStore
from shared.storage import StorageAccount
from shared.transport import ServiceBusQueues, StorageQueues

# Final states of jobs with a callback or a reply address go here; functions/results.py
# delivers them with the queue's retries and poison handling (a slow receiver never holds
# up a worker).
NOTIFY_QUEUE = "job-notifications"

# host.json extensions.queues.maxDequeueCount (and the Service Bus entities' MaxDeliveryCount,
# which infra/ and servicebus.config.json set to the same): a failure on this delivery is
# the last one (tests/app/test_config.py keeps them equal).
MAX_DEQUEUE_COUNT = 5

# A Pending or Running job whose record has not changed for this long is stuck: the
# supervisor retries it, the consistency check reports it. Longer than any step takes.
STUCK_AFTER = timedelta(minutes=int(os.environ.get("JOBS_STUCK_AFTER_MINUTES", "10")))


@dataclass(frozen=True)
class Services:
    """What every job family uses."""

    account: StorageAccount
    servicebus: ServiceBusNamespace
    status: StatusStore
    ledger: IdempotencyLedger
    queues: StorageQueues
    bus: ServiceBusQueues


@functools.cache
def services() -> Services:
    """The app's services (settings are read on the first call)."""
    account = StorageAccount.from_settings()
    queues = StorageQueues(account)

    async def announce(job: JobStatus) -> None:
        if job.callback_url or job.reply_to:
            await queues.send(NOTIFY_QUEUE, {"jobId": job.job_id})

    namespace = ServiceBusNamespace.from_settings()
    return Services(
        account=account,
        servicebus=namespace,
        status=StatusStore(account, on_final=announce),
        ledger=IdempotencyLedger(account),
        queues=queues,
        bus=ServiceBusQueues(namespace),
    )


def json_body(raw: bytes) -> dict[str, object]:
    """A message body that must be a JSON object (ValueError names what it is instead)."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data
