"""Third-party triggers through the `funchost.triggers` entry-point group."""

from __future__ import annotations

import os
from pathlib import Path

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
