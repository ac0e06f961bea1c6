"""`funchost invoke NAME --input TEXT`: run a non-HTTP function now, in the running host.

It sends `POST /admin/functions/{name}` with `{"input": TEXT}` to the host (`funchost dev`
or `start`, at --url, else localhost on the app's port), as the portal's Test/Run and Core
Tools' documentation do it (semantics §6.6). Through the running host, not in a process of
its own, on purpose: the function then runs with that host's connections, bindings, retry
policy and settlement, its log lines appear in that host's console with the others, and no
second copy of the app (with its timers and listeners) starts beside it. The host answers
202 at once and runs the function in the background, so this command cannot report the
outcome: the host's console does. The master key is sent only when the host asks for it
(401), read as `funchost keys` reads it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import click

from funchost.cli.common import app_options, fail, prepare, state_option
from funchost.cli.options import resolve_port
from funchost.config.hostid import host_id as compute_host_id
from funchost.core.clients import ClientCache
from funchost.http.keys import open_key_manager

TIMEOUT = 30.0


def _post(url: str, body: bytes, key: str | None) -> tuple[int, str]:
    headers = {"content-type": "application/json"}
    if key:
        headers["x-functions-key"] = key
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _master_key(app_dir: Path) -> str:
    manager_env = os.environ
    clients = ClientCache(manager_env)
    host_id = compute_host_id(manager_env, str(app_dir))
    manager = open_key_manager(app_dir, manager_env, clients, host_id, "cli")

    async def read() -> str:
        try:
            return (await manager.host_keys()).master.value
        finally:
            await clients.aclose()

    try:
        return anyio.run(read)
    except Exception as exc:  # noqa: BLE001 - storage unreachable, bad credentials, ...
        fail(f"the host wants the master key, and it cannot be read: {exc}")


def _detail(text: str) -> str:
    try:
        return str(json.loads(text).get("detail") or text)
    except (ValueError, AttributeError):
        return text.strip() or "(no body)"


@click.command()
@click.argument("name")
@click.option(
    "--input",
    "input_",
    default="",
    help="The trigger's input: a queue message's "
    "body, a blob's container/path, a Service Bus message's body; a timer ignores it.",
)
@click.option("--url", default=None, help="The running host (default: http://localhost:<port>).")
@click.option(
    "--port",
    "-p",
    type=int,
    default=None,
    help="The host's port (default: Host.LocalHttpPort, else 7071).",
)
@state_option
@app_options
def invoke(
    name: str,
    input_: str,
    url: str | None,
    port: int | None,
    state_dir: Path | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """Run function NAME now in the running host (POST /admin/functions/NAME)."""
    prepared = prepare(app_dir, only, state=state_dir, load=False)
    base = url or f"http://localhost:{resolve_port(port, os.environ, prepared.settings.http_port)}"
    target = f"{base.rstrip('/')}/admin/functions/{name}"
    body = json.dumps({"input": input_}).encode("utf-8")
    try:
        status, text = _post(target, body, None)
        if status == 401:
            status, text = _post(target, body, _master_key(prepared.config.app_dir))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(
            f"no host answers at {base} ({reason}): start it with `funchost dev` (or "
            f"`funchost start`), or give --url / --port"
        )
    if status == 202:
        click.echo(
            f"Accepted: '{name}' runs now in the host at {base}; its log lines and outcome "
            f"appear in that host's console."
        )
        return
    if status == 404:
        fail(f"{_detail(text)} (the host at {base}; `funchost list` lists the app's functions)")
    fail(f"the host at {base} answered {status}: {_detail(text)}")
