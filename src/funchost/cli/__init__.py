"""The `funchost` command: start, dev, list, keys, invoke, poison, new, init.

The only room that touches process state (environment, logging set-up, signals, the event
loop); it may import every other room. `main` checks the Python version before anything
that needs a newer one is imported.
"""

from __future__ import annotations

from funchost.cli.pyversion import require_python


def main() -> None:
    require_python()
    from funchost.cli.commands import cli

    cli(prog_name="funchost")
