"""Templates for `funchost new` and `funchost init`, and the edits they make to an app's
script: imports added where the imports are, functions appended, names checked first."""

from __future__ import annotations

import ast
import keyword
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from funchost.errors import HostError

TEMPLATES = resources.files("funchost.cli") / "templates"
FUNCTION_APP_TYPES = ("FunctionApp", "AsgiFunctionApp", "WsgiFunctionApp")


def template(file: str, /, **values: str) -> str:
    """The template's text with `$placeholders` filled in."""
    text = (TEMPLATES / file).read_text("utf-8")
    return string.Template(text).substitute(values)


def check_identifier(name: str, what: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise HostError(
            f"{what} '{name}' is not a Python identifier (letters, digits and _, not "
            f"starting with a digit, not a keyword)"
        )


@dataclass(frozen=True)
class Script:
    """An app script read for editing: its text and what ast finds at its top level."""

    path: Path
    text: str
    tree: ast.Module

    @classmethod
    def read(cls, path: Path) -> Script:
        if not path.is_file():
            raise HostError(
                f"{path}: no such file; create the app first (`funchost init`), or give --app-dir"
            )
        text = path.read_text("utf-8")
        try:
            tree = ast.parse(text, str(path))
        except SyntaxError as exc:
            raise HostError(f"{path}:{exc.lineno}: cannot add to it: {exc.msg}") from None
        return cls(path, text, tree)

    def app_name(self) -> str:
        """The module-level variable holding the FunctionApp (`app = func.FunctionApp()`)."""
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                called = node.value.func
                name = called.attr if isinstance(called, ast.Attribute) else None
                name = called.id if isinstance(called, ast.Name) else name
                target = node.targets[0]
                if name in FUNCTION_APP_TYPES and isinstance(target, ast.Name):
                    return target.id
        raise HostError(
            f"{self.path}: no `app = func.FunctionApp()` at module level to add functions "
            f"to; add one (or start from `funchost init`)"
        )

    def defined(self) -> set[str]:
        """Names bound at module level: functions, classes, assignments, imports."""
        names: set[str] = set()
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
        return names

    def imports(self) -> set[str]:
        """Import statements as written, normalised (`import azure.functions as func`)."""
        found: set[str] = set()
        for node in self.tree.body:
            if isinstance(node, ast.Import):
                found.update(
                    f"import {a.name}" + (f" as {a.asname}" if a.asname else "") for a in node.names
                )
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.update(
                    f"from {node.module} import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    for a in node.names
                )
        return found

    def with_imports(self, needed: list[str]) -> str:
        """The text with the missing `needed` import lines after the last top-level import
        (or after the docstring, or first)."""
        missing = [line for line in needed if line not in self.imports()]
        if not missing:
            return self.text
        lines = self.text.splitlines(keepends=True)
        imports = [n for n in self.tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if imports:
            at = max(n.end_lineno or n.lineno for n in imports)
        else:
            first = self.tree.body[0] if self.tree.body else None
            is_doc = (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            )
            at = (first.end_lineno or 0) if first is not None and is_doc else 0
        block = "".join(f"{line}\n" for line in missing)
        if at and lines and not lines[at - 1].endswith("\n"):
            block = "\n" + block
        return "".join(lines[:at]) + block + "".join(lines[at:])


def append(text: str, block: str) -> str:
    """`block` after `text`, separated by two blank lines as PEP 8 wants."""
    return text.rstrip("\n") + "\n\n\n" + block.strip("\n") + "\n"


def snake(text: str) -> str:
    """A function name as a route or queue name: `make_thumbnail` -> `make-thumbnail`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "items"
