"""Every error the jobs library raises, under one root: `JobsError`.

Each error keeps the facts a caller needs to decide what to do (the key, the job id, the
states, the attempts) as attributes, and says them in its message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class JobsError(Exception):
    """Root of every error raised by the jobs library."""


class SettingError(JobsError):
    """A setting the library needs is missing or malformed.

    Parameters
    ----------
    name:
        The application setting (environment variable) at fault.
    problem:
        What is wrong with it.
    """

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting {name!r}: {problem}")
        self.name = name


class InvalidArgument(JobsError, ValueError):
    """A value passed to the library is out of range or of the wrong shape."""


class PayloadTooLarge(InvalidArgument):
    """A result, state or message body is larger than the store accepts inline."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} characters, more than the limit of {limit}")
        self.size = size
        self.limit = limit


# --- optimistic concurrency -----------------------------------------------------------------


class ConcurrencyError(JobsError):
    """A conditional write lost: someone changed the record since it was read (ETag)."""


class CheckpointConflict(ConcurrencyError):
    """A checkpoint was changed or created by another worker since this one read it."""

    def __init__(self, job_id: str, detail: str) -> None:
        super().__init__(f"checkpoint of job {job_id!r}: {detail}")
        self.job_id = job_id


class StatusConflict(ConcurrencyError):
    """A job status record was changed by another writer in a way that cannot be merged."""

    def __init__(self, job_id: str, detail: str) -> None:
        super().__init__(f"status of job {job_id!r}: {detail}")
        self.job_id = job_id


# --- job status -----------------------------------------------------------------------------


class JobNotFound(JobsError, LookupError):
    """No status record exists for the job id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no status record for job {job_id!r}")
        self.job_id = job_id


class InvalidTransition(JobsError):
    """A status change that the job state machine does not allow (e.g. out of a final state)."""

    def __init__(self, job_id: str, from_state: Any, to_state: Any) -> None:
        super().__init__(
            f"job {job_id!r} cannot go from {_name(from_state)} to {_name(to_state)}"
            + (f" ({_name(from_state)} is final)" if getattr(from_state, "is_final", False) else "")
        )
        self.job_id = job_id
        self.from_state = from_state
        self.to_state = to_state


class JobCancelled(JobsError):
    """Raised inside a running job when a cancellation was requested for it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r}: cancellation requested")
        self.job_id = job_id


# --- idempotency ----------------------------------------------------------------------------


class IdempotencyError(JobsError):
    """Root of the idempotency ledger's errors."""


class KeyInProgress(IdempotencyError):
    """Another worker holds a live claim on the key; retry after its lease ends."""

    def __init__(self, key: str, owner: str, lease_until: datetime) -> None:
        super().__init__(
            f"idempotency key {key!r} is being processed by {owner} "
            f"(lease until {lease_until.isoformat()})"
        )
        self.key = key
        self.owner = owner
        self.lease_until = lease_until


class KeyReused(IdempotencyError):
    """The idempotency key was first used for a different request (another body)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            f"use a new key for a new request"
        )
        self.key = key


class ClaimLost(IdempotencyError):
    """This worker's claim was taken over or removed, so its outcome was not recorded."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"claim on idempotency key {key!r} lost: {detail}")
        self.key = key


class MissingIdempotencyKey(IdempotencyError, LookupError):
    """The key could not be taken from the invocation (no header, field or message id)."""


# --- locks ----------------------------------------------------------------------------------


class LockError(JobsError):
    """Root of the lock errors."""


class LockNotAcquired(LockError):
    """The lock is held by someone else (and stayed held for as long as we waited)."""

    def __init__(self, name: str, waited: float) -> None:
        super().__init__(
            f"lock {name!r} is held by another instance"
            + (f" (waited {waited:.1f}s)" if waited else "")
        )
        self.name = name
        self.waited = waited


class LockLost(LockError):
    """The lease could not be renewed: exclusivity was not guaranteed for the whole run."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"lock {name!r} lost: {detail}")
        self.name = name


# --- ordering -------------------------------------------------------------------------------


class OrderingError(JobsError):
    """Root of the sequence-ordering errors."""


class SequenceGapError(OrderingError):
    """A message stayed missing longer than the gap timeout.

    Attributes
    ----------
    key, expected, received, waited:
        The ordering key, the sequence number still missing, the one that arrived, and how
        long the gap has been open.
    """

    def __init__(self, key: str, expected: int, received: int, waited: timedelta) -> None:
        super().__init__(
            f"ordering key {key!r}: sequence {expected} still missing after "
            f"{waited.total_seconds():.1f}s (holding {received})"
        )
        self.key = key
        self.expected = expected
        self.received = received
        self.waited = waited


class TurnLost(OrderingError):
    """This worker's turn on an ordering key expired and another worker took it."""


# --- returning results ----------------------------------------------------------------------


class CallbackFailed(JobsError):
    """A callback POST did not succeed within the allowed attempts."""

    def __init__(self, url: str, attempts: int, last_error: str) -> None:
        super().__init__(f"callback to {url} failed after {attempts} attempt(s): {last_error}")
        self.url = url
        self.attempts = attempts
        self.last_error = last_error


class SignatureError(JobsError):
    """A callback signature is missing, malformed, stale or does not match."""


# --- poison and dead letters ----------------------------------------------------------------


class DeadLetterNotFound(JobsError, LookupError):
    """No message with this id is in the poison queue or dead-letter queue."""

    def __init__(self, queue: str, message_id: str) -> None:
        super().__init__(f"no message {message_id!r} in {queue!r}")
        self.queue = queue
        self.message_id = message_id


def _name(state: Any) -> str:
    return str(getattr(state, "value", state))
