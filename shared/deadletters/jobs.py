"""The link between a dead letter and its job's status record, for the replay tools.

A replay moves a Failed job back to Pending (`StatusStore.retry`) *before* the copy is sent,
so the worker that picks the copy up starts a new attempt on the same job id; if the send
then fails, the job is put back to Failed with its previous error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError

from ..errors import InvalidTransition, JobsError
from ..status import JobState, JobStatus, StatusStore
from .model import JobIdFinder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retried:
    """A job prepared for a replay: its record now, and the error it had if it was retried."""

    job_id: str | None
    status: JobStatus | None = None
    previous_error: str | None = None

    @property
    def state(self) -> str | None:
        return None if self.status is None else self.status.state.value


class JobLink:
    """Finds a message's job and keeps its status in step with replays.

    Parameters
    ----------
    statuses:
        The status store, or None to leave statuses alone (job ids are still reported).
    find:
        Reads the job id from a message's body and application properties.
    """

    def __init__(self, statuses: StatusStore | None, find: JobIdFinder) -> None:
        self.statuses = statuses
        self.find = find

    def job_id(self, body: bytes, properties: Mapping[str, Any]) -> str | None:
        """The job id in the message, or None."""
        return self.find(body, properties)

    async def reason(self, job_id: str | None) -> str | None:
        """A Failed job's recorded error (Storage poison queues keep no reason of their own)."""
        if self.statuses is None or job_id is None:
            return None
        status = await self.statuses.find(job_id)
        return status.error if status is not None and status.state is JobState.FAILED else None

    async def before_replay(self, job_id: str | None, source: str) -> Retried:
        """Move a Failed job back to Pending; any other state is left as it is."""
        if self.statuses is None or job_id is None:
            return Retried(job_id)
        status = await self.statuses.find(job_id)
        if status is None or status.state is not JobState.FAILED:
            if status is not None:
                log.info("replaying a message of job %r, which is %s", job_id, status.state.value)
            return Retried(job_id, status)
        try:
            retried = await self.statuses.retry(job_id, message=f"replayed from {source}")
        except InvalidTransition:  # it left Failed meanwhile (retried by someone else)
            return Retried(job_id, await self.statuses.find(job_id))
        return Retried(job_id, retried, status.error or "failed")

    async def after_failed_send(self, retried: Retried) -> None:
        """Put a job retried for a replay whose send failed back to Failed (best effort: the
        send's own error is the one the caller sees)."""
        if self.statuses is None or retried.status is None or retried.previous_error is None:
            return
        try:
            await self.statuses.fail(
                retried.status, retried.previous_error, message="replay failed"
            )
        except (JobsError, AzureError):
            log.warning("job %r: could not put it back to Failed", retried.job_id, exc_info=True)
