"""`funchost start --log-format json`: every line a JSON object a log collector can read,
with the level the console only shows as a colour, the logger, and the invocation's id and
function inside an invocation; a handled exception carries its traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostprocess import HostProcess

pytestmark = pytest.mark.integration

APP = (Path(__file__).resolve().parents[1] / "apps" / "fidelity_logs").resolve()


def _records(proc: HostProcess, until: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while until not in proc.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in proc.output().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # raises on a line that is not JSON


def test_every_line_is_a_json_record(storage_connection_string: str) -> None:
    proc = HostProcess(
        APP,
        env={"AzureWebJobsStorage": storage_connection_string},
        args=["--no-auth", "--log-format", "json"],
    )
    proc.start()
    try:
        assert httpx.get(f"{proc.url}/api/levels", timeout=30).status_code == 200
        assert httpx.get(f"{proc.url}/api/multiline", timeout=30).status_code == 200
        records = _records(proc, "Executed 'Functions.multiline'")
    finally:
        proc.stop()
    assert {"time", "level", "category", "message"} <= set(records[0])
    started = [r for r in records if r["message"].startswith("Host started in")]
    assert started and started[0]["level"] == "INFO" and "invocationId" not in started[0]
    levels = {r["message"]: r for r in records if r.get("functionName") == "levels"}
    assert levels["a warning line"]["level"] == "WARNING"
    assert levels["a critical line"]["level"] == "CRITICAL"
    assert levels["a named logger's line"]["category"] == "my.module"
    executing = next(m for m in levels if m.startswith("Executing 'Functions.levels'"))
    assert levels[executing]["invocationId"] in executing
    # In a worker process the traceback is part of the message, as the real worker formats
    # it; in process it is the record's exception.
    handled = next(r for r in records if r["message"].startswith("handled"))
    assert "KeyError: 'missing'" in handled.get("exception", handled["message"])
    assert next(r for r in records if r["message"] == "first\nsecond")  # one record, not two


def test_an_unknown_format_is_refused() -> None:
    proc = HostProcess(APP, args=["--log-format", "xml"])
    with pytest.raises(Exception, match="'xml' is not one of"):
        proc.start(timeout=15)
