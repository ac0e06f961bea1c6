"""The job API helpers on Azurite: 202 + Location, validation problems, idempotency keys,
status, cancel and list."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from shared.idempotency import IdempotencyLedger
from shared.jobapi import JobApi, JobKind, JobRequest
from shared.status import JobState, JobStatus, StatusStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _validate(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [] if isinstance(data.get("blob"), str) else [("blob", "must be a string")]


def _api(account, name: str) -> tuple[JobApi, StatusStore, list[tuple[str, JobRequest]]]:
    status = StatusStore(account, table=name + "s")
    started: list[tuple[str, JobRequest]] = []

    async def start(job: JobStatus, request: JobRequest) -> None:
        started.append((job.job_id, request))

    kinds = {"thumbnail": JobKind("thumbnail", _validate, start)}
    return JobApi(status, IdempotencyLedger(account, table=name + "l"), kinds), status, started


def post(body: Any, *, key: str | None = None, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type, **({"idempotency-key": key} if key else {})}
    return func.HttpRequest("POST", "/api/jobs", headers=headers, body=raw)


async def test_accept_then_status_then_cancel_then_list(account, unique_name):
    api, status, started = _api(account, unique_name)
    answer = await api.submit(
        post(
            {
                "kind": "thumbnail",
                "input": {"blob": "images/a.png"},
                "priority": "high",
                "run_at": "2030-01-01T00:00:00Z",
            }
        )
    )
    assert answer.status_code == 202
    body = json.loads(answer.get_body())
    assert body["status"] == "Pending" and answer.headers["Location"] == f"/api/jobs/{body['id']}"
    assert int(answer.headers["Retry-After"]) >= 1
    ((job_id, request),) = started
    assert job_id == body["id"] and request.priority == "high" and request.run_at.year == 2030
    got = await api.status(job_id)
    assert got.status_code == 200 and json.loads(got.get_body())["progress"] == {
        "done": 0,
        "total": 0,
    }
    assert (await status.get(job_id)).input == {"blob": "images/a.png"}  # kept to re-run
    assert (await api.status("nope")).status_code == 404
    cancelled = await api.cancel(job_id)
    assert cancelled.status_code == 202
    assert (await status.get(job_id)).state is JobState.CANCELLED
    assert (await api.cancel(job_id)).status_code == 409  # final already
    listed = await api.list(
        func.HttpRequest("GET", "/api/jobs", params={"status": "Cancelled"}, body=b"")
    )
    assert [j["id"] for j in json.loads(listed.get_body())["jobs"]] == [job_id]
    bad_state = await api.list(func.HttpRequest("GET", "/", params={"status": "Nope"}, body=b""))
    assert bad_state.status_code == 400


async def test_bad_submissions_get_problem_details_naming_each_field(account, unique_name):
    api, _, started = _api(account, unique_name)
    answer = await api.submit(
        post(
            {
                "kind": "video",
                "input": [],
                "priority": "urgent",
                "callback": "ftp://x",
                "run_at": "tomorrow",
                "extra": 1,
            }
        )
    )
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    fields = {e["field"] for e in json.loads(answer.get_body())["errors"]}
    assert fields == {"kind", "input", "priority", "callback", "run_at", "extra"}
    inner = await api.submit(post({"kind": "thumbnail", "input": {"blob": 3}}))
    assert [e["field"] for e in json.loads(inner.get_body())["errors"]] == ["input.blob"]
    assert (await api.submit(post(b"{not json"))).status_code == 400
    assert (
        await api.submit(post({"kind": "thumbnail"}, content_type="text/plain"))
    ).status_code == 415
    assert (await api.submit(post(b"x" * (1024 * 1024 + 1)))).status_code == 413
    assert started == []


async def test_an_idempotency_key_gives_the_same_job_and_refuses_another_body(account, unique_name):
    api, _, started = _api(account, unique_name)
    job = {"kind": "thumbnail", "input": {"blob": "images/b.png"}}
    first = json.loads((await api.submit(post(job, key="k-1"))).get_body())
    again = json.loads((await api.submit(post(job, key="k-1"))).get_body())
    assert first["id"] == again["id"] and len(started) == 1
    other = await api.submit(post({**job, "input": {"blob": "images/c.png"}}, key="k-1"))
    assert other.status_code == 422 and len(started) == 1


class _Rivalled(StatusStore):
    """A store whose every read of a Running job is followed by another writer's progress
    (as the parts of a fan-out write theirs): a write conditional on that read always loses."""

    async def find(self, job_id: str) -> JobStatus | None:
        found = await super().find(job_id)
        if found is not None and found.state is JobState.RUNNING:
            await self.report_progress(found, found.done + 1, message="a part done")
        return found


async def test_a_cancellation_that_keeps_losing_the_race_is_503_with_retry_after(
    account, unique_name
):
    api, status, _ = _api(account, unique_name)
    rivalled = _Rivalled(account, table=unique_name + "s")
    api = JobApi(rivalled, api.ledger, api.kinds)
    job = await status.start(await status.create("thumbnail", input={"blob": "images/a.png"}))
    answer = await api.cancel(job.job_id)
    assert answer.status_code == 503, answer.get_body()
    assert answer.headers["Retry-After"] == "1"
    assert "cancellation still contended" in json.loads(answer.get_body())["detail"]
    assert not (await status.get(job.job_id)).cancel_requested
