"""`sensitive` end to end (the Gatekeeper): personal data submitted over HTTP reaches the
vault only through the intake queue, is kept there encrypted, and never appears in the
job's status record, the status API or the logs; the API app alone (the intake function
off) accepts a job and leaves its message on the queue for the jobs app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import Harness, running_host
from tests.app.conftest import TEST_KEY, JobsApp, app_settings
from tests.app.hosts import ORDER_STEPS_OFF, jobs_app
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint

pytestmark = pytest.mark.integration

INTAKE = "sensitive-intake"
HTTP_FUNCTIONS = {"health", "submit_job", "get_job", "cancel_job", "list_jobs", "openapi"}
BACKGROUND_FUNCTIONS = {
    *("jobs_high", "jobs_normal", "jobs_high_poison", "jobs_normal_poison"),
    *("order_reserve", "order_charge", "order_ship", "order_notify", "batch_part"),
    *("thumbnail_on_upload", "thumbnail_poison", "sensitive_intake", "job_notifications"),
    *("job_requests", "daily_report", "consistency_check", "nightly_retention"),
    "supervise_jobs",
}


def person(unique: str) -> dict[str, str]:
    """A subject and an SSN no other test uses, so finding them anywhere means a leak."""
    rng = random.Random(unique)
    ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    return {"subject": f"Ada Lovelace {unique}", "ssn": ssn, "note": f"met on {unique}"}


def token_of(job_id: str) -> str:
    """The job's vault token: an HMAC of its id under the vault key."""
    digest = hmac.new(TEST_KEY.encode(), job_id.encode(), hashlib.sha256).hexdigest()
    return "tok_" + digest[:32]


def disabled(functions: set[str] | list[str]) -> dict[str, str]:
    return {f"AzureWebJobs.{name}.Disabled": "true" for name in functions}


# --- two apps from one code base -------------------------------------------------------------
# First in this file, before the module's `app` (which runs the intake function) exists:
# while the API app runs alone, nothing in the process may read the intake queue.


@pytest.fixture
def api_role(azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint) -> Iterator[Harness]:
    """The app as the API app runs it: its HTTP functions only, the intake among the rest
    turned off (`AzureWebJobs.<name>.Disabled`)."""
    assert "SENSITIVE_KEY" not in os.environ, (
        "another host of the app runs in this process: it would read the intake queue"
    )
    settings = {**app_settings(azurite, app_servicebus), **disabled(BACKGROUND_FUNCTIONS)}
    with running_host(REPO, settings=settings) as host:
        names = {spec.name for spec in host.app.functions}
        assert names == HTTP_FUNCTIONS | BACKGROUND_FUNCTIONS, (
            "a function was added: which app runs it?"
        )
        assert all(
            spec.disabled for spec in host.app.functions if spec.name in BACKGROUND_FUNCTIONS
        )
        yield host


def test_the_api_app_accepts_a_job_and_only_the_jobs_app_reads_it(
    api_role: Harness, azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint, unique: str
) -> None:
    api = JobsApp(api_role)
    data = person(unique)
    job_id = api.start("sensitive", data)
    # The message waits on the intake queue: no function of the API app takes it.
    time.sleep(2.5)  # five polling intervals of these settings
    assert api.status(job_id)["status"] == "Pending"
    [message] = [m for m in api.run(intake_messages) if m["jobId"] == job_id]
    assert message["input"] == data
    assert api_role.invocations("sensitive_intake") == []

    # The jobs app's intake function starts (only it: the jobs app's other functions play
    # no part here, and its HTTP ones are off in that app) and takes it.
    settings = app_settings(azurite, app_servicebus)
    with running_host(REPO, settings=settings, functions=("sensitive_intake",)) as jobs:
        jobs.wake(INTAKE)
        final = api.wait(job_id)
        assert final["status"] == "Succeeded", final
        assert final["result"] == {"token": token_of(job_id)}
        assert len(jobs.invocations("sensitive_intake")) == 1
        assert api.run(read_vault, token_of(job_id)) == data


async def intake_messages() -> list[dict[str, Any]]:
    """The intake queue's messages, peeked (left as they are)."""
    from functions.sensitive import vault_account

    queue = await vault_account().ensure_queue(INTAKE)
    peeked = await queue.peek_messages(max_messages=32)
    return [json.loads(base64.b64decode(m.content)) for m in peeked]


async def read_vault(token: str) -> dict[str, Any]:
    from functions.sensitive import read_vault

    return await read_vault(token)


# --- the jobs app and the API in one host (the module's `app`) -------------------------------


@pytest.fixture(scope="module")
def app(azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint) -> Iterator[JobsApp]:
    """The whole app but the order pipeline, which plays no part here (tests/app/hosts.py)."""
    with jobs_app(azurite, app_servicebus, ORDER_STEPS_OFF) as app:
        yield app


def test_a_sensitive_job_succeeds_and_the_vault_keeps_its_input_encrypted(
    app: JobsApp, unique: str
) -> None:
    data = person(unique)
    job_id = app.start("sensitive", data)
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    token = final["result"]["token"]
    assert token == token_of(job_id)
    row = app.run(vault_row, token)
    stored = row["Data"]
    for secret in (data["ssn"], data["ssn"].replace("-", ""), data["subject"], data["note"]):
        assert secret not in json.dumps(row), secret
    assert json.loads(Fernet(TEST_KEY.encode()).decrypt(stored.encode())) == data
    assert app.run(read_vault, token) == data


def test_the_status_record_never_holds_the_personal_data(app: JobsApp, unique: str) -> None:
    data = person(unique)
    job_id = app.start("sensitive", data)
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    seen = {
        "status API": app.host.get(f"/api/jobs/{job_id}").text,
        "job list": app.host.get("/api/jobs", params={"kind": "sensitive", "limit": 100}).text,
        "JobStatus row": json.dumps(app.run(status_row, job_id), default=str),
        "host logs": "\n".join(app.host.logs),
    }
    assert job_id in seen["job list"] and job_id in seen["JobStatus row"]
    for where, text in seen.items():
        for secret in (data["ssn"], data["subject"], data["note"]):
            assert secret not in text, f"{secret!r} in the {where}"
    # What the record keeps of the input: which fields were given.
    kept = json.loads(app.run(status_row, job_id)["Input"])
    assert kept == {"fields": ["note", "ssn", "subject"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ssn": "123456789"}, "input.ssn"),
        ({"ssn": "123-45-678"}, "input.ssn"),
        ({"subject": ""}, "input.subject"),
        ({"extra": "x"}, "input"),
    ],
)
def test_invalid_input_is_refused_naming_the_field(
    app: JobsApp, unique: str, change: dict[str, str], field: str
) -> None:
    response = app.submit({"kind": "sensitive", "input": {**person(unique), **change}})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field], problem


def test_a_delayed_sensitive_job_waits_for_its_time(app: JobsApp, unique: str) -> None:
    from datetime import datetime, timedelta, timezone

    run_at = datetime.now(timezone.utc) + timedelta(seconds=3)
    job_id = app.start("sensitive", person(unique), run_at=run_at.isoformat())
    time.sleep(1.5)
    assert app.status(job_id)["status"] == "Pending"
    final = app.wait(job_id)
    assert final["status"] == "Succeeded", final
    assert datetime.fromisoformat(final["updated"]) >= run_at


async def vault_row(token: str) -> dict[str, Any]:
    from functions.sensitive import VAULT, vault_account

    table = await vault_account().ensure_table(VAULT)
    return dict(await table.get_entity(token, "record"))


async def status_row(job_id: str) -> dict[str, Any]:
    from functions.services import services

    table = await services().account.ensure_table("JobStatus")
    return dict(await table.get_entity(job_id, "status"))
