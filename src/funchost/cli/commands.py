"""The command group, and colour only where it helps: on a terminal, unless NO_COLOR."""

from __future__ import annotations

import os

import click

from funchost import __version__
from funchost.cli.dev import dev
from funchost.cli.init import init
from funchost.cli.invoke import invoke
from funchost.cli.keys import keys
from funchost.cli.list import list_functions
from funchost.cli.new import new
from funchost.cli.poison import poison
from funchost.cli.start import start


def colour_wanted(environ: dict[str, str] | os._Environ[str]) -> bool | None:
    """False with NO_COLOR set to anything but empty (https://no-color.org); else None,
    which lets click colour a terminal and strip colour from pipes and files."""
    return False if environ.get("NO_COLOR") else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="funchost")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run Azure Functions Python v2 apps without .NET, Core Tools or Docker."""
    ctx.color = colour_wanted(os.environ)


cli.add_command(start)
cli.add_command(dev)
cli.add_command(list_functions)
cli.add_command(keys)
cli.add_command(invoke)
cli.add_command(poison)
cli.add_command(new)
cli.add_command(init)
