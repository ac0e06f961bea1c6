"""Loading apps as a user meets it: loud, precise errors; the good functions still run.

Hosts run in-process on the test harness, without storage (the apps are HTTP only). What
only the CLI shows stays on a process: `funchost start` of an app that cannot import (it
runs without functions and says why; with --strict, exit code 1 and file:line:error on
stderr) and the output of `funchost list`. No test here
needs Azurite; they are integration tests for the real hosts and processes they start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest

from funchost.cli.display import function_lines
from funchost.errors import AppLoadError
from funchost.testing import Harness, running_host
from tests.hostprocess import HostProcess

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parents[1] / "apps"
NO_BINDING = "these parameters have no binding: id"
RESERVED = "route 'admin/mine' conflicts with the host's built-in routes"
BAD_CONSTRAINT = "route 'bad/{id:nosuchconstraint}': unknown route constraint 'nosuchconstraint'"
UNSUPPORTED = "not supported: Event Hubs (eventHubTrigger): there is no Event Hubs trigger"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funchost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_app_that_cannot_import_exits_with_file_line_and_error_under_strict() -> None:
    out = run_cli(
        "start",
        "--app-dir",
        str(APPS / "broken_import"),
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--no-auth",
        "--strict",
    )
    assert out.returncode == 1
    script = APPS / "broken_import" / "function_app.py"
    assert f"{script}:5: cannot import the app: KeyError: 'missing'" in out.stderr
    assert "Host started" not in out.stdout


def test_app_that_cannot_import_runs_without_functions_like_the_real_host() -> None:
    """Issue 15 item 9; H `GrpcWorkerChannel.cs` `ProcessFunctionMetadataResponses` logs
    "Worker failed to index functions" and the host runs on with none: routes answer 404,
    `/admin/host/status` has the error (file, line, error), and it is logged."""
    script = APPS / "broken_import" / "function_app.py"
    precise = f"{script}:5: cannot import the app: KeyError: 'missing'"
    proc = HostProcess("broken_import", args=["--no-auth"])
    proc.start()
    try:
        assert httpx.get(f"{proc.url}/api/anything", timeout=30).status_code == 404
        status = httpx.get(f"{proc.url}/admin/host/status", timeout=30).json()
        assert status["state"] == "Running" and status["errors"] == [precise]
        out = proc.output()
        # Logged as func start prints a host error: "[time] message", no level word.
        assert f"] The app could not be loaded; no function will run: {precise}" in out
        assert f"The app could not be loaded, so no function runs: {precise}" in out
        assert "0 functions running." in out
    finally:
        proc.stop()


def test_app_that_cannot_import_raises_the_same_error_in_process() -> None:
    script = APPS / "broken_import" / "function_app.py"
    with pytest.raises(AppLoadError) as raised:
        Harness(APPS / "broken_import").start()
    assert str(raised.value) == f"{script}:5: cannot import the app: KeyError: 'missing'"


def test_list_reports_each_bad_function_and_keeps_the_good_ones() -> None:
    out = run_cli("list", "--json", "--app-dir", str(APPS / "partial"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = {f["name"] for f in data["functions"]}
    assert {"good", "from_blueprint"} <= names
    errors = {e["name"]: e["error"] for e in data["errors"]}
    assert "extra_param" in errors and NO_BINDING in errors["extra_param"]
    assert errors["hub"].startswith(UNSUPPORTED)
    assert {e["name"]: e["supported"] for e in data["errors"]} == {
        "extra_param": True,
        "hub": False,
    }
    text = run_cli("list", "--app-dir", str(APPS / "partial"))
    assert f"hub: {UNSUPPORTED}" in text.stdout


@pytest.fixture(scope="module")
def partial_host() -> Iterator[Harness]:
    with running_host(APPS / "partial") as harness:  # HTTP only: no storage needed
        yield harness


def test_partial_app_serves_good_functions_and_names_the_broken(partial_host: Harness) -> None:
    host = partial_host
    # Each broken function is named with its reason: one could not be indexed at load...
    # ...one uses a service funchost does not run, said plainly (issue 15 item 14)...
    reasons = {e.function: e.reason for e in host.app.errors}
    assert set(reasons) == {"extra_param", "hub"}
    assert reasons["extra_param"].startswith(NO_BINDING)
    assert reasons["hub"].startswith(UNSUPPORTED)
    # ...and two could not start; the good ones did.
    failed = {name: state.error for name, state in host.host.functions.items()}
    assert failed["good"] is None and failed["from_blueprint"] is None
    assert (failed["reserved"] or "").startswith(RESERVED)
    assert (failed["bad_constraint"] or "").startswith(BAD_CONSTRAINT)
    assert "hub" not in failed
    # The start-up listing (what `funchost start` prints) names each with its reason.
    listing = [click.unstyle(line) for line in function_lines(host.host, host.url)]
    for name, reason in [
        ("extra_param", NO_BINDING),
        ("reserved", RESERVED),
        ("bad_constraint", BAD_CONSTRAINT),
    ]:
        assert any(line.startswith(f"{name}: error: {reason}") for line in listing), name
    assert any(line.startswith(f"hub: {UNSUPPORTED}") for line in listing)
    assert f"good: [*] {host.url}/api/good" in listing

    assert host.get("/api/good").text == "still here"
    assert host.get("/api/from-blueprint").text == "blueprint"
    assert host.get("/api/bad/1").status_code == 404
    status = host.get("/admin/host/status").json()
    assert status["state"] == "Running"
    for name in ("extra_param", "reserved", "bad_constraint", "hub"):
        assert any(f"'{name}'" in e for e in status["errors"]), name


def test_functions_filter_loads_only_named() -> None:
    with running_host(APPS / "partial", functions=("good",)) as host:
        assert [f.name for f in host.app.functions] == ["good"] and host.app.errors == ()
        assert host.host.errors() == []
        assert host.get("/api/good").text == "still here"
        assert host.get("/api/from-blueprint").status_code == 404


def test_asgi_function_app() -> None:
    with running_host(APPS / "asgi_app") as host:
        r = host.get("/api/widgets/w1", params={"q": "x"})
        assert r.status_code == 200
        assert r.json() == {"path": "/api/widgets/w1", "id": "w1", "q": "x"}
        (record,) = host.wait_for("http_app_func")  # the one function AsgiFunctionApp makes
        assert record.ok


def test_an_asgi_apps_lifespan_ends_when_the_host_stops(tmp_path: Path) -> None:
    # The library ends it only in AsgiFunctionApp.__del__ with asyncio.run, which fails on a
    # thread running a loop; the host ends it on its own loop (funchost.core.lifespan).
    log = tmp_path / "lifespan.log"
    with running_host(APPS / "asgi_app", settings={"LIFESPAN_LOG": str(log)}) as host:
        assert host.get("/api/widgets/w1").status_code == 200
        assert log.read_text().split() == ["startup"]
    assert log.read_text().split() == ["startup", "shutdown"]


def test_wsgi_function_app() -> None:
    with running_host(APPS / "wsgi_app") as host:
        r = host.post("/api/anything/here?x=1")
        assert r.status_code == 200 and r.text == "POST /api/anything/here?x=1"
        (record,) = host.wait_for("http_app_func")
        assert record.ok
