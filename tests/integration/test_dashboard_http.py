"""The dashboard's doors, below the browser: the master key is refused in an address and
checked on sign-in; the session cookie is HttpOnly, SameSite=Strict and scoped to the
dashboard; the live stream and the actions need the session, actions a same-origin
request; message bodies are escaped; a replay of something that is not there says so."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from funchost.testing import Harness
from shared.status import StatusStore
from tests.integration.dashboard_support import MASTER, dashboard_host

__all__ = ["dashboard_host"]  # the fixture, used by name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Host = tuple[Harness, StatusStore, dict[str, str]]


@contextlib.contextmanager
def _signed_in(harness: Harness) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=harness.url, timeout=30) as client:
        response = client.post("/admin/dashboard/session", headers={"x-functions-key": MASTER})
        assert response.status_code == 200, response.text
        yield client


def test_the_key_never_in_an_address(dashboard_host: Host) -> None:
    harness, _, _ = dashboard_host
    response = harness.get(f"/admin/dashboard?code={MASTER}")
    assert response.status_code == 400
    assert "Do not put the master key in the address" in response.json()["detail"]
    assert not any(MASTER in line for line in harness.logs)


def test_sign_in(dashboard_host: Host) -> None:
    harness, _, _ = dashboard_host
    page = harness.get("/admin/dashboard")
    assert page.status_code == 200 and 'id="master-key"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    wrong = harness.post("/admin/dashboard/session", headers={"x-functions-key": "nope"})
    assert wrong.status_code == 401 and "not the master key" in wrong.json()["detail"]
    missing = harness.post("/admin/dashboard/session")
    assert missing.status_code == 400 and "x-functions-key" in missing.json()["detail"]
    ok = harness.post("/admin/dashboard/session", headers={"x-functions-key": MASTER})
    cookie = ok.headers["set-cookie"].lower()
    assert ok.status_code == 200 and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/admin/dashboard" in cookie and MASTER.lower() not in cookie


def test_the_stream_and_actions_need_the_session(dashboard_host: Host) -> None:
    harness, _, _ = dashboard_host
    assert harness.get("/admin/dashboard/events").status_code == 401
    run = harness.post("/admin/dashboard/actions/run", data={"function": "nightly"})
    assert run.status_code == 401
    with _signed_in(harness) as client:
        foreign = client.post(
            "/admin/dashboard/actions/run",
            data={"function": "nightly"},
            headers={"origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        with client.stream("GET", "/admin/dashboard/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            first = _first_update(events)
        assert first["id"] in {"header", "functions", "jobs", "queues", "timers"}


def _first_update(events: Any) -> dict[str, Any]:
    for line in events.iter_lines():
        if line.startswith("data: "):
            update: dict[str, Any] = json.loads(line[6:])
            return update
    raise AssertionError("the stream ended without an update")


def test_actions_say_what_is_wrong(dashboard_host: Host) -> None:
    harness, _, _ = dashboard_host
    with _signed_in(harness) as client:
        unknown = client.post("/admin/dashboard/actions/replay", data={"source": "queue:nope"})
        assert unknown.status_code == 404
        assert "No poison or dead-letter source 'queue:nope'" in unknown.json()["detail"]
        gone = client.post(
            "/admin/dashboard/actions/purge",
            data={"source": "servicebus:dashboard-dlq", "message": "not-there"},
        )
        assert gone.status_code == 409 and "no message 'not-there'" in gone.json()["detail"]
        http = client.post("/admin/dashboard/actions/run", data={"function": "hello"})
        assert http.status_code == 409 and "cannot be run from here" in http.json()["detail"]


def test_message_bodies_are_escaped(dashboard_host: Host) -> None:
    harness, _, _ = dashboard_host
    harness.send_servicebus("dashboard-dlq", "<script>alert(1)</script>")
    harness.wait_for("bus_worker")
    with _signed_in(harness) as client:
        for _ in range(50):
            page = client.get("/admin/dashboard").text
            if "alert(1)" in page:
                break
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert" not in page
        client.post("/admin/dashboard/actions/purge", data={"source": "servicebus:dashboard-dlq"})
