"""Priority (high jobs overtake a backlog of normal ones) and the two roles the same code
is deployed as: the API app (HTTP functions) and the jobs app (the rest)."""

from __future__ import annotations

import pytest

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import running_host
from tests.app.conftest import API_FUNCTIONS, JobsApp, app_settings, stays
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint

pytestmark = pytest.mark.integration


def test_a_high_priority_job_overtakes_a_backlog_of_normal_ones(
    azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint
) -> None:
    settings = app_settings(azurite, app_servicebus)
    # The backlog: 20 normal jobs queued, then one high job, while no dispatcher runs.
    with running_host(REPO, settings=settings, functions=API_FUNCTIONS) as api_role:
        api = JobsApp(api_role)
        normal = [api.start("report", {"day": "2026-03-01"}) for _ in range(20)]
        high = api.start("report", {"day": "2026-03-01"}, priority="high")
        # Then the dispatcher, one message at a time per queue, so the backlog stays one.
        one_at_a_time = {
            **settings,
            "AzureFunctionsJobHost__extensions__queues__batchSize": "1",
            "AzureFunctionsJobHost__extensions__queues__newBatchThreshold": "0",
        }
        with running_host(REPO, settings=one_at_a_time, functions=("jobs_high", "jobs_normal")):
            finished_high = api.wait(high)["updated"]
            later = [j for j in normal if api.wait(j)["updated"] > finished_high]
    # Queued last, the high job finished before nearly all the backlog queued before it.
    assert len(later) >= 17, (len(later), finished_high)


def _disabled(names: tuple[str, ...]) -> dict[str, str]:
    return {f"AzureWebJobs.{name}.Disabled": "true" for name in names}


def test_the_api_role_accepts_jobs_and_the_jobs_role_runs_them(
    azurite: AzuriteEndpoints, app_servicebus: ServiceBusEndpoint
) -> None:
    settings = app_settings(azurite, app_servicebus)
    with running_host(REPO, settings=settings) as probe:
        everything = tuple(f.name for f in probe.app.functions)
    background = tuple(n for n in everything if n not in API_FUNCTIONS)
    http_only = tuple(n for n in API_FUNCTIONS if n != "health")
    with running_host(REPO, settings={**settings, **_disabled(background)}) as api_role:
        api = JobsApp(api_role)
        job_id = api.start("report", {"day": "2026-03-02"})
        stays(  # nothing here runs jobs
            lambda: api.status(job_id)["status"] == "Pending", "the job is Pending", seconds=3
        )
        assert api_role.invocations("jobs_normal") == []
        with running_host(REPO, settings={**settings, **_disabled(http_only)}) as jobs_role:
            assert jobs_role.get(f"/api/jobs/{job_id}").status_code == 404  # no job API here
            assert jobs_role.get("/api/health").status_code == 200
            final = api.wait(job_id)  # polled through the API app
            assert final["status"] == "Succeeded"
            assert len(jobs_role.invocations("jobs_normal")) == 1
