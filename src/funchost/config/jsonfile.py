"""Reading the host's JSON files the way the real host does: comments allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError


def strip_comments(text: str) -> str:
    """Drop // and /* */ comments outside strings (Newtonsoft accepts them in host.json)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            # Keep newlines so error line numbers stay right.
            chunk = text[i:] if end < 0 else text[i : end + 2]
            out.append("\n" * chunk.count("\n"))
            i = n if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def read_json_object(path: Path) -> dict[str, Any]:
    """Parse `path` as a JSON object; errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        value = json.loads(strip_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: expected a JSON object at the top level, got {type(value).__name__}"
        )
    return value
