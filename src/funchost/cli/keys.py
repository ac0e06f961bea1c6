"""`funchost keys`: the host and function keys, created if missing, where the host keeps
them (blob container azure-webjobs-secrets, or files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import click

from funchost.cli.common import app_options, fail, prepare, state_option
from funchost.config.hostid import host_id as compute_host_id
from funchost.core.clients import ClientCache
from funchost.http.keys import open_key_manager


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_option
@app_options
def keys(as_json: bool, state_dir: Path | None, app_dir: Path, only: str, verbose: bool) -> None:
    """Print the master key, host keys and each HTTP function's keys (what `funchost start`
    and `funchost dev --auth` check)."""
    # Indexed in the app's interpreter, as it will run.
    prepared = prepare(app_dir, only, state=state_dir, index_in_worker=True)
    clients = ClientCache(os.environ)
    host_id = compute_host_id(os.environ, str(prepared.config.app_dir))
    manager = open_key_manager(prepared.config.app_dir, os.environ, clients, host_id, "cli")
    http_functions = [
        s.name for s in prepared.app.functions if s.trigger.type.lower() == "httptrigger"
    ]

    async def read() -> dict[str, object]:
        try:
            host_keys = await manager.host_keys()
            functions = {name: await manager.function_keys(name) for name in http_functions}
        finally:
            await clients.aclose()
        return {
            "hostId": host_id,
            "masterKey": host_keys.master.value,
            "functionKeys": {k.name: k.value for k in host_keys.function_keys},
            "systemKeys": {k.name: k.value for k in host_keys.system_keys},
            "functions": {n: {k.name: k.value for k in ks} for n, ks in functions.items()},
        }

    try:
        result = anyio.run(read)
    except Exception as exc:  # noqa: BLE001 - storage unreachable, bad credentials, ...
        fail(f"cannot read or create keys: {exc}")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"Host id: {result['hostId']}")
    click.echo(f"Master key: {result['masterKey']}")
    for name, value in dict(result["functionKeys"]).items():  # type: ignore[call-overload]
        click.echo(f"Host function key '{name}': {value}")
    for fn, ks in dict(result["functions"]).items():  # type: ignore[call-overload]
        for name, value in ks.items():
            click.echo(f"{fn} key '{name}': {value}")
