"""Loading apps as a user meets it: loud, precise errors; the good functions still run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.hostprocess import APPS, HostProcess

pytestmark = pytest.mark.integration


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "funchost", *args], capture_output=True,
                          text=True, timeout=60)


def test_app_that_cannot_import_fails_with_file_line_and_error() -> None:
    out = run_cli("start", "--app-dir", str(APPS / "broken_import"), "--port", "0",
                  "--host", "127.0.0.1", "--no-auth")
    assert out.returncode == 1
    script = APPS / "broken_import" / "function_app.py"
    assert f"{script}:5: cannot import the app: KeyError: 'missing'" in out.stderr


def test_list_reports_each_bad_function_and_keeps_the_good_ones() -> None:
    out = run_cli("list", "--json", "--app-dir", str(APPS / "partial"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = {f["name"] for f in data["functions"]}
    assert {"good", "from_blueprint"} <= names
    errors = {e["name"]: e["error"] for e in data["errors"]}
    assert "extra_param" in errors and "these parameters have no binding: id" in errors["extra_param"]


@pytest.fixture(scope="module")
def partial_host() -> Iterator[HostProcess]:
    proc = HostProcess("partial", args=["--no-auth"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_partial_app_serves_good_functions_and_names_the_broken(partial_host: HostProcess) -> None:
    out = partial_host.output()
    assert "extra_param: error: these parameters have no binding: id" in out
    assert "reserved: error: route 'admin/mine' conflicts with the host's built-in routes" in out
    assert "bad_constraint: error: route 'bad/{id:nosuchconstraint}': unknown route " \
           "constraint 'nosuchconstraint'" in out
    assert "hub: error: no trigger plug-in for 'eventHubTrigger'" in out
    with httpx.Client(base_url=partial_host.url) as c:
        assert c.get("/api/good").text == "still here"
        assert c.get("/api/from-blueprint").text == "blueprint"
        status = c.get("/admin/host/status").json()
    assert any("extra_param" in e for e in status["errors"])
    assert any("hub" in e for e in status["errors"])


def test_functions_filter_loads_only_named(tmp_path: object) -> None:
    out = run_cli("list", "--json", "--app-dir", str(APPS / "partial"), "--functions", "good")
    data = json.loads(out.stdout)
    assert [f["name"] for f in data["functions"]] == ["good"] and data["errors"] == []


@pytest.mark.parametrize("app,path,expected", [
    ("asgi_app", "/api/widgets/w1?q=x", {"path": "/api/widgets/w1", "id": "w1", "q": "x"}),
])
def test_asgi_function_app(app: str, path: str, expected: dict[str, str]) -> None:
    proc = HostProcess(app, args=["--no-auth"])
    proc.start()
    try:
        r = httpx.get(proc.url + path)
        assert r.status_code == 200 and r.json() == expected
    finally:
        proc.stop()


def test_wsgi_function_app() -> None:
    proc = HostProcess("wsgi_app", args=["--no-auth"])
    proc.start()
    try:
        r = httpx.post(proc.url + "/api/anything/here?x=1")
        assert r.status_code == 200 and r.text == "POST /api/anything/here?x=1"
    finally:
        proc.stop()
