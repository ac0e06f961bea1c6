"""The console line format, as `func start` prints (CT `Diagnostics/ColoredConsoleLogger.cs`):
`[UTC time] message` on every line of a record, no level word, the level as a colour on a
terminal only. Through a real `funchost start` in tests/integration/test_fidelity_logs.py."""

from __future__ import annotations

import logging
import sys

import pytest

from funchost.core.logs import ConsoleFormatter

STAMP = "[2024-05-01T10:00:00.123Z] "


def _record(
    message: str, level: int = logging.INFO, name: str = "root", exc: BaseException | None = None
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, None, None)
    record.created, record.msecs = 1714557600.123, 123.0
    if exc is not None:
        try:
            raise exc
        except BaseException:  # noqa: BLE001 - capture any exception's exc_info
            record.exc_info = sys.exc_info()
    return record


@pytest.mark.parametrize(
    "level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
)
def test_no_level_word_whatever_the_level(level: int) -> None:
    # The worker sends a user's record as its message; the host prints it as such (PW
    # `dispatcher.py` `on_logging`; H `GrpcWorkerChannel.cs` `Log`).
    assert ConsoleFormatter().format(_record("x", level)) == STAMP + "x"
    assert ConsoleFormatter().format(_record("x", level, "funchost.triggers.queue")) == STAMP + "x"


def test_every_line_of_a_record_has_its_own_timestamp() -> None:
    assert ConsoleFormatter().format(_record("first\nsecond\n")) == (
        f"{STAMP}first\n{STAMP}second\n{STAMP}"
    )


def test_a_users_exception_keeps_its_traceback_a_librarys_is_one_line() -> None:
    user = ConsoleFormatter().format(_record("handled", logging.ERROR, exc=KeyError("k")))
    lines = user.split("\n")
    assert lines[0] == STAMP + "handled"
    assert lines[1] == STAMP + "Traceback (most recent call last):"
    assert lines[-1] == STAMP + "KeyError: 'k'"
    assert all(line.startswith(STAMP) for line in lines)
    sdk = _record("link dropped", logging.WARNING, "azure.servicebus._pyamqp", OSError("reset"))
    assert ConsoleFormatter().format(sdk) == STAMP + "link dropped (OSError: reset)"
    assert "Traceback" in ConsoleFormatter(verbose=True).format(sdk)


@pytest.mark.parametrize(
    ("level", "colour"),
    [
        (logging.ERROR, "\x1b[91m"),  # Red
        (logging.WARNING, "\x1b[33m"),  # DarkYellow
        (logging.INFO, "\x1b[36m"),  # DarkCyan
        (logging.DEBUG, "\x1b[32m"),  # DarkGreen
    ],
)
def test_colours_follow_func_starts_output_theme(level: int, colour: str) -> None:
    # CT `Common/OutputTheme.cs`; the timestamp DarkGray; each line coloured on its own.
    text = ConsoleFormatter(colour=True).format(_record("a\nb", level))
    grey = f"\x1b[90m{STAMP}\x1b[0m{colour}"
    assert text == f"{grey}a\x1b[0m\n{grey}b\x1b[0m"
