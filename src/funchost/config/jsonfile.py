"""Reading the host's JSON files the way the real host does.

The real host parses host.json with Newtonsoft's `JObject.Parse` (H
`Config/HostJsonFileConfigurationSource.cs` `LoadHostConfig`), and Core Tools reads
local.settings.json with Newtonsoft too: comments, trailing commas in objects and arrays,
and single-quoted strings are accepted, and a repeated property keeps its last value. The
`json5` parser accepts the same, so a file that loads on Azure loads here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError

# json5 reports "<string>:LINE <what> at column COL".
_POSITION = re.compile(r"^<string>:(?P<line>\d+) (?P<what>.*?)(?: at column (?P<col>\d+))?$")


def read_json_object(path: Path) -> dict[str, Any]:
    """Parse `path` as a JSON object; errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    import json5  # here: a worker process (funchost.workers) unpickles config without it

    try:
        value = json5.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}:{_where(str(exc))}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: expected a JSON object at the top level, got {type(value).__name__}"
        )
    return value


def _where(message: str) -> str:
    """`LINE:COL: invalid JSON: what` from a json5 error message."""
    m = _POSITION.match(message.strip())
    if m is None:
        return f" invalid JSON: {message}"
    return f"{m['line']}:{m['col'] or 1}: invalid JSON: {m['what']}"
