"""Console logging in the shape `func start` prints (semantics §9).

`[2024-05-01T10:00:00.123Z] Executing 'Functions.x' (Reason='...', Id=...)`; user log records
each on their own line, as `[time] message` whatever their level. The invocation id lives
in a ContextVar that a Filter reads, so log records from user code (on the loop or in a
worker thread) carry it.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import logging
import logging.config
import os
import sys
import threading
import time
from typing import Any

from funchost.core.tracing import current_traceparent

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

current_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "funchost_invocation_id", default=None
)
current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "funchost_function", default=None
)


class InvocationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation_id = current_invocation.get() or ""
        record.function_name = current_function.get() or ""
        return True


# `func start` colours a line by its level on a terminal and prints no level word (CT
# `Common/OutputTheme.cs`: errors Red, warnings DarkYellow, information DarkCyan, debug
# DarkGreen, the timestamp DarkGray), as .NET renders those console colours in ANSI.
_RESET = "\x1b[0m"
_STAMP_COLOUR = "\x1b[90m"


def _colour(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "\x1b[91m"
    if levelno >= logging.WARNING:
        return "\x1b[33m"
    if levelno >= logging.INFO:
        return "\x1b[36m"
    return "\x1b[32m"


# The libraries under the host (their own loggers), whose faults are logged in one line.
_LIBRARIES = ("azure.", "uamqp", "proton", "uvicorn", "asyncio", "httpx", "httpcore")


class ConsoleFormatter(logging.Formatter):
    """`[UTC ISO time] message` on every line of a record, whatever its level: `func start`
    prints host lines and the worker's (user) lines alike, each line of a multi-line
    message with its own timestamp, and shows the level only as a colour on a terminal
    (CT `Diagnostics/ColoredConsoleLogger.cs` `LogToConsole`, `GetMessageString`; the
    worker sends a user's record as its message alone: PW `dispatcher.py` `on_logging`).

    Parameters:
        verbose: tracebacks of every record that carries one (`--verbose`).
        colour: colour each line by level (a terminal without NO_COLOR).
    """

    _second = -1
    _stamp = ""

    def __init__(self, verbose: bool = False, colour: bool = False) -> None:
        super().__init__()
        self.verbose = verbose
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not once a record
            self._second, self._stamp = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        prefix = f"[{self._stamp}.{int(record.msecs):03d}Z] "
        text = record.getMessage()
        if record.exc_info:
            text += self._exception(record)
        if self.colour:
            prefix = f"{_STAMP_COLOUR}{prefix}{_RESET}{_colour(record.levelno)}"
            return prefix + text.replace("\n", f"{_RESET}\n{prefix}") + _RESET
        if "\n" in text:
            return prefix + text.replace("\n", "\n" + prefix)
        return prefix + text

    def _exception(self, record: logging.LogRecord) -> str:
        # A record keeps its traceback, as the worker formats a user's record with its
        # exception into the message (logging's default formatter). But the SDKs and
        # servers the host runs on log their own faults with tracebacks (a dropped
        # connection while settling): one line for those, the traceback with --verbose.
        assert record.exc_info
        error = record.exc_info[1]
        if self.verbose or error is None or not record.name.startswith(_LIBRARIES):
            return "\n" + self.formatException(record.exc_info)
        return f" ({brief(error)})"


class JsonFormatter(logging.Formatter):
    """`--log-format json`: one JSON object per record, for log collectors. `time` (UTC ISO
    8601), `level` (Python's name), `category` (the logger), `message`; `invocationId` and
    `functionName` inside an invocation, `traceId` and `spanId` while its span is exported
    (the same ids the trace has), `exception` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{moment}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "category": record.name,
            "message": record.getMessage(),
        }
        invocation = getattr(record, "invocation_id", "")
        if invocation:
            entry["invocationId"] = invocation
            entry["functionName"] = getattr(record, "function_name", "")
        parent = current_traceparent.get()
        if parent:
            _, trace, span, _ = parent.split("-", 3)
            entry["traceId"], entry["spanId"] = trace, span
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


LOG_FORMATS = {"console": ConsoleFormatter, "json": JsonFormatter}


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record at once but flushes at most every 50 ms (from a daemon thread),
    and at once for warnings and errors: with two records per invocation, a flush (a
    system call) per record is a measurable share of a small request."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._dirty = threading.Event()
        threading.Thread(target=self._flusher, name="funchost-log-flush", daemon=True).start()
        atexit.register(self._flush_now)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self._flush_now()
        else:
            self._dirty.set()

    def flush(self) -> None:
        self._dirty.set()  # the flusher thread picks it up

    def _flush_now(self) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):  # type: ignore[union-attr]  # Handler.lock is Optional in typeshed, set by createLock()
            self.stream.flush()

    def _flusher(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(0.05)
            self._dirty.clear()
            self._flush_now()


def brief(exc: BaseException) -> str:
    """`Type: first line of the message`: an expected fault in one line of a log (of a
    task group's error, the errors inside it)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(brief(e) for e in exc.exceptions)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def fault(logger: logging.Logger, message: str, *args: object, error: BaseException) -> None:
    """An expected fault (a broker or storage account misbehaving, a client going away):
    one warning line naming what and why; the traceback only at DEBUG (`--verbose`)."""
    logger.warning("%s (%s)", message % args if args else message, brief(error))
    logger.debug("Traceback of the fault above:", exc_info=error)


def _colourful() -> bool:
    """Colours on a terminal, as `func start` (never in a pipe or file; NO_COLOR turns
    them off, https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def structured() -> bool:
    """Whether the console gets JSON records (`configure(log_format="json")`)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def configure(verbose: bool = False, log_format: str = "console") -> None:
    """The one logging set-up, done by the CLI. `log_format`: "console" (as `func start`
    prints) or "json" (`JsonFormatter`)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format '{log_format}' is not one of {', '.join(LOG_FORMATS)}")
    formatter: dict[str, Any] = (
        {"()": ConsoleFormatter, "verbose": verbose, "colour": _colourful()}
        if log_format == "console"
        else {"()": JsonFormatter}
    )
    # Two records per invocation are on the hot path: skip what the console format never
    # shows (the logging HOWTO's "Optimization" settings).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"invocation": {"()": InvocationFilter}},
            "formatters": {"console": formatter},
            "handlers": {
                "console": {
                    "()": ConsoleHandler,
                    "stream": "ext://sys.stdout",
                    "formatter": "console",
                    "filters": ["invocation"],
                }
            },
            "root": {"level": "DEBUG" if verbose else "INFO", "handlers": ["console"]},
            "loggers": {
                # The SDKs are chatty at INFO (every HTTP request); keep them for --verbose.
                "azure": {"level": "DEBUG" if verbose else "WARNING"},
                "uamqp": {"level": "WARNING"},
                "proton": {"level": "CRITICAL"},
                "uvicorn": {"level": "INFO" if verbose else "WARNING"},
                "uvicorn.access": {"level": "INFO" if verbose else "WARNING"},
                "uvicorn.error": {"level": "INFO" if verbose else "WARNING"},
                "asyncio": {"level": "WARNING"},
            },
        }
    )
