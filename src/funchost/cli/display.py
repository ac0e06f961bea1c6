"""The start-up listing, in the shape `func start` prints it (semantics §9), and a summary
that says how many functions run and why the others do not (issue 17 item 5)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import click

from funchost.core import logs
from funchost.core.unsupported import UnsupportedFunction
from funchost.host import Host

log = logging.getLogger("funchost.host")


def _unsupported(reason: str) -> str:
    return click.style("not supported: ", fg="yellow") + reason.removeprefix("not supported: ")


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
    for error in host.app.errors:
        if isinstance(error, UnsupportedFunction):
            lines.append(f"{error.function}: " + _unsupported(error.reason))
        else:
            lines.append(click.style(f"{error.function}: ", fg="red") + f"error: {error.reason}")
    return lines


@dataclass(frozen=True)
class Counts:
    running: int
    in_error: int
    unsupported: int
    disabled: int

    @classmethod
    def of(cls, host: Host) -> Counts:
        states = list(host.functions.values())
        unsupported = sum(isinstance(e, UnsupportedFunction) for e in host.app.errors)
        return cls(
            running=sum(not s.error and not s.spec.disabled for s in states),
            in_error=sum(bool(s.error) for s in states) + len(host.app.errors) - unsupported,
            unsupported=unsupported,
            disabled=sum(not s.error and s.spec.disabled for s in states),
        )

    @property
    def problems(self) -> int:
        return self.in_error + self.unsupported

    def text(self) -> str:
        parts = [f"{self.running} function{'' if self.running == 1 else 's'} running"]
        if self.in_error:
            parts.append(click.style(f"{self.in_error} in error", fg="red"))
        if self.unsupported:
            parts.append(click.style(f"{self.unsupported} not supported", fg="yellow"))
        if self.disabled:
            parts.append(f"{self.disabled} disabled")
        text = ", ".join(parts)
        return text + (" (the reasons are listed above)." if self.problems else ".")


def summary_lines(host: Host, *, restarts: bool = False) -> list[str]:
    """The app's load error when it has one, then the counts. `restarts`: the host
    restarts when the app's code changes (`--reload`)."""
    lines = []
    if host.app.error:
        lines.append(
            click.style("The app could not be loaded, so no function runs: ", fg="red")
            + host.app.error
        )
        fix = (
            "Fix the app: the host restarts when one of its Python files changes (--reload)"
            if restarts
            else "Fix the app and start again; with --strict the host exits instead"
        )
        lines.append(
            "The host runs on without functions, as Azure's does (routes answer 404; "
            f"GET /admin/host/status has the error). {fix}."
        )
    lines.append(Counts.of(host).text())
    return lines


def announce(
    host: Host, began: float, notes: Sequence[str] = (), *, restarts: bool = False
) -> None:
    """The listing, the summary, `notes` (one line each), then "Host started"; when logs
    are JSON (`--log-format json`) each of those lines is logged as a record instead, so
    stdout stays one JSON object per line. `restarts`: as for `summary_lines`."""
    base = f"http://localhost:{host.port}"
    lines = function_lines(host, base)
    summary = summary_lines(host, restarts=restarts)
    if logs.structured():
        for line in [*lines, *summary, *notes, _started(host, began, base)]:
            log.info("%s", click.unstyle(line))
        return
    click.echo("\nFunctions:\n" if lines or not host.app.error else "")
    for line in lines:
        click.echo(f"\t{line}\n")
    if not lines and not host.app.error:
        click.echo(
            click.style("\tNo functions found. ", fg="yellow")
            + f"Is {host.app.script.name} registering functions on its FunctionApp?\n"
        )
    for line in [*summary, *notes]:
        click.echo(line)
    click.echo(_started(host, began, base))


def _started(host: Host, began: float, base: str) -> str:
    # The notes above say where keys come from; the banner only says which way it is.
    auth = "keys enforced" if host.keys else "keys not enforced"
    return (
        f"Host started in {(time.monotonic() - began) * 1000:.0f}ms on {base} "
        f"(host id {host.host_id}; {auth})."
    )
