"""Which Python runs the app, and in how many processes (host side).

The interpreter: `languageWorkers__python__defaultExecutablePath` when set (the real host's
setting for the Python worker's executable, H `Workers/Rpc/Configuration/
RpcWorkerConfigFactory.cs` reads `languageWorkers:python:defaultExecutablePath`), else the
app folder's `.venv` or `venv`, else the activated `VIRTUAL_ENV`, else funchost's own.

Arguments for that interpreter: `languageWorkers__python__arguments` (the real host's
`WorkerDescriptionArguments`), for example `-m debugpy --listen 127.0.0.1:5678` to attach
VS Code's debugger to the worker, as Core Tools users do.

The count: `FUNCTIONS_WORKER_PROCESS_COUNT`, 1 when unset or below 1, at most 10 (H
`RpcWorkerConfigFactory.GetWorkerProcessCount`: "ProcessCount must not be greater than
MaxProcessCount"; `WorkerProcessCountOptions.MaxProcessCount` is 10).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from funchost.errors import ConfigError

EXECUTABLE_SETTING = "languageWorkers__python__defaultExecutablePath"
ARGUMENTS_SETTING = "languageWorkers__python__arguments"
COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESSES = 10
_BIN = "Scripts" if os.name == "nt" else "bin"
_EXE = "python.exe" if os.name == "nt" else "python"


@dataclass(frozen=True)
class Interpreter:
    """The app's Python, where that choice came from (for the start-up line), and the
    arguments it gets before the worker's module."""

    path: Path
    origin: str
    arguments: tuple[str, ...] = ()


def app_interpreter(app_dir: Path, environ: Mapping[str, str]) -> Interpreter:
    """Raises ConfigError when the setting names no executable file. Settings are read
    case-insensitively, as .NET configuration keys are."""
    found = _chosen(app_dir, environ)
    raw = _setting(environ, ARGUMENTS_SETTING)
    try:
        arguments = tuple(shlex.split(raw))
    except ValueError as exc:
        raise ConfigError(f"{ARGUMENTS_SETTING}: {raw!r} cannot be split ({exc})") from None
    return Interpreter(found.path, found.origin, arguments)


def _setting(environ: Mapping[str, str], name: str) -> str:
    low = name.lower()
    return next((v.strip() for k, v in environ.items() if k.lower() == low), "")


def _chosen(app_dir: Path, environ: Mapping[str, str]) -> Interpreter:
    setting = _setting(environ, EXECUTABLE_SETTING)
    if setting:
        path = Path(setting).expanduser()
        if not path.is_absolute():
            path = app_dir / path
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"{EXECUTABLE_SETTING}: {setting} is not an executable file")
        return Interpreter(path, EXECUTABLE_SETTING)
    for name in (".venv", "venv"):
        path = app_dir / name / _BIN / _EXE
        if path.is_file():
            return Interpreter(path, f"the app's {name}")
    active = environ.get("VIRTUAL_ENV", "").strip()
    if active and (Path(active) / _BIN / _EXE).is_file():
        return Interpreter(Path(active) / _BIN / _EXE, "the activated VIRTUAL_ENV")
    return Interpreter(Path(sys.executable), "funchost's own")


def process_count(environ: Mapping[str, str]) -> int:
    raw = environ.get(COUNT_SETTING, "").strip()
    if not raw:
        return 1
    try:
        count = int(raw)
    except ValueError:
        raise ConfigError(f"{COUNT_SETTING}: {raw!r} is not a whole number") from None
    if count > MAX_PROCESSES:
        raise ConfigError(
            f"{COUNT_SETTING}: {count} is more than the host's maximum of {MAX_PROCESSES} "
            "worker processes"
        )
    return max(count, 1)
