"""The jobs app (the repository's own function_app.py) on the in-process host, against the
session's Azurite and a Service Bus emulator with the app's own servicebus.config.json (the
entities `make run` creates).

One host per test module, both roles in it (as `make run` runs it); a module that needs the
app otherwise overrides `app_overrides`. Tests keep apart by what they create: each uses its
own customers, SKUs and blob names (`unique`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import Harness, running_host
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint, running_emulator

T = TypeVar("T")

FINAL = {"Succeeded", "Failed", "Cancelled", "Compensated"}
# The API app's functions (infra/main.bicep `apiFunctionNames`, and health, which both run).
API_FUNCTIONS = ("health", "submit_job", "get_job", "cancel_job", "list_jobs", "openapi")
TEST_KEY = "3q2-7wYuXzkX5JY1cGjOvlzEuKs1Gt9Fj0tXrQpIbEo="  # a Fernet key for tests only
CALLBACK_SECRET = "tests-callback-secret"

# Faster than production, so retries and polling fit a test: a failed queue message is
# visible again after 1 s (5 tries, then poison), queues are polled at least twice a second.
FAST = {
    "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
    "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
}


@pytest.fixture(scope="session")
def app_servicebus() -> Iterator[ServiceBusEndpoint]:
    with running_emulator(REPO / "servicebus.config.json") as endpoint:
        yield endpoint


def app_settings(azurite: AzuriteEndpoints, servicebus: ServiceBusEndpoint) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "SensitiveStorage": azurite.connection_string,
        "ServiceBusConnection": servicebus.connection_string,
        "SENSITIVE_KEY": TEST_KEY,
        "CALLBACK_SECRET": CALLBACK_SECRET,
        **FAST,
    }


class JobsApp:
    """The running app, driven as its users drive it: through the jobs API."""

    def __init__(self, host: Harness) -> None:
        self.host = host

    def submit(self, body: Any, **headers: str) -> Any:
        """POST /api/jobs; the httpx response."""
        return self.host.post("/api/jobs", json=body, headers=headers)

    def start(self, kind: str, input: Any, **extra: Any) -> str:
        """Submit a job that must be accepted; its id."""
        response = self.submit({"kind": kind, "input": input, **extra})
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.host.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait(
        self,
        job_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda s: s["status"] in FINAL,
        *,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll the job's Location (as a client would) until `until` holds (default: a
        final state); the last status. AssertionError with it on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if until(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} after {timeout}s: {status}")
            time.sleep(0.2)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call an app function (e.g. functions.shop.stock_of) on the host's loop."""
        return self.host.run(fn, *args)


@pytest.fixture(scope="module")
def app_overrides() -> dict[str, str]:
    """Settings the module's `app` runs with on top of `app_settings`: none here; a module
    overrides this fixture to run the app otherwise (e.g. with functions turned off)."""
    return {}


@pytest.fixture(scope="module")
def app(
    azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint, app_overrides: dict[str, str]
) -> Iterator[JobsApp]:
    settings = {**app_settings(azurite, app_servicebus), **app_overrides}
    with running_host(REPO, settings=settings) as host:
        yield JobsApp(host)


def eventually(probe: Callable[[], T | None], what: str, *, timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something true; that. AssertionError naming `what`
    when it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last seen: {found!r})")
        time.sleep(0.2)


def stays(probe: Callable[[], bool], what: str, *, seconds: float) -> None:
    """Poll `probe` for `seconds`: it must hold every time (AssertionError naming `what` as
    soon as it does not). For what must not happen, checked over the time it would take."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not probe():
            raise AssertionError(f"{what}: no longer so after {time.monotonic() - start:.1f}s")
        time.sleep(0.2)


@pytest.fixture
def unique() -> str:
    """A short name no other test uses (customers, SKUs, blobs)."""
    return uuid.uuid4().hex[:10]
