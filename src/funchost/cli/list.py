"""`funchost list`: the functions, their triggers and bindings, without starting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from funchost.cli.common import app_options, prepare
from funchost.core.unsupported import UnsupportedFunction


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@app_options
def list_functions(as_json: bool, app_dir: Path, only: str, verbose: bool) -> None:
    """List the app's functions with their triggers and bindings."""
    prepared = prepare(app_dir, only, index_in_worker=True)  # in the app's interpreter
    app = prepared.app
    rows: list[dict[str, Any]] = [
        {
            "name": spec.name,
            "trigger": dict(spec.trigger.raw),
            "bindings": [dict(b.raw) for b in spec.bindings if b is not spec.trigger],
            "disabled": spec.disabled,
            "retry": None
            if spec.retry is None
            else {"strategy": spec.retry.strategy, "maxRetryCount": spec.retry.max_retry_count},
        }
        for spec in app.functions
    ]
    errors = [
        {"name": e.function, "error": e.reason, "supported": not isinstance(e, UnsupportedFunction)}
        for e in app.errors
    ]
    if as_json:
        click.echo(json.dumps({"functions": rows, "errors": errors}, indent=2))
        return
    for row in rows:
        trigger = row["trigger"]
        detail = ", ".join(
            f"{k}={v}" for k, v in trigger.items() if k not in ("name", "type", "direction")
        )
        click.echo(
            f"{row['name']}: {trigger['type']} ({detail})"
            + (" [disabled]" if row["disabled"] else "")
        )
        for b in row["bindings"]:
            click.echo(
                f"    {str(b.get('direction', '')).lower():>3} {b.get('type')} {b.get('name')}"
            )
    for err in errors:
        if err["supported"]:
            click.echo(click.style(f"{err['name']}: error: ", fg="red") + str(err["error"]))
        else:
            reason = str(err["error"]).removeprefix("not supported: ")
            click.echo(f"{err['name']}: " + click.style("not supported: ", fg="yellow") + reason)
