"""The one-line notes printed before "Host started": whether keys are enforced, what is
ignored on purpose, and anything about this Python or the app folder worth knowing."""

from __future__ import annotations

import click

from funchost.cli.common import Prepared
from funchost.cli.pyversion import azure_python_warning
from funchost.cli.state import OLD_STATE_FOLDER
from funchost.config.jsonfile import read_json_object
from funchost.core.unsupported import unsupported_host_settings
from funchost.errors import HostError
from funchost.host import HostOptions


def keys_note(options: HostOptions, command: str) -> str:
    """Whether function keys are enforced, and how to change it (issue 17 item 1)."""
    if options.auth:
        return (
            "Function keys are enforced, as on Azure: send one in the x-functions-key "
            "header or ?code= (`funchost keys` prints them)."
            + (" Without --auth they are not, as with `func start`." if command == "dev" else "")
        )
    if command == "dev":
        return (
            "Function keys are not enforced (as with `func start`): requests need no key. "
            "`funchost dev --auth` enforces them as Azure does."
        )
    return "Function keys are not enforced (--no-auth); without it they are, as on Azure."


def _warning(text: str) -> str:
    return click.style("Warning: ", fg="yellow") + text


def start_notes(prepared: Prepared, options: HostOptions, *, command: str) -> list[str]:
    notes = [keys_note(options, command)]
    python = azure_python_warning()
    if python:
        notes.append(_warning(python))
    host_json = prepared.config.app_dir / "host.json"
    try:
        raw = read_json_object(host_json) if host_json.exists() else {}
    except HostError:
        raw = {}  # HostConfig.load read it already; nothing new to say
    notes += [_warning(f"not supported: {line}") for line in unsupported_host_settings(raw)]
    old = prepared.config.app_dir / OLD_STATE_FOLDER
    if command == "dev" and old.is_dir():
        notes.append(
            _warning(
                f"{old} is no longer used (local state now lives in {prepared.state}); "
                f"delete it, so it is not published with the app."
            )
        )
    return notes
