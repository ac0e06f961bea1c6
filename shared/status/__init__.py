"""Job status records: state, progress, result location, errors, cancellation.

    store = StatusStore(StorageAccount.from_settings())
    job = await store.create("thumbnail", correlation_id=req_id, callback_url=url)
    ...                                     # in the worker
    job = await store.start(await store.get(job_id))
    job = await store.report_progress(job, 50)
    if job.cancel_requested:
        job = await store.cancel(job)
    else:
        job = await store.succeed(job, result_location=blob_url)

States and allowed moves are in `shared.status.model` (`JobState`, `TRANSITIONS`).
"""

from __future__ import annotations

from .model import TRANSITIONS, JobState, JobStatus, check_transition
from .store import DEFAULT_TABLE, StatusStore

__all__ = [
    "DEFAULT_TABLE",
    "TRANSITIONS",
    "JobState",
    "JobStatus",
    "StatusStore",
    "check_transition",
]
