"""`funchost invoke NAME --input TEXT` against a running `funchost start` process: the input
reaches the function (through the admin API, with the master key read where the host keeps
it); a function that does not exist, an HTTP function and an unreachable host are errors
that say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hostprocess import HostProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

APP = """
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="msg", queue_name="invoke-cli-never-sent", connection="AzureWebJobsStorage")
def echo(msg: func.QueueMessage) -> None:
    logging.info("echo got %s", msg.get_body().decode())


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
"""


@pytest.fixture
def running(tmp_path: Path, storage_connection_string: str) -> Iterator[tuple[HostProcess, Path]]:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    (tmp_path / "function_app.py").write_text(APP)
    proc = HostProcess(tmp_path, env={"AzureWebJobsStorage": storage_connection_string})
    proc.start()
    try:
        yield proc, tmp_path
    finally:
        proc.stop()


def invoke(app: Path, storage: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AzureWebJobs")}
    env["AzureWebJobsStorage"] = storage
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    argv = [sys.executable, "-m", "funchost", "invoke", *args, "--app-dir", str(app)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_the_input_reaches_the_function(
    running: tuple[HostProcess, Path], storage_connection_string: str
) -> None:
    proc, app = running
    done = invoke(app, storage_connection_string, "echo", "--input", "hi there", "--url", proc.url)
    assert done.returncode == 0, done.stderr
    assert proc.wait_for_output(r"echo got hi there", timeout=15)
    assert "programmatically called via the host APIs" in proc.output()


@pytest.mark.parametrize(
    ("name", "said"),
    [("nosuch", "answered 404: No function named 'nosuch'"), ("hello", "is an HTTP function")],
)
def test_what_cannot_run_is_named(
    running: tuple[HostProcess, Path], storage_connection_string: str, name: str, said: str
) -> None:
    proc, app = running
    done = invoke(app, storage_connection_string, name, "--url", proc.url)
    assert done.returncode == 1 and said in done.stderr


def test_an_unreachable_host(tmp_path: Path, storage_connection_string: str) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    done = invoke(tmp_path, storage_connection_string, "echo", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1 and "cannot reach the host at http://127.0.0.1:9" in done.stderr
