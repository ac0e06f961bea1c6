"""The `funchost` command as a user runs it: a process, a clean environment, its output.

`DevProcess` runs `funchost dev` on free ports (the host's, Azurite's and the emulator's,
so tests never meet each other or a developer's `make run`), with the per-user data folder
in the test's own temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from funchost.devservices.azurite import find_azurite
from funchost.devservices.process import ServiceProcess

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"
READY = r"Host started in \d+ms on http://localhost:(\d+)"


def clean_env(data_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without Functions settings, data under `data_home`, no
    colour (output is compared as text)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AzureWebJobs", "AzureFunctionsJobHost", "FUNCHOST_"))
        and k not in ("NO_COLOR", "AZURE_FUNCTIONS_ENVIRONMENT")
    }
    env.update({"XDG_DATA_HOME": str(data_home), "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funchost", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(env),
        cwd=cwd,
    )


def require_azurite() -> None:
    from tests.conftest import unavailable

    if find_azurite(REPO) is None:
        unavailable("Azurite is not installed (npm ci)")


class DevProcess(ServiceProcess):
    """`funchost dev` for `app` with everything on free ports, unless `args` say otherwise."""

    def __init__(
        self, app: Path, env: Mapping[str, str], args: Sequence[str] = (), cwd: Path | None = None
    ) -> None:
        defaults = {"--port": "0", "--azurite-ports": "0", "--servicebus-port": "0"}
        chosen = [a for a in defaults if a not in args]
        argv = [sys.executable, "-m", "funchost", "dev", "--app-dir", str(app)]
        argv += ["--host", "127.0.0.1", *[x for a in chosen for x in (a, defaults[a])], *args]
        super().__init__("funchost dev", argv, [READY], env=dict(env), cwd=cwd)
        self.port = 0

    def start(self, timeout: float = 60.0) -> list[str]:
        (port,) = super().start(timeout)
        self.port = int(port)
        return [port]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
