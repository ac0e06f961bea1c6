"""Third-party triggers through the `funchost.triggers` entry-point group."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.hostprocess import HostProcess

pytestmark = pytest.mark.integration

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def test_entry_point_trigger_plugin_runs_its_function() -> None:
    # The plug-in's module and dist-info (with its entry point) are put on the path only
    # for this host process, as an installed package would be.
    path = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p)
    proc = HostProcess("plugin_app", env={"PYTHONPATH": path}, args=["--no-auth"])
    proc.start()
    try:
        assert "on_tick: tickTrigger" in proc.output()
        assert proc.wait_for_output(r"TICK 3", timeout=10)
        assert proc.wait_for_output(r"Executing 'Functions.on_tick' \(Reason='Tick 3'")
    finally:
        proc.stop()


def test_unknown_trigger_type_names_function_and_supported_types() -> None:
    proc = HostProcess("plugin_app", args=["--no-auth"])  # plug-in not installed
    proc.start()
    try:
        out = proc.output()
        assert "on_tick: error: no trigger plug-in for 'tickTrigger' (supported:" in out
        assert ("(supported: blobTrigger, httpTrigger, queueTrigger, serviceBusTrigger, "
                "timerTrigger)") in out
    finally:
        proc.stop()


def test_a_listener_that_crashes_twice_is_restarted_and_keeps_serving() -> None:
    # The plug-in's listener raises after it reported started, twice; the host logs each
    # crash, restarts it with backoff (never `started()` twice) and stays up.
    path = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p)
    proc = HostProcess("plugin_app", env={"PYTHONPATH": path}, args=["--no-auth"])
    proc.start()
    try:
        assert proc.wait_for_output(r"The listener for function 'crashy_tick' failed", timeout=10)
        # After the second crash the listener runs on: ticks 3, 4, ... follow.
        assert proc.wait_for_output(r"CRASHY 4", timeout=15)
        assert proc.output().count("The listener for function 'crashy_tick' failed") == 2
        assert "called 'started' twice" not in proc.output()
        assert httpx.get(f"{proc.url}/api/ping").text == "pong"
        assert proc.returncode is None
    finally:
        proc.stop()
