"""What a user reads on the console and gets in `context`, as on the real host (issue 15,
items 1, 2, 7, 10): a `funchost start` process run with `--app-dir` from another folder, and
the in-process harness.

- User log lines are `[time] message` whatever their level: the worker sends a record's
  message (PW `dispatcher.py` `on_logging`), the host logs it as the function's
  (H `GrpcWorkerChannel.cs` `Log`), `func start` prints `[time] ` before every line of it
  and names no level (CT `Diagnostics/ColoredConsoleLogger.cs` `LogToConsole`).
- An unhandled exception: the Executed line, then the worker's serialized exception as the
  host flattens it (PW `_serialize_exception`; H `Workers/Rpc/RpcException.cs`,
  `Utility.cs` `FlattenException`; W `Loggers/FunctionInstanceLogger.cs`), the stack with
  the user's frames only; `--verbose` adds the whole Python traceback.
- `context.trace_context` continues an HTTP caller's `traceparent` (H
  `WorkerFunctionInvoker.cs`), in both spellings (PW `bindings/tracecontext.py`).
- The worker's working directory is the app folder (H `Workers/Rpc/RpcWorkerProcess.cs`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funchost.testing import Harness
from tests.hostprocess import HostProcess
from tests.integration.harness_support import invocation

pytestmark = pytest.mark.integration

APP = (Path(__file__).resolve().parents[1] / "apps" / "fidelity_logs").resolve()
SCRIPT = APP / "function_app.py"
STAMP = re.compile(r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] ")
# Python 3.11+ marks the failing expression under a code line (`~~^~~`); which lines get
# such a marker changes between Python versions, so the assertions leave them out.
CARETS = re.compile(r"\s*[~^]+\s*")
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def line_of(code: str) -> int:
    """The line number of `code` in the fixture app (the stack names it)."""
    lines = SCRIPT.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.strip() == code)


@pytest.fixture(scope="module")
def cli(storage_connection_string: str) -> Iterator[HostProcess]:
    # Run from the repository, not the app folder: the host must move to the app folder.
    assert Path.cwd().resolve() != APP
    proc = HostProcess(
        APP, env={"AzureWebJobsStorage": storage_connection_string}, args=["--no-auth"]
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def lines_after(proc: HostProcess, first: str, count: int, then: str | None = None) -> list[str]:
    """The `count` console lines from the one matching `first` (a regex of the text after
    the timestamp), each checked to carry its own timestamp, without it. `then`: a later
    line to wait for first (another thread reads the console, so the lines after `first`
    may not have been read yet)."""
    pattern = STAMP.pattern + first
    for wanted in (pattern, STAMP.pattern + then if then else None):
        if wanted is not None:
            assert proc.wait_for_output(wanted, timeout=30), proc.output()[-3000:]
    lines = proc.output().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(pattern, line))
    block = lines[start : start + count]
    assert all(STAMP.match(line) for line in block), block
    return [STAMP.sub("", line, count=1) for line in block]


def failure_block(proc: HostProcess, function: str, inv: str) -> list[str]:
    """The Executed line of a failed invocation and the lines that follow it up to the
    flattening's closing period, without timestamps or caret lines."""
    executed = rf"Executed 'Functions\.{function}' \(Failed, Id={inv}, Duration=\d+ms\)"
    block = lines_after(proc, executed, 40)
    block = block[: block.index(".") + 1]
    return [line for line in block if not CARETS.fullmatch(line)]


def test_a_users_log_lines_are_printed_as_their_message_whatever_the_level(
    cli: HostProcess,
) -> None:
    assert httpx.get(f"{cli.url}/api/levels", timeout=30).text == "logged"
    block = lines_after(
        cli, r"Executing 'Functions\.levels'", 7, then=r"Executed 'Functions\.levels'"
    )
    assert block[1:-1] == [
        # logging.debug is below the worker's and func start's default level: not shown.
        "an info line",
        "a warning line",
        "an error line",
        "a critical line",
        "a named logger's line",
    ]
    assert block[-1].startswith("Executed 'Functions.levels' (Succeeded")
    assert "Warning:" not in cli.output() and "Error:" not in cli.output()


def test_each_line_of_a_multi_line_record_has_its_own_timestamp(cli: HostProcess) -> None:
    assert httpx.get(f"{cli.url}/api/multiline", timeout=30).text == "logged"
    block = lines_after(
        cli, r"Executing 'Functions\.multiline'", 12, then=r"Executed 'Functions\.multiline'"
    )
    block = [line for line in block if not CARETS.fullmatch(line)]
    raised = line_of('{}["missing"]')
    # logging.exception: the worker formats the traceback into the message.
    assert block[1:8] == [
        "first",
        "second",
        "handled",
        "Traceback (most recent call last):",
        f'  File "{SCRIPT}", line {raised}, in multiline',
        '    {}["missing"]',
        "KeyError: 'missing'",
    ]
    assert block[8].startswith("Executed 'Functions.multiline' (Succeeded")


@pytest.mark.parametrize(
    ("route", "function", "code"),
    [
        ("divide", "divide_by_zero", "return func.HttpResponse(str(divide(1, 0)))"),
        ("divide_async", "divide_by_zero_async", "return func.HttpResponse(str(divide(2, 0)))"),
    ],
)
def test_an_unhandled_exception_prints_the_workers_exception_and_the_users_stack(
    cli: HostProcess, route: str, function: str, code: str
) -> None:
    r = httpx.get(f"{cli.url}/api/{route}", timeout=30)
    assert r.status_code == 500
    inv = r.json()["invocationId"]
    block = failure_block(cli, function, inv)
    assert block[1:] == [
        f"System.Private.CoreLib: Exception while executing function: Functions.{function}. "
        "System.Private.CoreLib: Result: Failure",
        "Exception: ZeroDivisionError: division by zero",
        f'Stack:   File "{SCRIPT}", line {line_of(code)}, in {function}',
        f"    {code}",
        f'  File "{SCRIPT}", line {line_of("return a / b")}, in divide',
        "    return a / b",
        ".",
    ]
    # No Python traceback, none of the host's frames.
    assert "Traceback" not in "\n".join(block) and "funchost" not in "\n".join(block)


def test_a_credential_in_the_exception_message_is_hidden(cli: HostProcess) -> None:
    r = httpx.get(f"{cli.url}/api/secret", timeout=30)
    block = failure_block(cli, "secret", r.json()["invocationId"])
    assert block[2] == "Exception: RuntimeError: cannot connect with [Hidden Credential]"


def test_the_app_runs_in_its_folder_whatever_folder_the_host_was_started_from(
    cli: HostProcess,
) -> None:
    body = httpx.get(f"{cli.url}/api/cwd", timeout=30).json()
    assert body == {
        "cwd": str(APP),
        # Read at import and in the function, relative to the working directory.
        "greeting": "read relative to the app folder",
        "now": "read relative to the app folder",
        # H `RpcWorkerProcess.cs` `CreateWorkerProcess` sets it for the worker.
        "app_directory": str(APP),
    }


def test_verbose_adds_the_whole_python_traceback(storage_connection_string: str) -> None:
    proc = HostProcess(
        APP,
        env={"AzureWebJobsStorage": storage_connection_string},
        args=["--no-auth", "--verbose"],
    )
    proc.start()
    try:
        inv = httpx.get(f"{proc.url}/api/divide", timeout=30).json()["invocationId"]
        block = failure_block(proc, "divide_by_zero", inv)
        assert block[2] == "Exception: ZeroDivisionError: division by zero"
        after = lines_after(
            proc,
            re.escape(f"Python traceback of Functions.divide_by_zero's failure (Id={inv}):"),
            3,
        )
        assert after[1] == "Traceback (most recent call last):"
        # The first frame is funchost's, in the worker process that ran the function.
        assert re.fullmatch(
            r'  File ".*/funchost/workers/session\.py", line \d+, in _invoke(_sync)?', after[2]
        )
        assert proc.wait_for_output(STAMP.pattern + "ZeroDivisionError: division by zero$")
    finally:
        proc.stop()


# -- the in-process harness -------------------------------------------------------------------
@pytest.fixture(scope="module")
def host(storage_connection_string: str) -> Iterator[Harness]:
    # The app reads a file relative to the working directory at import: it needs its folder.
    settings = {"AzureWebJobsStorage": storage_connection_string}
    with Harness(APP, settings=settings, working_dir=True) as harness:
        yield harness


def test_the_harness_works_in_the_app_folder_on_request(host: Harness) -> None:
    assert os.getcwd() == str(APP)
    body = host.get("/api/cwd").json()
    assert (body["cwd"], body["app_directory"]) == (str(APP), str(APP))


def test_the_invocation_record_holds_the_failure_as_printed(host: Harness) -> None:
    r = host.get("/api/divide")
    record = invocation(host, r.json()["invocationId"])
    executed, *failure = record.logs[-1].splitlines()
    assert executed.startswith("Executed 'Functions.divide_by_zero' (Failed")
    assert failure[1] == "Exception: ZeroDivisionError: division by zero"
    assert failure[2].startswith(f'Stack:   File "{SCRIPT}"') and failure[-1] == "."


def test_an_http_callers_trace_is_continued(host: Harness) -> None:
    tc = host.get("/api/trace", headers={"traceparent": PARENT, "tracestate": "congo=t61"}).json()
    version, trace, span, flags = tc["trace_parent"].split("-")
    assert (version, trace, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span) and span != "b7ad6b7169203331"
    assert tc["trace_state"] == "congo=t61" and tc["attributes"] == {}
    # The worker's older spelling, the same values.
    assert (tc["Traceparent"], tc["Tracestate"], tc["Attributes"]) == (
        tc["trace_parent"],
        tc["trace_state"],
        tc["attributes"],
    )


def test_a_request_without_a_trace_starts_its_own(host: Harness) -> None:
    first = host.get("/api/trace").json()["trace_parent"]
    second = host.get("/api/trace").json()["trace_parent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", first)
    assert first.split("-")[1] != second.split("-")[1]
