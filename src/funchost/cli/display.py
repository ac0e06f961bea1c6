"""The start-up listing, in the shape `func start` prints it (semantics §9)."""

from __future__ import annotations

import logging
import time

import click

from funchost.core import logs
from funchost.host import Host

log = logging.getLogger("funchost.host")


def function_lines(host: Host, base_url: str) -> list[str]:
    lines = []
    by_spec = {e.function.name: e for e in host.routes.entries}
    for state in host.functions.values():
        spec = state.spec
        if state.error:
            lines.append(click.style(f"{spec.name}: ", fg="red") + f"error: {state.error}")
            continue
        entry = by_spec.get(spec.name)
        if entry is not None:
            methods = ",".join(sorted(entry.methods)) if entry.methods else "*"
            text = f"{spec.name}: [{methods}] {host.routes.url_for(entry, base_url)}"
        else:
            text = f"{spec.name}: {spec.trigger.type}"
        if spec.disabled:
            text += " (disabled)"
        lines.append(text)
    lines.extend(
        click.style(f"{error.function}: ", fg="red") + f"error: {error.reason}"
        for error in host.app.errors
    )
    return lines


def announce(host: Host, began: float) -> None:
    """Print the listing, or, when logs are JSON (`--log-format json`), log each line of it
    as a record so that stdout stays one JSON object per line."""
    if logs.structured():
        base = f"http://localhost:{host.port}"
        for line in function_lines(host, base):
            log.info("Function %s", click.unstyle(line))
        log.info("%s", _started(host, began, base))
        return
    base = f"http://localhost:{host.port}"
    click.echo("\nFunctions:\n")
    lines = function_lines(host, base)
    for line in lines:
        click.echo(f"\t{line}\n")
    if not lines:
        click.echo(
            click.style("\tNo functions found. ", fg="yellow")
            + f"Is {host.app.script.name} registering functions on its FunctionApp?\n"
        )
    click.echo(_started(host, began, base))


def _started(host: Host, began: float, base: str) -> str:
    auth = "keys enforced (funchost keys prints them)" if host.keys else "keys not enforced"
    return (
        f"Host started in {(time.monotonic() - began) * 1000:.0f}ms on {base} "
        f"(host id {host.host_id}; {auth})."
    )
