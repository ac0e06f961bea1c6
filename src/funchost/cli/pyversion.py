"""The Python version check (issue 17 item 7). Nothing here needs more than Python 3.7
(annotations stay strings), so an old interpreter gets this message, not a syntax error."""

from __future__ import annotations

import sys
from collections.abc import Sequence

MINIMUM = (3, 10)
# The versions Azure Functions runs Python apps on, as Core Tools checks them
# (CT `Helpers/PythonHelpers.cs` `IsVersionSupported`), from funchost's minimum on.
AZURE_FUNCTIONS = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))


def _text(version: Sequence[object]) -> str:
    return ".".join(str(part) for part in tuple(version)[:3])


def require_python(version: Sequence[int] | None = None) -> None:
    """Exit with code 1 and a clear message on a Python older than funchost needs."""
    found = tuple(version or sys.version_info)
    if found[:2] >= MINIMUM:
        return
    sys.stderr.write(
        "error: funchost needs Python 3.10 or newer; this is Python "
        + _text(found)
        + " ("
        + sys.executable
        + "). Create the app's virtual environment with a Python Azure Functions runs "
        "(3.10 to 3.14), for example `python3.12 -m venv .venv`, and install funchost "
        "into it.\n"
    )
    sys.exit(1)


def azure_python_warning(version: Sequence[int] | None = None) -> str | None:
    """A warning when this Python is not one Azure Functions runs, else None."""
    found = tuple(version or sys.version_info)
    if found[:2] in AZURE_FUNCTIONS:
        return None
    return (
        "Python "
        + _text(found)
        + " is not a version Azure Functions runs (3.10 to 3.14): the app may behave "
        "differently there, or not deploy; use one of those for the app's environment."
    )
