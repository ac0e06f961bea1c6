"""The `funchost` command: start, dev, list, keys, poison, invoke.

The only room that touches process state (environment, logging set-up, signals, the event
loop); it may import every other room.
"""

from __future__ import annotations

import click

from funchost import __version__
from funchost.cli.dev import dev
from funchost.cli.invoke import invoke
from funchost.cli.keys import keys
from funchost.cli.list import list_functions
from funchost.cli.poison import poison
from funchost.cli.start import start


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="funchost")
def cli() -> None:
    """Run Azure Functions Python v2 apps without .NET, Core Tools or Docker."""


cli.add_command(start)
cli.add_command(dev)
cli.add_command(list_functions)
cli.add_command(keys)
cli.add_command(poison)
cli.add_command(invoke)


def main() -> None:
    cli(prog_name="funchost")
