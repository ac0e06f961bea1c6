"""Poison and dead letters: list, show, replay and purge them, and mark their jobs Failed.

- `StoragePoisonQueue`: a Storage ``<queue>-poison`` queue (`for_queue`) or the blob
  trigger's ``webjobs-blobtrigger-poison`` (`for_blob_trigger`).
- `ServiceBusDeadLetters`: the dead-letter queue of a Service Bus queue or subscription.
- `DeadLetter` (what `list`/`show` give), `Replayed` (what `replay` did).
- `job_id_from(keys, app_property=)`: where a message names its job (default: ``jobId``
  or ``id`` in a JSON body, else application property ``jobId``).
- In the app: `last_attempt_fails_job` / `fail_job_on_last_attempt` (mark the job Failed
  before the host gives the message up) and `fail_job_of_dead_letter` (a function on the
  poison or dead-letter queue).

A replay sends the message back as it was stored and moves a Failed job back to Pending
(`StatusStore.retry`), so the job's status URL shows the new attempt. See
docs/jobs-library.md for the trade-offs.
"""

from __future__ import annotations

from .failing import (
    DEFAULT_MAX_DELIVERY_COUNT,
    DEFAULT_MAX_DEQUEUE_COUNT,
    POISON_REASON,
    attempt_of,
    fail_job_of_dead_letter,
    fail_job_on_last_attempt,
    is_last_attempt,
    last_attempt_fails_job,
)
from .model import DeadLetter, JobIdFinder, Replayed, find_job_id, job_id_from
from .servicebus import REPLAYED_FROM, ServiceBusDeadLetters
from .storage import BLOB_TRIGGER_POISON, StoragePoisonQueue

__all__ = [
    "BLOB_TRIGGER_POISON",
    "DEFAULT_MAX_DELIVERY_COUNT",
    "DEFAULT_MAX_DEQUEUE_COUNT",
    "POISON_REASON",
    "REPLAYED_FROM",
    "DeadLetter",
    "JobIdFinder",
    "Replayed",
    "ServiceBusDeadLetters",
    "StoragePoisonQueue",
    "attempt_of",
    "fail_job_of_dead_letter",
    "fail_job_on_last_attempt",
    "find_job_id",
    "is_last_attempt",
    "job_id_from",
    "last_attempt_fails_job",
]
