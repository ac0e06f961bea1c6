"""`funchost poison list|show|replay|purge`: the messages the app's triggers gave up on, in
storage poison queues (`<queue>-poison`), the blob trigger's `webjobs-blobtrigger-poison`
and Service Bus dead-letter queues; on funchost's own clients (`funchost.ops`), with the
app's local.settings.json connections.

A SOURCE is `queue:<name>`, `blob` or `servicebus:<queue>` (or
`servicebus:<topic>/Subscriptions/<subscription>`); `funchost poison list` without one
lists the sources of the app's triggers with their counts. A replay sends the stored body
back byte for byte and removes the message from the poison / dead-letter queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from funchost.cli.common import Prepared, app_options, fail, prepare
from funchost.cli.dev_servicebus import SERVICE_BUS_PORT, connection_string
from funchost.config.connections import resolve
from funchost.config.hostid import host_id as compute_host_id
from funchost.core.clients import ClientCache
from funchost.errors import HostError
from funchost.ops import sources
from funchost.ops.letters import Letter, LetterNotFound
from funchost.ops.tools import PoisonTool, poison_tool

T = TypeVar("T")
SOURCE_HELP = "queue:<name>, blob, servicebus:<queue> or servicebus:<topic>/Subscriptions/<sub>"


@click.group()
def poison() -> None:
    """List, show, replay and purge poison and dead-lettered messages."""


def _options(fn: Any) -> Any:
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)
    fn = click.option(
        "--connection",
        default=None,
        help="Connection setting name, for a SOURCE none of the app's triggers reads.",
    )(fn)
    return app_options(fn)


@poison.command("list")
@click.argument("source", required=False)
@click.option("--limit", default=32, show_default=True, help="Messages to list (at most 32).")
@_options
def list_letters(
    source: str | None,
    limit: int,
    as_json: bool,
    connection: str | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """The app's poison sources with their counts, or SOURCE's messages."""
    prepared = _prepared(app_dir, only)
    if source is None:
        _list_sources(prepared, as_json)
        return
    chosen = _source(prepared, source, connection)
    letters = _run(lambda clients: _tool(prepared, chosen, clients).list(limit))
    if as_json:
        click.echo(json.dumps({"source": chosen.name, "messages": [x.as_json() for x in letters]}))
        return
    if not letters:
        click.echo(f"{chosen.failed_entity} is empty.")
    for letter in letters:
        click.echo(_line(letter))


@poison.command()
@click.argument("source")
@click.argument("message_id")
@_options
def show(
    source: str,
    message_id: str,
    as_json: bool,
    connection: str | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    """One message of SOURCE's poison / dead-letter queue, with its whole body."""
    prepared = _prepared(app_dir, only)
    chosen = _source(prepared, source, connection)
    letter = _run(lambda clients: _tool(prepared, chosen, clients).show(message_id))
    if as_json:
        click.echo(json.dumps(letter.as_json(), indent=2))
        return
    click.echo(_line(letter))
    for key, value in letter.properties.items():
        click.echo(f"  {key}: {value}")
    click.echo(letter.text)


def _bulk_command(name: str, done: str) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        fn = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(fn)
        fn = click.option("--all", "every", is_flag=True, help=f"{name.title()} every message.")(fn)
        fn = click.argument("message_id", required=False)(fn)
        fn = click.argument("source")(fn)
        return poison.command(name, help=f"{done} MESSAGE_ID (or --all) of SOURCE.")(_options(fn))

    return decorate


def _prepared(app_dir: Path, only: str) -> Prepared:
    return prepare(app_dir, only, index_in_worker=True)  # in the app's interpreter, as it runs


def _confirmed(
    name: str,
    question: str,
    message_id: str | None,
    every: bool,
    ask: bool,
    source: str,
    connection: str | None,
    app_dir: Path,
    only: str,
) -> tuple[Prepared, sources.Source]:
    """The app and SOURCE for a replay or purge of MESSAGE_ID or --all (exactly one), once
    the user said yes to `question` (`{what}`: the message or every message; `{source}`)."""
    if (message_id is not None) == every:
        fail(f"{name}: give a MESSAGE_ID or --all (one of them)")
    prepared = _prepared(app_dir, only)
    chosen = _source(prepared, source, connection)
    what = f"message {message_id}" if message_id else "every message"
    if ask:
        click.confirm(question.format(what=what, source=chosen), abort=True)
    return prepared, chosen


@_bulk_command("replay", "Send back to the queue it came from, byte for byte,")
def replay(
    source: str,
    message_id: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
    connection: str | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    question = "Replay {what} of {source.failed_entity} to {source.entity}?"
    prepared, chosen = _confirmed(
        "replay",
        question,
        message_id,
        every,
        not (yes or as_json),
        source,
        connection,
        app_dir,
        only,
    )
    done = _run(lambda clients: _tool(prepared, chosen, clients).replay(message_id))
    if as_json:
        click.echo(json.dumps({"replayed": [r.as_json() for r in done]}, indent=2))
        return
    for r in done:
        click.echo(f"{r.message_id} -> {r.target} as {r.new_id}")
    click.echo(f"Replayed {len(done)} message(s).")


@_bulk_command("purge", "Delete")
def purge(
    source: str,
    message_id: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
    connection: str | None,
    app_dir: Path,
    only: str,
    verbose: bool,
) -> None:
    question = "Delete {what} of {source.failed_entity}? This cannot be undone."
    prepared, chosen = _confirmed(
        "purge",
        question,
        message_id,
        every,
        not (yes or as_json),
        source,
        connection,
        app_dir,
        only,
    )
    count = _run(lambda clients: _tool(prepared, chosen, clients).purge(message_id))
    if as_json:
        click.echo(json.dumps({"purged": count}))
        return
    click.echo(f"Purged {count} message(s).")


# -- helpers -------------------------------------------------------------------------------


def _list_sources(prepared: Prepared, as_json: bool) -> None:
    found = _app_sources(prepared)

    async def counts(clients: ClientCache) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for s in found:
            row: dict[str, Any] = {
                "source": s.name,
                "failedEntity": s.failed_entity,
                "functions": list(s.functions),
                "count": None,
            }
            if s.failed_entity is not None:
                row["count"] = await _tool(prepared, s, clients).count()
            rows.append(row)
        return rows

    rows = _run(counts)
    if as_json:
        click.echo(json.dumps({"sources": rows}, indent=2))
        return
    if not rows:
        click.echo("No queue, blob or Service Bus triggers in this app.")
    for row in rows:
        functions = ", ".join(row["functions"])
        if row["failedEntity"] is None:
            click.echo(f"{row['source']}: no poison queue of its own ({functions})")
        else:
            click.echo(f"{row['source']}: {row['count']} in {row['failedEntity']} ({functions})")


def _host_id(prepared: Prepared) -> str:
    return compute_host_id(os.environ, str(prepared.config.app_dir))


def _app_sources(prepared: Prepared) -> list[sources.Source]:
    return sources.of_functions(prepared.app.functions, os.environ, _host_id(prepared))


def _source(prepared: Prepared, name: str, connection: str | None) -> sources.Source:
    """SOURCE as the app's triggers read it (their connection), else as named."""
    try:
        parsed = sources.parse(name, _host_id(prepared), connection)
    except HostError as exc:
        fail(str(exc))
    for known in _app_sources(prepared):
        if known.name.lower() == parsed.name.lower() and connection is None:
            return known
    return parsed


def _tool(prepared: Prepared, source: sources.Source, clients: ClientCache) -> PoisonTool:
    if source.kind == "servicebus":
        _dev_emulator_if_unset(prepared, source.connection or "ServiceBus")
    return poison_tool(source, clients, prepared.config.queues.message_encoding)


def _dev_emulator_if_unset(prepared: Prepared, name: str) -> None:
    """An unset Service Bus connection means the emulator `funchost dev` runs (it points
    such connections at it: `funchost.cli.dev_servicebus`), so the same here."""
    if resolve(name, os.environ) is not None:
        return
    port = prepared.settings.servicebus_port or SERVICE_BUS_PORT
    setting = name if name.lower().startswith("azurewebjobs") else f"AzureWebJobs{name}"
    os.environ[setting] = connection_string(port)
    click.echo(
        f"note: connection '{name}' is not set; using the Service Bus emulator funchost dev "
        f"runs on localhost:{port}",
        err=True,
    )


def _run(work: Callable[[ClientCache], Awaitable[T]]) -> T:
    async def main() -> T:
        clients = ClientCache(os.environ)
        try:
            return await work(clients)
        finally:
            await clients.aclose()

    try:
        return anyio.run(main)
    except (HostError, LetterNotFound) as exc:
        fail(str(exc).strip("'\""))
    except Exception as exc:  # noqa: BLE001 - storage and broker errors end the command
        fail(f"{type(exc).__name__}: {exc}")


def _line(letter: Letter) -> str:
    parts = [letter.message_id]
    if letter.enqueued:
        parts.append(letter.enqueued.isoformat(timespec="seconds"))
    if letter.count is not None:
        parts.append(f"count {letter.count}")
    if letter.job_id:
        parts.append(f"job {letter.job_id}")
    if letter.reason:
        parts.append(letter.reason)
    return "  ".join(parts) + f"\n  {letter.preview}"
