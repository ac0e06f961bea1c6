"""`funchost init [FOLDER]`: a new Python v2 app, as `func init --worker-runtime python`
makes one (issue 17 item 7): host.json, local.settings.json, requirements.txt,
.funcignore, .gitignore and function_app.py. Files already there are kept."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from funchost.cli.scaffold import template

# File written -> its template (dot files and settings files are stored under other names,
# so this project's own ignore rules do not drop them from the package).
FILES = {
    "host.json": "host.json.tmpl",
    "local.settings.json": "local.settings.json.tmpl",
    "requirements.txt": "requirements.txt.tmpl",
    ".funcignore": "funcignore.tmpl",
    ".gitignore": "gitignore.tmpl",
    "function_app.py": "function_app.py.tmpl",
}


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path())
def init(folder: Path) -> None:
    """Create a Python v2 function app in FOLDER (default: here)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in FILES.items():
        path = folder / name
        if path.exists():
            click.echo(f"kept     {path} (exists)")
            continue
        path.write_text(template(source), "utf-8")
        click.echo(f"created  {path}")
    where = "" if folder.resolve() == Path.cwd() else f"cd {folder}\n      "
    # funchost imports the app in its own process: the app's requirements go where it runs.
    click.echo(
        f"\nNext: {where}{sys.executable} -m pip install -r requirements.txt\n"
        "      funchost new http hello     # or queue, blob, timer, servicebus-queue, ...\n"
        "      funchost dev                # Azurite and the Service Bus emulator, then the host"
    )
