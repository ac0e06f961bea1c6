"""Signed webhook callbacks: POST the final status to a URL, retried with bounded backoff.

Signature scheme (header ``X-Jobs-Signature``)::

    X-Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is inside the signed content, so a captured request cannot be replayed
later than the receiver's tolerance (5 minutes by default), and the body cannot be changed
without the secret. Receivers call `verify_signature`. Each attempt is signed afresh (a
late retry is not rejected as stale); all attempts carry the same ``Idempotency-Key``, so a
receiver can drop a repeat of a delivery it already processed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .._loopcache import LoopCache
from ..errors import CallbackFailed, InvalidArgument, SignatureError
from ..status.model import JobStatus
from .payload import encode, status_document

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Jobs-Signature"
DELIVERY_HEADER = "Idempotency-Key"
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body` at `timestamp` (now by default)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_digest(secret, ts, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes | Iterable[str | bytes],
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> int:
    """Check a callback's signature header against its raw body.

    Parameters
    ----------
    body:
        The request body exactly as received (bytes, before any JSON parsing).
    header:
        The ``X-Jobs-Signature`` header value.
    secret:
        The shared secret, or several (old and new, while rotating).
    tolerance:
        Largest accepted age (and clock skew into the future), in seconds.
    now:
        The current Unix time; injectable for tests.

    Returns
    -------
    int
        The signed timestamp.

    Raises
    ------
    SignatureError
        The header is missing or malformed, the timestamp is outside the tolerance (a
        replay), or no signature matches any secret (tampered body or wrong secret).
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    try:
        ts = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: no t=<unix time>") from None
    if not fields.get("v1"):
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: no v1=<signature>")
    age = (time.time() if now is None else now) - ts
    if abs(age) > tolerance:
        raise SignatureError(
            f"timestamp is {age:.0f}s old, outside the {tolerance:.0f}s "
            "tolerance (replayed or clock skew)"
        )
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    for candidate in secrets:
        expected = _digest(candidate, ts, body)
        if any(hmac.compare_digest(expected, given) for given in fields["v1"]):
            return ts
    raise SignatureError("signature does not match the body (tampered, or another secret)")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    Attempt n (from 1) waits ``min(max_delay, base_delay * 2**(n-1))`` halved plus a random
    half of it, so retries from many workers spread out. A ``Retry-After`` header is
    honoured up to `max_delay`.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        if retry_after is not None:
            return min(self.max_delay, max(retry_after, 0.0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class CallbackResult:
    """A delivered callback: the URL, the receiver's status code and the attempts it took."""

    url: str
    status_code: int
    attempts: int
    delivery_id: str


class CallbackSender:
    """POSTs signed JSON to callback URLs.

    Parameters
    ----------
    secret:
        The HMAC key shared with receivers (keep it in an app setting / Key Vault).
    retry:
        The retry policy; bounded by `max_attempts`.
    timeout:
        Seconds per attempt.
    """

    def __init__(
        self, secret: str | bytes, *, retry: RetryPolicy = RetryPolicy(), timeout: float = 10.0
    ) -> None:
        if not secret:
            raise InvalidArgument("callback secret must not be empty")
        self.secret = secret
        self.retry = retry
        self.timeout = timeout
        self._sessions = LoopCache()

    async def send_status(self, status: JobStatus, url: str | None = None) -> CallbackResult:
        """POST the status document to `url` (default: the record's `callback_url`).

        The delivery id is ``<job id>:<state>``: if a worker redoes the notification after a
        crash, the receiver still sees the same key.
        """
        target = url or status.callback_url
        if not target:
            raise InvalidArgument(f"job {status.job_id!r} has no callback URL")
        return await self.send(
            target, status_document(status), delivery_id=f"{status.job_id}:{status.state.value}"
        )

    async def send(
        self, url: str, payload: Mapping[str, Any] | bytes, *, delivery_id: str | None = None
    ) -> CallbackResult:
        """POST `payload` (JSON) to `url`, retrying transient failures.

        Retried: connection errors, timeouts, 408/425/429 and 5xx. Not retried: other 4xx
        (the receiver rejected it; resending the same request will not help).

        Raises
        ------
        CallbackFailed
            After a non-retryable answer, or when `retry.max_attempts` are used up.
        """
        if not url.startswith(("https://", "http://")):
            raise InvalidArgument(f"callback URL must be http(s): {url!r}")
        body = payload if isinstance(payload, bytes) else encode(payload)
        delivery = delivery_id or uuid.uuid4().hex
        session: aiohttp.ClientSession = self._sessions.get("session", self._new_session)
        last = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: delivery,
                SIGNATURE_HEADER: sign(self.secret, body),
            }
            retry_after = None
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status < 300:
                        return CallbackResult(url, response.status, attempt, delivery)
                    last = f"HTTP {response.status} {response.reason}"
                    if response.status not in _RETRY_STATUSES:
                        raise CallbackFailed(url, attempt, last + " (not retryable)")
                    retry_after = _seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retry.max_attempts:
                pause = self.retry.delay(attempt, retry_after)
                log.warning(
                    "callback %s attempt %d failed (%s); retrying in %.2fs",
                    url,
                    attempt,
                    last,
                    pause,
                )
                await asyncio.sleep(pause)
        raise CallbackFailed(url, self.retry.max_attempts, last)

    async def close(self) -> None:
        """Close the HTTP session opened on the running event loop."""
        for session in self._sessions.pop_current():
            await session.close()

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "shared-jobs-callback/1"},
        )


def _digest(secret: str | bytes, ts: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None  # an HTTP date; the policy's own delay is used instead


def decode_callback(body: bytes) -> dict[str, Any]:
    """The status document of a verified callback body."""
    return dict(json.loads(body))
