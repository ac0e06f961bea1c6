"""Third-party triggers through the `funchost.triggers` entry-point group.

Finding an installed plug-in is tested on a `funchost start` process whose PYTHONPATH
alone has the plug-in's dist-info, as an installed package would be; the rest runs
in-process on the test harness (the plug-in on sys.path for that test only).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest

from funchost.cli.display import function_lines
from funchost.testing import running_host
from tests.hostprocess import HostProcess
from tests.integration.harness_support import LogWatch

pytestmark = pytest.mark.integration

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
APP = Path(__file__).resolve().parents[1] / "apps" / "plugin_app"
UNKNOWN = (
    "no trigger plug-in for 'tickTrigger' (supported: blobTrigger, httpTrigger, "
    "queueTrigger, serviceBusTrigger, timerTrigger, warmupTrigger)"
)
CRASHED = r"^The listener for function 'crashy_tick' failed; restarting in \d+s"


def test_entry_point_trigger_plugin_runs_its_function() -> None:
    # The plug-in's module and dist-info (with its entry point) are put on the path only
    # for this host process, as an installed package would be.
    path = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p)
    proc = HostProcess("plugin_app", env={"PYTHONPATH": path}, args=["--no-auth"])
    proc.start()
    try:
        assert "on_tick: tickTrigger" in proc.output()
        assert proc.wait_for_output(r"TICK 3", timeout=30)
        assert proc.wait_for_output(r"Executing 'Functions.on_tick' \(Reason='Tick 3'")
        assert httpx.get(f"{proc.url}/api/ping", timeout=30).text == "pong"
    finally:
        proc.stop()


def test_unknown_trigger_type_names_function_and_supported_types() -> None:
    assert str(PLUGINS) not in sys.path
    with running_host(APP) as host:  # the plug-in is not installed here
        for name in ("on_tick", "crashy_tick"):
            assert host.host.functions[name].error == UNKNOWN
            assert f"The '{name}' function is in error: {UNKNOWN}" in host.logs
        listing = [click.unstyle(line) for line in function_lines(host.host, host.url)]
        assert f"on_tick: error: {UNKNOWN}" in listing
        assert host.get("/api/ping").text == "pong"  # the rest of the app runs


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plug-in's module and dist-info on sys.path for this test only (entry points
    are read from sys.path each time a host looks a trigger type up)."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    try:
        yield
    finally:
        sys.modules.pop("funchost_ticktrigger", None)


@pytest.mark.usefixtures("plugin_installed")
def test_a_listener_that_crashes_twice_is_restarted_and_keeps_serving() -> None:
    # The plug-in's listener raises after it reported started, twice; the host logs each
    # crash, restarts it with backoff (never `started()` twice) and stays up.
    with LogWatch().attached() as watch, running_host(APP) as host:
        crashes = watch.wait_for(CRASHED, 2)
        assert all("RuntimeError: tick listener crash" in line for line in crashes)
        # After the second crash the listener runs on: ticks 3, 4, ... follow.
        records = host.wait_for("crashy_tick", 4)
        assert [r.reason for r in records[:4]] == ["Tick 1", "Tick 2", "Tick 3", "Tick 4"]
        assert all(r.ok for r in records) and "CRASHY 4" in records[3].logs
        assert len(watch.matching(CRASHED)) == 2
        assert not watch.matching("called 'started' twice")
        assert host.get("/api/ping").text == "pong"
        assert host.host.state == "Running"
        assert host.invocations("on_tick")  # the other listener was never disturbed
