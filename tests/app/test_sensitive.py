"""`sensitive` end to end (the Gatekeeper): personal data submitted over HTTP reaches the
vault only through the intake queue, is kept there encrypted, and never appears in the
job's status record, the status API or the logs; the API app alone (its HTTP functions)
accepts a job and leaves its message on the queue for the jobs app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import Harness, running_host
from tests.app.conftest import API_FUNCTIONS, TEST_KEY, JobsApp, app_settings, stays
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint

pytestmark = pytest.mark.integration

INTAKE = "sensitive-intake"


def person(unique: str) -> dict[str, str]:
    """A subject and an SSN no other test uses, so finding them anywhere means a leak."""
    rng = random.Random(unique)
    ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    return {"subject": f"Ada Lovelace {unique}", "ssn": ssn, "note": f"met on {unique}"}


def token_of(job_id: str) -> str:
    """The job's vault token: an HMAC of its id under the vault key."""
    digest = hmac.new(TEST_KEY.encode(), job_id.encode(), hashlib.sha256).hexdigest()
    return "tok_" + digest[:32]


# --- two apps from one code base -------------------------------------------------------------
# First in this file, before the module's `app` (which runs the intake function) exists:
# while the API app runs alone, nothing in the process may read the intake queue.


@pytest.fixture
def api_role(azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint) -> Iterator[Harness]:
    """The app as the API app runs it: its HTTP functions only (the split infra/main.bicep
    makes, which tests/unit/test_infra.py checks)."""
    assert "SENSITIVE_KEY" not in os.environ, (
        "another host of the app runs in this process: it would read the intake queue"
    )
    settings = app_settings(azurite, app_servicebus)
    with running_host(REPO, settings=settings, functions=API_FUNCTIONS) as host:
        yield host


def test_the_api_app_accepts_a_job_and_only_the_jobs_app_reads_it(
    api_role: Harness, azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint, unique: str
) -> None:
    api = JobsApp(api_role)
    data = person(unique)
    job_id = api.start("sensitive", data)
    [message] = [m for m in api.run(intake_messages) if m["jobId"] == job_id]
    assert message["input"] == data
    # The message waits on the intake queue (a reader would hide it from a peek) and the
    # job stays Pending, over five polling intervals of these settings.
    stays(
        lambda: (
            job_id in {m["jobId"] for m in api.run(intake_messages)}
            and api.status(job_id)["status"] == "Pending"
        ),
        f"job {job_id} Pending, its message on {INTAKE}",
        seconds=2.5,
    )

    # The jobs app's intake function starts (only it: the jobs app's other functions play
    # no part here) and takes it.
    settings = app_settings(azurite, app_servicebus)
    with running_host(REPO, settings=settings, functions=("sensitive_intake",)) as jobs:
        jobs.wake(INTAKE)
        final = api.wait(job_id)
        assert final["status"] == "Succeeded", final
        assert final["result"] == {"token": token_of(job_id)}
        assert len(jobs.invocations("sensitive_intake")) == 1
        assert api.run(read_vault, token_of(job_id)) == data
    assert job_id not in {m["jobId"] for m in api.run(intake_messages)}  # taken, deleted


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
    before = (run_at - datetime.now(timezone.utc)).total_seconds() - 0.5
    stays(
        lambda: app.status(job_id)["status"] == "Pending", f"job {job_id} Pending", seconds=before
    )
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
