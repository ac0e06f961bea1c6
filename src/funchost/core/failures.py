"""A failed invocation as `func start` prints it: the text after `Executed ... (Failed ...)`.

The Python worker sends the exception as `RpcException(message, stack_trace)`: the message
is `f"{type(exc).__name__}: {exc}"`, the stack `traceback.extract_tb` of the exception
(PW `dispatcher.py` `_serialize_exception`, `utils/tracing.py` `marshall_exception_trace`).
The host wraps it in `RpcException("Result: Failure\\nException: <message>\\nStack: <stack>")`
with credentials in the message hidden (H `Workers/Rpc/RpcException.cs`, `Sanitizer.cs`),
inside `FunctionInvocationException("Exception while executing function: Functions.x")`
(W `Executors/FunctionExecutor.cs` `GetExceptionDispatchInfo`), logged with the Executed
line (W `Loggers/FunctionInstanceLogger.cs`); the console prints an exception flattened:
each exception of the chain as `source: message.` (H `Utility.cs` `FlattenException`,
CT `Diagnostics/ColoredConsoleLogger.cs` `GetMessageString`). So a ZeroDivisionError reads
(the first line cut here):

    System.Private.CoreLib: Exception while executing function: Functions.f. System.Pri...
    Exception: ZeroDivisionError: division by zero
    Stack:   File "/app/function_app.py", line 9, in f
        return 1 / 0
    .

The real stack starts with the worker's own frames (`dispatcher.py`, `extension.py`); here
the host's frames (funchost's, and the standard library's executor and asyncio frames that
lead to the user's code) are left out: the stack holds the user's frames only.
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from funchost.core.invocation import FunctionTimeoutError, WorkerException

# The source .NET gives both exceptions: they are rethrown through ExceptionDispatchInfo.
_CORELIB = "System.Private.CoreLib"
# FunctionTimeoutException is thrown by the WebJobs executor and logged unwrapped.
_WEBJOBS = "Microsoft.Azure.WebJobs.Host"

# Folders as frames name them: from modules' own paths, not resolved (a symlinked install
# would name them otherwise).
_FUNCHOST = str(Path(__file__).absolute().parents[1]) + os.sep
_STDLIB = str(Path(traceback.__file__).absolute().parent) + os.sep
# Site-packages may sit inside the standard library's folder (/usr/local/lib/python3.x).
_SITE = tuple({sysconfig.get_paths()[key] + os.sep for key in ("purelib", "platlib")})


def describe(error: BaseException, function: str) -> str:
    """What follows the `Executed '<function>' (Failed, ...)` line (`function` is the
    qualified name, `Functions.x`)."""
    if isinstance(error, FunctionTimeoutError):
        return flatten([(_WEBJOBS, str(error))])
    message, stack = serialize(error)
    return flatten(
        [
            (_CORELIB, f"Exception while executing function: {function}"),
            (_CORELIB, f"Result: Failure\nException: {sanitize(message)}\nStack: {stack}"),
        ]
    )


def serialize(error: BaseException) -> tuple[str, str]:
    """The worker's `RpcException` of `error`: its message and its stack (the user's
    frames only)."""
    if isinstance(error, WorkerException):  # serialized in the worker process already
        return error.message, error.stack
    try:
        message = f"{type(error).__name__}: {error}"
    except Exception:  # noqa: BLE001 - a __str__ that raises, as the worker guards it
        message = "Unhandled exception in function. Could not serialize original exception message."
    frames = traceback.StackSummary.from_list(user_frames(error.__traceback__))
    return message, "".join(frames.format())


def to_worker_exception(error: BaseException) -> WorkerException:
    """`error` as a worker process sends it to the host (PW `dispatcher.py`
    `_serialize_exception`): what the host needs to describe it, without its class."""
    if isinstance(error, WorkerException):
        return error
    message, stack = serialize(error)
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a __str__ that raises
        text = type(error).__name__
    details = "".join(traceback.format_exception(error))
    kind = type(error)
    return WorkerException(kind.__name__, text, message, stack, details, kind.__module__)


def user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    """The frames of `tb` without the host's: the leading frames of funchost and of the
    standard library (the executor thread, asyncio) that lead to the user's function, and
    any funchost frame after it. Standard-library frames the user's code calls stay."""
    frames = traceback.extract_tb(tb)
    start = 0
    while start < len(frames) and _is_host(frames[start].filename):
        start += 1
    return [f for f in frames[start:] if not f.filename.startswith(_FUNCHOST)]


def _is_host(filename: str) -> bool:
    if filename.startswith(_FUNCHOST):
        return True
    return filename.startswith(_STDLIB) and not filename.startswith(_SITE)


def flatten(chain: Iterable[tuple[str, str]]) -> str:
    """`source: message.` for each exception of a chain, outermost first, joined by
    spaces; a message that repeats the one before is left out (H `Utility.cs`
    `FlattenException`)."""
    parts: list[str] = []
    last: str | None = None
    for source, message in chain:
        current = (f"{source}: " if source else "") + message
        if not message.endswith("."):
            current += "."
        if last is None or last.strip() != current.strip():
            parts.append(current)
        last = current
    return " ".join(parts)


# H `Sanitizer.cs` (shared with the WebJobs SDK): the value after any of these tokens, up
# to a quote or `<`, is replaced; `PublicKeyToken=` is not a credential.
_CREDENTIAL_TOKENS = (
    "Token=",
    "DefaultEndpointsProtocol=http",
    "AccountKey=",
    "Data Source=",
    "Server=",
    "Password=",
    "pwd=",
    "&amp;sig=",
    "&sig=",
    "?sig=",
    "SharedAccessKey=",
    "&amp;code=",
    "&code=",
    "?code=",
)
_CREDENTIAL = re.compile("|".join(re.escape(t) for t in _CREDENTIAL_TOKENS), re.IGNORECASE)
_ALLOWED = re.compile(re.escape("PublicKeyToken="), re.IGNORECASE)
_TERMINATORS = re.compile("[<\"']")
HIDDEN = "[Hidden Credential]"


def sanitize(text: str) -> str:
    """`text` with well-known credentials (connection string keys, SAS signatures, function
    keys in URLs) replaced by `[Hidden Credential]`, as the host hides them in a worker's
    exception message."""
    if "=" not in text:  # every token has one: the common case costs one scan
        return text
    # Allowed tokens are masked (same length) so the search skips them, as the host does.
    masked = _ALLOWED.sub(lambda m: "#" * len(m.group()), text)
    out: list[str] = []
    position = 0
    while found := _CREDENTIAL.search(masked, position):
        end = _TERMINATORS.search(text, found.start())
        out.append(text[position : found.start()] + HIDDEN)
        position = end.start() if end else len(text)
    out.append(text[position:])
    return "".join(out)
