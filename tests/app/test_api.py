"""The jobs API over HTTP: answers for good and bad submissions, idempotency keys, status,
cancellation, listing, function keys, and the OpenAPI document."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.storage.blob import BlobServiceClient
from openapi_spec_validator import validate

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import running_host
from tests.app.conftest import API_FUNCTIONS, JobsApp, app_settings
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint

pytestmark = pytest.mark.integration


def report(day: str = "2026-01-01") -> dict[str, object]:
    return {"kind": "report", "input": {"day": day}}


def test_a_submission_is_accepted_with_location_and_retry_after(app: JobsApp) -> None:
    response = app.submit(report())
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "Pending" and response.headers["Location"] == f"/api/jobs/{body['id']}"
    assert int(response.headers["Retry-After"]) > 0
    final = app.wait(body["id"])
    assert final["status"] == "Succeeded" and final["kind"] == "report"
    assert set(final) >= {"id", "kind", "status", "progress", "result", "created", "updated"}
    assert final["progress"] == {"done": 1, "total": 1}  # a one-step job is one unit of work
    assert "Retry-After" not in app.host.get(f"/api/jobs/{body['id']}").headers  # final


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "nope", "input": {}}, ["kind"]),
        ({"input": {}}, ["kind"]),
        ({"kind": "report"}, ["input"]),
        ({"kind": "report", "input": [], "priority": "urgent"}, ["input", "priority"]),
        ({"kind": "report", "input": {}, "callback": "ftp://x"}, ["callback"]),
        ({"kind": "report", "input": {}, "run_at": "tomorrow"}, ["run_at"]),
        ({"kind": "report", "input": {}, "extra": 1}, ["extra"]),
        ({"kind": "report", "input": {"day": "yesterday"}}, ["input.day"]),
        (
            {"kind": "order", "input": {"customer": "a/b", "items": [{"sku": "x", "qty": 0}]}},
            ["input", "input.customer", "input.items[0].qty"],
        ),
        (
            {"kind": "batch", "input": {"blob": "elsewhere/x.csv", "parts": 0}},
            ["input.blob", "input.parts"],
        ),
        ([1, 2], [""]),
    ],
)
def test_bad_input_is_400_naming_each_field(app: JobsApp, body: object, fields: list[str]) -> None:
    response = app.submit(body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400 and problem["title"]
    assert sorted({e["field"] for e in problem["errors"]}) == sorted(fields), problem


def test_not_json_is_400_another_type_415_and_too_big_413(app: JobsApp) -> None:
    bad = app.host.post("/api/jobs", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not JSON" in bad.json()["detail"]
    text = app.host.post(
        "/api/jobs", content=b"kind=report", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415
    big = {"kind": "report", "input": {"day": "2026-01-01", "pad": "x" * (1024 * 1024)}}
    too_big = app.host.post(
        "/api/jobs", content=json.dumps(big).encode(), headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413


def test_the_same_idempotency_key_gives_the_same_job_and_another_body_422(
    app: JobsApp, unique: str
) -> None:
    key = f"key-{unique}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: app.submit(report(), **{"Idempotency-Key": key}), range(8))
        )
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {202, 409}, codes  # 409: the same submission was still being made
    ids = {a.json()["id"] for a in answers if a.status_code == 202}
    assert len(ids) == 1
    again = app.submit(report(), **{"Idempotency-Key": key})
    assert again.status_code == 202 and again.json()["id"] in ids
    other = app.submit(report("2026-01-02"), **{"Idempotency-Key": key})
    assert other.status_code == 422


def test_unknown_jobs_are_404_and_final_ones_cannot_be_cancelled(app: JobsApp) -> None:
    assert app.host.get("/api/jobs/no-such-job").status_code == 404
    assert app.host.request("DELETE", "/api/jobs/no-such-job").status_code == 404
    job_id = app.start("report", {"day": "2026-01-01"})
    app.wait(job_id)
    refused = app.host.request("DELETE", f"/api/jobs/{job_id}")
    assert refused.status_code == 409 and "Succeeded" in refused.json()["detail"]


def test_a_delayed_job_waits_and_can_be_cancelled_before_it_runs(app: JobsApp) -> None:
    job_id = app.start("report", {"day": "2026-01-01"}, run_at="2099-01-01T00:00:00Z")
    status = app.status(job_id)
    assert status["status"] == "Pending" and status["runAt"].startswith("2099-01-01")
    cancelled = app.host.request("DELETE", f"/api/jobs/{job_id}")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "Cancelled"
    assert app.status(job_id)["status"] == "Cancelled"


def test_a_job_due_soon_runs_when_due(app: JobsApp) -> None:
    from datetime import datetime, timedelta, timezone

    due = datetime.now(timezone.utc) + timedelta(seconds=3)
    job_id = app.start("report", {"day": "2026-01-01"}, run_at=due.isoformat())
    assert app.status(job_id)["status"] == "Pending"
    final = app.wait(job_id)
    assert final["status"] == "Succeeded"
    assert datetime.fromisoformat(final["updated"].replace("Z", "+00:00")) >= due


def test_jobs_are_listed_by_state_and_kind_newest_first(app: JobsApp) -> None:
    ids = [app.start("report", {"day": "2026-01-03"}) for _ in range(3)]
    for job_id in ids:
        app.wait(job_id)
    listed = app.host.get(
        "/api/jobs", params={"status": "Succeeded", "kind": "report", "limit": 100}
    )
    jobs = listed.json()["jobs"]
    assert all(j["status"] == "Succeeded" and j["kind"] == "report" for j in jobs)
    mine = [j["id"] for j in jobs if j["id"] in ids]
    assert mine == list(reversed(ids))
    assert app.host.get("/api/jobs", params={"status": "Done"}).status_code == 400
    assert app.host.get("/api/jobs", params={"limit": "many"}).status_code == 400


def test_the_openapi_document_is_valid_and_names_every_kind(app: JobsApp) -> None:
    response = app.host.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    submission = document["components"]["schemas"]["Submission"]
    assert {v["title"] for v in submission["oneOf"]} == {
        "order",
        "batch",
        "thumbnail",
        "report",
        "sensitive",
    }
    assert set(document["paths"]) == {"/jobs", "/jobs/{id}"}


MASTER = "jobs-app-tests-master-key"


@pytest.fixture(scope="module")
def keyed(azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint) -> Iterator[JobsApp]:
    """The API functions with function keys enforced, as on Azure (the master key written
    where the host keeps keys, before it starts)."""
    host_id = f"jobs-keys-{uuid.uuid4().hex[:10]}"
    secrets = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = secrets.get_container_client("azure-webjobs-secrets")
    if not container.exists():
        container.create_container()
    keys = {
        "masterKey": {"name": "master", "value": MASTER, "encrypted": False},
        "functionKeys": [],
        "systemKeys": [],
    }
    container.upload_blob(f"{host_id}/host.json", json.dumps(keys), overwrite=True)
    settings = {**app_settings(azurite, app_servicebus), "AzureFunctionsWebHost__hostid": host_id}
    with running_host(REPO, settings=settings, auth=True, functions=API_FUNCTIONS) as host:
        yield JobsApp(host)


def test_job_routes_need_a_function_key_and_the_openapi_document_does_not(keyed: JobsApp) -> None:
    refused = keyed.submit(report())
    assert refused.status_code == 401
    assert keyed.host.get("/api/jobs/x").status_code == 401
    assert keyed.host.get("/api/openapi.json").status_code == 200
    assert keyed.host.get("/api/health").status_code == 200
    accepted = keyed.host.post("/api/jobs", json=report(), headers={"x-functions-key": MASTER})
    assert accepted.status_code == 202
    job = keyed.host.get(accepted.headers["Location"], params={"code": MASTER})
    assert job.status_code == 200 and job.json()["id"] == accepted.json()["id"]
