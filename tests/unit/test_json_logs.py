"""`JsonFormatter` (`--log-format json`): the fields of one record, and the trace ids of the
invocation's exported span so a log line can be joined to its trace."""

from __future__ import annotations

import json
import logging
import sys

from funchost.core.logs import JsonFormatter
from funchost.core.tracing import current_traceparent

SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("my.module", logging.WARNING, __file__, 1, message, (), None)
    record.created, record.msecs = 0.0, 7.0
    record.__dict__.update(extra)
    return record


def test_a_record_outside_an_invocation() -> None:
    entry = json.loads(JsonFormatter().format(_record("two\nlines ü", invocation_id="")))
    assert entry == {
        "time": "1970-01-01T00:00:00.007Z",
        "level": "WARNING",
        "category": "my.module",
        "message": "two\nlines ü",
    }


def test_an_invocations_record_names_it_and_its_span() -> None:
    token = current_traceparent.set(SPAN)
    try:
        line = JsonFormatter().format(_record("hi", invocation_id="abc", function_name="f"))
    finally:
        current_traceparent.reset(token)
    entry = json.loads(line)
    assert (entry["invocationId"], entry["functionName"]) == ("abc", "f")
    assert (entry["traceId"], entry["spanId"]) == (SPAN[3:35], SPAN[36:52])


def test_an_exception_keeps_its_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        record = _record("handled")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert (
        entry["exception"].startswith("Traceback") and "KeyError: 'missing'" in entry["exception"]
    )
