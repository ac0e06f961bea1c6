"""The job API for HTTP functions: the asynchronous request-reply pattern.

    api = JobApi(status, ledger, kinds={"thumbnail": JobKind("thumbnail", validate, start)})

    @app.route(route="jobs", methods=["POST"])
    async def submit(req: func.HttpRequest) -> func.HttpResponse:
        return await api.submit(req)                 # 202 + Location + Retry-After

    @app.route(route="jobs/{id}", methods=["GET"])
    async def status(req: func.HttpRequest) -> func.HttpResponse:
        return await api.status(req.route_params["id"])

A submission is validated (a JSON object: `kind`, `input` required; `priority`, `callback`,
`run_at` optional), recorded as a Pending job with its input, handed to its kind's `start`
(which enqueues it), and answered at once with 202, `Location` and `Retry-After`. Bad input
gets an RFC 9457 problem body naming each bad field (400), a body over `max_body` 413, a
body that is not JSON 415. With an `Idempotency-Key` header, the same key and body give the
same job; the same key with another body gives 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlparse

import azure.functions as func

from .errors import KeyInProgress, KeyReused, StatusConflict
from .idempotency import IdempotencyLedger
from .status import JobState, JobStatus, StatusStore

PRIORITIES = ("high", "normal")
MAX_LIST = 100


@dataclass(frozen=True)
class JobRequest:
    """A validated submission."""

    kind: str
    input: Any
    priority: str = "normal"
    callback: str | None = None
    run_at: datetime | None = None

    def delay(self, now: datetime) -> timedelta | None:
        """How long until `run_at` (None: now)."""
        if self.run_at is None or self.run_at <= now:
            return None
        return self.run_at - now


@dataclass(frozen=True)
class JobKind:
    """What the API knows of one kind of job.

    Attributes
    ----------
    validate:
        The problems with an input, as (field, message) pairs (field paths under
        `input`, e.g. ``"items[0].qty"``); empty when it is valid.
    start:
        Hands the recorded job to its workers (enqueues it), honouring the request's
        priority and `run_at`. It gets the request's whole input.
    keep:
        What the status record keeps of the input (all of it by default, so a failed job
        can be run again from its record); a kind whose input must not be stored in the
        status table keeps a redacted summary or a reference.
    """

    name: str
    validate: Callable[[Any], list[tuple[str, str]]]
    start: Callable[[JobStatus, JobRequest], Awaitable[None]]
    keep: Callable[[Any], Any] | None = None


class JobApi:
    """Submit, read, cancel and list jobs over HTTP.

    Parameters
    ----------
    status:
        The status store.
    ledger:
        Remembers `Idempotency-Key`s.
    kinds:
        The kinds of job accepted, by name.
    base:
        The jobs' URL path (`Location: {base}/{id}`).
    retry_after:
        Seconds a client should wait before polling.
    max_body:
        Largest request body, in bytes.
    """

    def __init__(
        self,
        status: StatusStore,
        ledger: IdempotencyLedger,
        kinds: Mapping[str, JobKind],
        *,
        base: str = "/api/jobs",
        retry_after: int = 2,
        max_body: int = 1024 * 1024,
    ) -> None:
        self.status_store = status
        self.ledger = ledger
        self.kinds = dict(kinds)
        self.base = base.rstrip("/")
        self.retry_after = retry_after
        self.max_body = max_body

    async def submit(self, req: func.HttpRequest) -> func.HttpResponse:
        """POST: 202 with Location and Retry-After; 400, 413, 415 or 422 otherwise."""
        body = req.get_body() or b""
        if len(body) > self.max_body:
            return problem(413, "Payload too large", f"the body is over {self.max_body} bytes")
        content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            return problem(415, "Unsupported media type", "send the job as application/json")
        try:
            data = json.loads(body)
        except ValueError as exc:
            return problem(400, "Invalid JSON", f"the body is not JSON: {exc}")
        request, errors = self.parse(data)
        if request is None:
            return problem(400, "Invalid job", "the job has invalid fields", errors=errors)
        key = req.headers.get("idempotency-key")
        if key:
            return await self._submit_once(key, hashlib.sha256(body).hexdigest(), request)
        return self._accepted(await self.accept(request))

    def parse(self, data: Any) -> tuple[JobRequest | None, list[dict[str, str]]]:
        """The request, or None and the errors (each `{"field", "message"}`)."""
        if not isinstance(data, dict):
            return None, [{"field": "", "message": "the job must be a JSON object"}]
        found = _check_fields(data, self.kinds)
        kind = self.kinds.get(str(data.get("kind")))
        if kind is not None and isinstance(data.get("input"), dict):
            found += [(f"input.{f}" if f else "input", m) for f, m in kind.validate(data["input"])]
        if found:
            return None, [{"field": f, "message": m} for f, m in found]
        run_at = _parse_time(data["run_at"]) if data.get("run_at") else None
        return JobRequest(
            data["kind"],
            data["input"],
            data.get("priority") or "normal",
            data.get("callback"),
            run_at,
        ), []

    async def status(self, job_id: str) -> func.HttpResponse:
        """GET: 200 with the status body; 404 for an unknown id."""
        job = await self.status_store.find(job_id)
        if job is None:
            return problem(404, "Unknown job", f"no job has the id {job_id!r}")
        headers = {} if job.state.is_final else {"Retry-After": str(self.retry_after)}
        return _json(200, job.to_dict(), headers)

    async def cancel(self, job_id: str) -> func.HttpResponse:
        """DELETE: 202 (a Pending job is cancelled at once; a Running one at its next
        step); 404 unknown; 409 when it is already final; 503 with Retry-After while the
        job's own writes keep winning the race for its record."""
        job = await self.status_store.find(job_id)
        if job is None:
            return problem(404, "Unknown job", f"no job has the id {job_id!r}")
        if job.state.is_final:
            return problem(409, "Job is final", f"the job is already {job.state.value}")
        try:
            job = await self.status_store.request_cancel(job_id)
        except StatusConflict as exc:
            # Many parts of a fan-out writing progress at once can win every try; a moment
            # later the request can win. Nothing broke, so no 500: the client tries again.
            return problem(503, "Job busy", f"{exc}: try again", headers={"Retry-After": "1"})
        return _json(202, job.to_dict(), {"Location": f"{self.base}/{job_id}"})

    async def list(self, req: func.HttpRequest) -> func.HttpResponse:
        """GET with `?status=&kind=&limit=`: 200 `{"jobs": [...]}`, newest first."""
        raw = req.params.get("status")
        try:
            state = JobState(raw) if raw else None
        except ValueError:
            states = ", ".join(s.value for s in JobState)
            return problem(400, "Invalid status", f"status must be one of {states}")
        raw_limit = req.params.get("limit") or "50"
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            return problem(400, "Invalid limit", f"limit must be a number from 1 to {MAX_LIST}")
        limit = min(int(raw_limit), MAX_LIST)
        jobs = await self.status_store.list(state=state, kind=req.params.get("kind"), limit=None)
        newest = sorted(jobs, key=lambda j: j.created_at or datetime.min, reverse=True)[:limit]
        return _json(200, {"jobs": [j.to_dict() for j in newest]})

    async def accept(
        self,
        request: JobRequest,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        job_id: str | None = None,
    ) -> JobStatus:
        """Record a validated request as a Pending job and start it: what `submit` does
        after validation, for callers that arrive another way (a request message, whose
        reply goes to `reply_to` with `correlation_id`). With a `job_id` derived from the
        request, a redelivered request finds its job (StatusConflict from `create`) instead
        of making a second one."""
        kind = self.kinds[request.kind]
        kept = request.input if kind.keep is None else kind.keep(request.input)
        job = await self.status_store.create(
            request.kind,
            job_id=job_id,
            input=kept,
            callback_url=request.callback,
            reply_to=reply_to,
            correlation_id=correlation_id,
            run_at=request.run_at,
        )
        await kind.start(job, request)
        return job

    async def _submit_once(
        self, key: str, fingerprint: str, request: JobRequest
    ) -> func.HttpResponse:
        try:
            claim = await self.ledger.claim(key, scope="jobs-api", fingerprint=fingerprint)
        except KeyReused as exc:
            return problem(422, "Idempotency key reused", str(exc))
        except KeyInProgress:
            return problem(
                409,
                "Submission in progress",
                "the same submission is being made",
                headers={"Retry-After": "1"},
            )
        if (done := claim.record) is not None:
            job = await self.status_store.get(str(done.result))
            return self._accepted(job)
        try:
            job = await self.accept(request)
        except BaseException:
            await self.ledger.release(claim)
            raise
        await self.ledger.complete(claim, job.job_id)
        return self._accepted(job)

    def _accepted(self, job: JobStatus) -> func.HttpResponse:
        return _json(
            202,
            {"id": job.job_id, "status": job.state.value},
            {"Location": f"{self.base}/{job.job_id}", "Retry-After": str(self.retry_after)},
        )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> func.HttpResponse:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype="application/problem+json",
    )


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def _check_fields(data: Mapping[str, Any], kinds: Mapping[str, JobKind]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not isinstance(data.get("kind"), str) or data["kind"] not in kinds:
        found.append(("kind", f"must be one of {', '.join(sorted(kinds))}"))
    if not isinstance(data.get("input"), dict):
        found.append(("input", "must be a JSON object"))
    if data.get("priority") is not None and data["priority"] not in PRIORITIES:
        found.append(("priority", "must be 'high' or 'normal'"))
    callback = data.get("callback")
    if callback is not None and not _is_url(callback):
        found.append(("callback", "must be an http(s) URL"))
    run_at = data.get("run_at")
    if run_at is not None and _parse_time(run_at) is None:
        found.append(("run_at", "must be an ISO 8601 time with a time zone"))
    unknown = set(data) - {"kind", "input", "priority", "callback", "run_at"}
    found += [(name, "is not a field of a job") for name in sorted(unknown)]
    return found


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None
