"""Start `funchost start` as a real process on a free port, as a user would."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from funchost.devservices.process import ServiceProcess

APPS = Path(__file__).resolve().parent / "apps"
READY = r"Host started in \d+ms on http://localhost:(\d+)"


class HostProcess(ServiceProcess):
    def __init__(self, app: str | Path, *, env: Mapping[str, str] | None = None,
                 args: Sequence[str] = ()) -> None:
        app_dir = Path(app) if Path(app).is_absolute() else APPS / app
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("AzureWebJobs", "AzureFunctionsJobHost"))}
        environ.update(env or {})
        environ["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "funchost", "start", "--app-dir", str(app_dir),
                "--host", "127.0.0.1", "--port", "0", *args]
        super().__init__("funchost", argv, [READY], env=environ)
        self.port = 0

    def start(self, timeout: float = 30.0) -> list[str]:
        (port,) = super().start(timeout)
        self.port = int(port)
        return [port]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
