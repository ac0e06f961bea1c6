"""The package's rooms import one way: amqp -> broker -> config (and all of them
`errors`). Checked on the source, so a stray import fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sbemulator

PACKAGE = Path(sbemulator.__file__).parent

# What each room may import from the package (besides itself), and what third-party
# packages it may import at all.
ALLOWED = {
    "config": {"errors"},
    "broker": {"config", "errors"},
    "amqp": {"broker", "config", "errors"},
    "admin": {"broker", "config", "errors"},
    "errors": set(),
}
NO_PROTON = {"config", "broker", "errors", "admin"}


def _room(module: str) -> str:
    """`sbemulator.broker.namespace` -> `broker`; `sbemulator.cli` -> `cli`."""
    return module.split(".")[1] if module.count(".") else ""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_rooms_import_one_way(path: Path) -> None:
    room = _room(_module_name(path))
    if room not in ALLOWED:
        return  # cli, __main__ and the package itself wire the rooms together
    imported = _imports(path)
    ours = {_room(m) for m in imported if m.startswith("sbemulator.")} - {room, ""}
    # `from . import x` inside a room names the room's own modules; harmless.
    assert ours <= ALLOWED[room], f"{path.name} in {room!r} imports {sorted(ours)}"
    if room in NO_PROTON:
        assert not any(m == "proton" or m.startswith("proton.") for m in imported), (
            f"{path.name} in {room!r} imports proton"
        )


def test_every_module_is_in_a_room() -> None:
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "cli.py", "errors.py"}
    for room in ("config", "broker", "amqp", "admin"):
        assert (PACKAGE / room / "__init__.py").read_text(encoding="utf-8").startswith('"""')
