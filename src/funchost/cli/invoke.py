"""`funchost invoke NAME --input TEXT`: run a non-HTTP function of a running host now, as
the portal's "Test/Run" does, through the admin API (`POST /admin/functions/{name}` with
the master key, read where the host keeps it). The host answers 202 and runs it in the
background; its console shows the outcome."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import click

from funchost.cli.common import app_options, fail, prepare
from funchost.cli.keys import key_manager
from funchost.cli.start import resolve_port


@click.command()
@click.argument("name")
@click.option("--input", "value", default=None, help="The trigger's input (text).")
@click.option(
    "--url", default=None, help="The host's base URL (default: http://localhost:<its port>)."
)
@click.option("--key", default=None, help="The master key (default: read as funchost keys).")
@app_options
def invoke(
    name: str,
    value: str | None,
    url: str | None,
    key: str | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """Run function NAME of the running host now, with --input as its trigger's input."""
    prepared = prepare(app_dir, only, load=False)
    base = url or f"http://localhost:{resolve_port(None, os.environ, prepared.settings.http_port)}"
    if key is None:
        clients, _, manager = key_manager(prepared)

        async def master() -> str:
            try:
                return str((await manager.host_keys()).master.value)
            finally:
                await clients.aclose()

        try:
            key = anyio.run(master)
        except Exception as exc:  # noqa: BLE001 - storage unreachable, bad credentials, ...
            fail(f"cannot read the master key: {exc} (or give it with --key)")
    request = urllib.request.Request(
        f"{base.rstrip('/')}/admin/functions/{name}",
        data=json.dumps({"input": value}).encode("utf-8"),
        method="POST",
        headers={"x-functions-key": key, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # a problem document's detail
            detail = json.loads(detail).get("detail") or detail
        fail(f"{name}: the host answered {exc.code}: {detail or exc.reason}")
    except OSError as exc:
        fail(f"cannot reach the host at {base} ({exc}); is it running? (--url)")
    click.echo(f"Started {name} on {base}; the host's console shows how it ends.")
