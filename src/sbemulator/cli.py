"""`sbemulator`: run the emulator until SIGTERM/SIGINT.

On ready it prints exactly one line `sbemulator listening on HOST:PORT` and then the
connection string, both flushed, so a parent process can wait for them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from proton.reactor import Container

from .amqp.message_parsing import parse_envelope
from .amqp.server import DEFAULT_MAX_MESSAGE_SIZE, AmqpServer
from .broker.namespace import Broker
from .broker.persistence import Journal, NullJournal, SqliteJournal
from .config.config_json import load_config, parse_config
from .config.model import EmulatorConfig, default_config
from .errors import ConfigError

log = logging.getLogger("sbemulator")

KEY = "SAS_KEY_VALUE"


def connection_string(host: str, port: int) -> str:
    # UseDevelopmentEmulator=true makes the SDK use plain TCP and keep the port.
    endpoint = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    return (
        f"Endpoint=sb://{endpoint}:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={KEY};UseDevelopmentEmulator=true;"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sbemulator",
        description="A Docker-free Azure Service "
        "Bus emulator for the official SDKs (AMQP 1.0, plain TCP).",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=5672,
        help="port (default 5672; 0 picks a free one, printed on the ready line)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="entities in the official emulator's "
        "Config.json shape (default: queue.1, queue.2, session.queue.1, topic.1 with "
        "subscription.1 and subscription.2)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="keep messages, session state and sequence "
        "numbers in DIR across restarts (default: in memory)",
    )
    p.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="NAME[:Key=Value,...]",
        help="declare a queue, e.g. orders:RequiresSession=true,LockDuration=PT30S (repeatable)",
    )
    p.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC:SUB[,SUB...]",
        help="declare a topic with TrueFilter subscriptions (repeatable)",
    )
    p.add_argument(
        "--auto-create",
        action="store_true",
        help="create a queue with default "
        "properties when a client uses an unknown name (off: unknown names fail "
        "with amqp:not-found, as in Azure)",
    )
    p.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help=f"bytes per message or batch (default {DEFAULT_MAX_MESSAGE_SIZE}, "
        "the standard tier's 256 KiB)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging on stderr")
    return p


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return int(text) if text.isdigit() else text


def cli_entities(queues: Sequence[str], topics: Sequence[str]) -> dict[str, Any]:
    """Command-line entities as a Config.json namespace (so they are validated alike)."""
    ns: dict[str, Any] = {"Name": "cli", "Queues": [], "Topics": []}
    for spec in queues:
        name, _, rest = spec.partition(":")
        props = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--queue {spec!r}: expected Key=Value, found {item!r}")
            props[key.strip()] = _value(value.strip())
        ns["Queues"].append({"Name": name, "Properties": props})
    for spec in topics:
        name, _, subs = spec.partition(":")
        ns["Topics"].append(
            {
                "Name": name,
                "Subscriptions": [{"Name": s.strip()} for s in subs.split(",") if s.strip()],
            }
        )
    return {"UserConfig": {"Namespaces": [ns]}}


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    config = load_config(args.config) if args.config else default_config()
    if args.queue or args.topic:
        extra = parse_config(cli_entities(args.queue, args.topic), "command line")
        config = config.with_entities(extra.queues, extra.topics)
        config = EmulatorConfig(
            config.namespace,
            config.queues,
            config.topics,
            config.source,
            config.warnings + extra.warnings,
        )
    return config


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pyamqp closes sockets right after `close`; proton then logs harmless BrokenPipe noise.
    logging.getLogger("proton").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _say(stream: TextIO, line: str) -> None:
    """One line for a person or a parent process, flushed at once. Not a log record: the
    ready lines are a protocol (parents wait for them on stdout, in exactly this form), and
    a startup error is the one line a user reads."""
    stream.write(line + "\n")
    stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        config = build_config(args)
    except ConfigError as exc:
        _say(sys.stderr, f"sbemulator: config error: {exc}")
        return 2
    for warning in config.warnings:
        log.warning("%s", warning)
    journal: Journal = NullJournal()
    if args.data_dir:
        sqlite_journal = SqliteJournal(args.data_dir)
        journal = sqlite_journal
    broker = Broker(config, journal=journal, auto_create=args.auto_create)
    if args.data_dir:
        restored = broker.restore(sqlite_journal.load(), parse_envelope, time.time())
        log.info("restored %d message(s) from %s", restored, sqlite_journal.path)
    server = AmqpServer(broker, max_message_size=args.max_message_size)
    container = Container(server)
    try:
        port = server.listen(container, args.host, args.port)
    except OSError as exc:
        _say(sys.stderr, f"sbemulator: cannot listen on {args.host}:{args.port}: {exc}")
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop_requested = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "entities from %s: %d queue(s), %d topic(s)",
        config.source,
        len(config.queues),
        len(config.topics),
    )
    _say(sys.stdout, f"sbemulator listening on {args.host}:{port}")
    _say(sys.stdout, connection_string(args.host, port))
    try:
        container.run()
    finally:
        journal.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
