"""The rooms of funchost import one way (each package's docstring says what it may use):
plug-ins depend on the core, never the reverse; config and timer logic depend on nothing
of the host's runtime. Checked on every import statement, TYPE_CHECKING ones included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "funchost"

BASE = {"errors", "__init__"}  # funchost.errors and `from funchost import __version__`
ALLOWED: dict[str, set[str]] = {
    "config": BASE | {"config"},
    "timer": BASE | {"timer", "config"},
    "core": BASE | {"core", "config"},
    "storage": BASE | {"storage", "core", "config"},
    # The dashboard reads the storage and timer rooms' names and records (read-only).
    "ops": BASE | {"ops", "core", "config", "storage"},
    "http": BASE | {"http", "core", "config", "storage", "timer", "ops"},
    "triggers": BASE | {"triggers", "core", "config", "storage", "timer", "http"},
    "bindings": BASE | {"bindings", "core", "config", "storage", "http"},
    "devservices": BASE | {"devservices", "core", "config"},
    "workers": BASE | {"workers", "core", "config"},
    "host": BASE | {"core", "config", "storage", "http", "triggers", "bindings", "workers"},
}


def _room(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_rooms(path: Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "funchost" and len(parts) > 1:
                rooms.add(parts[1] if (SRC / parts[1]).exists() or parts[1] == "host" else "__init__")
    return rooms


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(SRC.rglob("*.py")) if _room(p) in ALLOWED],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_imports_go_one_way(path: Path) -> None:
    room = _room(path)
    wrong = _imported_rooms(path) - ALLOWED[room]
    assert not wrong, f"{path.relative_to(SRC)} ({room}/) imports {sorted(wrong)}"


def test_no_relative_imports_cross_rooms() -> None:
    relative = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 1
    ]
    assert relative == []


# What an app's interpreter has: the standard library and azure-functions (with werkzeug).
WORKER_SIDE = ("funchost.workers.worker", "funchost.workers.session")
HOST_ONLY = ("anyio", "starlette", "uvicorn", "httpx", "click", "dateutil", "sniffio", "azure")


def test_worker_side_needs_only_the_stdlib_and_azure_functions() -> None:
    """The modules a worker process imports in the app's interpreter pull in nothing of
    funchost's own dependencies (an app's venv has only azure-functions)."""
    code = (
        f"import sys\nfor m in {WORKER_SIDE!r}: __import__(m)\n"
        f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {HOST_ONLY!r}"
        " and not m.startswith('azure.functions') and m != 'azure'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
