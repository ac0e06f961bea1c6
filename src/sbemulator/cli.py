"""`sbemulator`: run the emulator until SIGTERM/SIGINT.

On ready it prints exactly one line `sbemulator listening on HOST:PORT` and then the
connection string, both flushed, so a parent process can wait for them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from proton.reactor import Container

from .admin.http_server import AdminServer
from .admin.resources import AdminApi
from .amqp.message_parsing import parse_envelope
from .amqp.server import DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, AmqpServer
from .broker.namespace import Broker
from .broker.persistence import Journal, NullJournal, SqliteJournal
from .config.config_json import load_config, parse_config
from .config.durations import parse_duration
from .config.model import EmulatorConfig, default_config
from .config.quotas import MIB, Quotas, check_quotas
from .config.sas import DEFAULT_KEY, DEFAULT_KEY_NAME, SharedAccessKey
from .errors import ConfigError

log = logging.getLogger("sbemulator")

KEY_NAME, KEY = DEFAULT_KEY_NAME, DEFAULT_KEY
DEFAULT_HTTP_PORT = 5300  # the official emulator's, beside its AMQP port:
OFFICIAL_AMQP_PORT = 5672


def connection_string(host: str, port: int) -> str:
    # UseDevelopmentEmulator=true makes the SDK use plain TCP and keep the port.
    endpoint = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    return (
        f"Endpoint=sb://{endpoint}:{port};SharedAccessKeyName={KEY_NAME};"
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
        "--http-port",
        metavar="PORT|off",
        help="port of the administration API and health check, HTTP and HTTPS on one port "
        "(default: $EMULATOR_HTTP_PORT, else 5300 with --port 5672 as the official emulator, "
        "else a free port; the port is logged on stderr before the ready line; off: none)",
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
    _limit_options(p)
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging on stderr")
    return p


def _limit_options(p: argparse.ArgumentParser) -> None:
    q = p.add_argument_group(
        "quotas",
        "The official emulator's, by default (learn.microsoft.com: Service Bus emulator, "
        "usage quotas), except --max-connections (the official emulator allows 10). A "
        "config file can set them too, under UserConfig.Quotas.",
    )
    q.add_argument("--max-entities", type=int, metavar="N", help="queues and topics (50)")
    q.add_argument(
        "--max-subscriptions-per-topic", type=int, metavar="N", help="subscriptions of a topic (50)"
    )
    q.add_argument(
        "--max-correlation-filters-per-topic",
        type=int,
        metavar="N",
        help="correlation filter rules of a topic's subscriptions (1000)",
    )
    q.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="AMQP connections at once (1000; the official emulator: 10)",
    )
    q.add_argument(
        "--max-receivers-per-entity",
        type=int,
        metavar="N",
        help="receivers of one queue or subscription at once (200)",
    )
    q.add_argument(
        "--max-message-size",
        type=int,
        metavar="BYTES",
        help="bytes per message or batch (262144, the standard tier's 256 KiB)",
    )
    q.add_argument(
        "--max-entity-size",
        type=int,
        metavar="MB",
        help="megabytes stored in a queue or topic (100)",
    )
    q.add_argument(
        "--max-message-ttl",
        type=_duration,
        metavar="DURATION",
        help="longest time to live, and every entity's default (PT1H)",
    )
    c = p.add_argument_group("connections")
    c.add_argument(
        "--handshake-timeout",
        type=float,
        default=DEFAULT_HANDSHAKE_TIMEOUT,
        metavar="SECONDS",
        help="close connections that have not opened by then "
        f"(default {DEFAULT_HANDSHAKE_TIMEOUT:g})",
    )
    c.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close connections silent this long; half of it is advertised in the AMQP "
        f"open (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    c.add_argument(
        "--require-key",
        action="store_true",
        help="check SAS tokens as Service Bus does: signed with the key of the printed "
        "connection string and unexpired, or the client gets an authentication error "
        "(off by default, like the official emulator)",
    )


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quotas(args: argparse.Namespace, config: EmulatorConfig) -> Quotas:
    """The config file's quotas with the command line's on top."""
    return config.quotas.merged(
        max_entities=args.max_entities,
        max_subscriptions_per_topic=args.max_subscriptions_per_topic,
        max_correlation_filters_per_topic=args.max_correlation_filters_per_topic,
        max_connections=args.max_connections,
        max_receivers_per_entity=args.max_receivers_per_entity,
        max_message_size=args.max_message_size,
        max_entity_size=args.max_entity_size * MIB if args.max_entity_size else None,
        max_message_ttl=args.max_message_ttl,
    )


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
    """The config file (or the built-in one), the command line's entities added, and
    the quotas checked.

    Raises:
        ConfigError: an invalid file or entity, or more entities than the quotas allow.
    """
    config = load_config(args.config) if args.config else default_config()
    if args.queue or args.topic:
        extra = parse_config(cli_entities(args.queue, args.topic), "command line")
        config = config.with_entities(extra.queues, extra.topics)
        config = replace(config, warnings=config.warnings + extra.warnings)
    quotas = _quotas(args, config)
    warnings = check_quotas(config, quotas)
    return replace(config, quotas=quotas, warnings=config.warnings + tuple(warnings))


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
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.http_port = _http_port(args)
    except ValueError:
        parser.error(f"--http-port / EMULATOR_HTTP_PORT: not a port: {args.http_port!r}")
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
    broker = Broker(config, journal=journal, auto_create=args.auto_create, now=time.time())
    if args.data_dir:
        restored = broker.restore(sqlite_journal.load(), parse_envelope, time.time())
        log.info("restored %d message(s) from %s", restored, sqlite_journal.path)
    try:
        return _serve(args, broker)
    finally:
        journal.close()


def _serve(args: argparse.Namespace, broker: Broker) -> int:
    config = broker.config
    server = AmqpServer(
        broker,
        max_message_size=config.quotas.max_message_size,
        max_connections=config.quotas.max_connections,
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
        key=SharedAccessKey(KEY_NAME, KEY) if args.require_key else None,
    )
    container = Container(server)
    try:
        port = server.listen(container, args.host, args.port)
    except OSError as exc:
        _say(sys.stderr, f"sbemulator: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    http_port = args.http_port
    admin = None
    if http_port is not None:
        api = AdminApi(broker, server.call, time.time, server.key)
        try:
            admin = AdminServer(api, args.host, http_port)
        except OSError as exc:
            _say(sys.stderr, f"sbemulator: cannot listen on {args.host}:{http_port}: {exc}")
            return 1
        admin.start()
        log.info(
            "administration API on http://%s:%d (HTTPS on the same port)", args.host, admin.port
        )

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
        if admin is not None:
            admin.stop()
    log.info("stopped")
    return 0


def _port_or_off(text: str) -> int | None:
    """Raises ValueError: neither a number nor "off"."""
    return None if text.strip().lower() == "off" else int(text)


def _http_port(args: argparse.Namespace) -> int | None:
    """The admin API's port: the option, else EMULATOR_HTTP_PORT (the official
    emulator's setting), else 5300 beside the official AMQP port 5672, and a free port
    beside any other (so emulators started on chosen ports do not collide on 5300).

    Raises:
        ValueError: a value that is neither a number nor "off".
    """
    text = args.http_port or os.environ.get("EMULATOR_HTTP_PORT")
    if text:
        return _port_or_off(text)
    return DEFAULT_HTTP_PORT if args.port == OFFICIAL_AMQP_PORT else 0


if __name__ == "__main__":
    sys.exit(main())
