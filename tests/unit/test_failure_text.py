"""A failed invocation's text as `func start` prints it after `Executed ... (Failed ...)`:
the worker's serialized exception (PW `dispatcher.py` `_serialize_exception`), wrapped by the
host (H `Workers/Rpc/RpcException.cs`, `Sanitizer.cs`) and flattened (H `Utility.cs`
`FlattenException`). The console lines are asserted through a real host in
tests/integration/test_fidelity_logs.py."""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from azure.functions.meta import Datum

from funchost.core import failures
from funchost.core.invocation import Failed, FunctionTimeoutError, Invocation
from funchost.core.runner import FunctionRunner
from funchost.core.spec import BindingInfo, FunctionSpec


def _spec(func: Any, *, is_async: bool) -> FunctionSpec:
    trigger = BindingInfo("timer", "timerTrigger", "in", {})
    return FunctionSpec(
        name="boom",
        func=func,
        trigger=trigger,
        bindings=(trigger,),
        inputs=(),
        outputs=(),
        returns=None,
        is_async=is_async,
        needs_context=False,
        directory=".",
        script_file="function_app.py",
        function_json={},
    )


def _divide(a: int, b: int) -> float:
    return a / b


def _user_function() -> None:
    _divide(1, 0)


async def _async_user_function() -> None:
    _divide(1, 0)


def _fail_through_the_runner(is_async: bool) -> BaseException:
    """The exception of a function run by the host's runner (sync: on its thread pool)."""
    func = _async_user_function if is_async else _user_function
    spec = _spec(func, is_async=is_async)
    with ThreadPoolExecutor(1) as pool:
        runner = FunctionRunner(spec, {}, {}, pool)
        outcome = anyio.run(runner, Invocation(spec, Datum("{}", "json"), "test"))
    assert isinstance(outcome, Failed)
    return outcome.error


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_the_stack_holds_the_users_frames_only(is_async: bool) -> None:
    error = _fail_through_the_runner(is_async)
    everything = [f.name for f in traceback.extract_tb(error.__traceback__)]
    assert "__call__" in everything and "_run" in everything  # the runner's frames are there
    user = "_async_user_function" if is_async else "_user_function"
    assert [f.name for f in failures.user_frames(error.__traceback__)] == [user, "_divide"]
    message, stack = failures.serialize(error)
    assert message == "ZeroDivisionError: division by zero"
    assert stack.startswith(f'  File "{__file__}", line ')
    assert "funchost" not in stack.replace(__file__, "")


def test_a_failure_reads_as_the_host_flattens_the_workers_exception() -> None:
    error = _fail_through_the_runner(False)
    _, stack = failures.serialize(error)
    assert failures.describe(error, "Functions.boom") == (
        "System.Private.CoreLib: Exception while executing function: Functions.boom. "
        "System.Private.CoreLib: Result: Failure\n"
        "Exception: ZeroDivisionError: division by zero\n"
        f"Stack: {stack}."
    )
    assert stack.endswith("\n")  # so the flattening's period stands on a line of its own


def test_an_error_raised_by_the_host_itself_has_an_empty_stack() -> None:
    # A traceback made only of funchost frames: a check of the runner's fails (a value
    # returned without a $return binding).
    spec = _spec(lambda: 1, is_async=False)
    with ThreadPoolExecutor(1) as pool:
        outcome = anyio.run(
            FunctionRunner(spec, {}, {}, pool), Invocation(spec, Datum("{}", "json"), "t")
        )
    assert isinstance(outcome, Failed)
    assert str(outcome.error).startswith("function 'boom' without a $return binding")
    message, stack = failures.serialize(outcome.error)
    assert message.startswith("RuntimeError: function 'boom'") and stack == ""
    assert failures.describe(outcome.error, "Functions.boom").endswith("\nStack: .")


def test_a_timeout_reads_as_the_webjobs_executor_throws_it() -> None:
    # W `FunctionExecutor.cs` `TryHandleTimeoutAsync`: not wrapped, source the WebJobs host.
    error = FunctionTimeoutError("Timeout value of 00:00:02 was exceeded by function: Functions.x")
    assert failures.describe(error, "Functions.x") == (
        "Microsoft.Azure.WebJobs.Host: Timeout value of 00:00:02 was exceeded by function: "
        "Functions.x."
    )


def test_an_exception_whose_str_raises_is_still_described() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    message, _ = failures.serialize(Unprintable())
    assert message == (
        "Unhandled exception in function. Could not serialize original exception message."
    )


@pytest.mark.parametrize(
    ("chain", "flat"),
    [
        ([("S", "a")], "S: a."),
        ([("S", "a."), ("T", "b")], "S: a. T: b."),
        ([("S", "same"), ("S", "same")], "S: same."),  # an inner repeating the outer
        ([("", "no source")], "no source."),
    ],
)
def test_flatten(chain: list[tuple[str, str]], flat: str) -> None:
    assert failures.flatten(chain) == flat


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("no credentials here", "no credentials here"),
        ("x=1 but no token", "x=1 but no token"),
        (
            "bad: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==",
            "bad: [Hidden Credential]",
        ),
        (
            "url 'https://a/b?sv=1&sig=abc' failed",
            "url 'https://a/b?sv=1[Hidden Credential]' failed",
        ),
        (
            "two: AccountKey=a\" and Password=b'",
            "two: [Hidden Credential]\" and [Hidden Credential]'",
        ),
        ("PublicKeyToken=31bf3856ad364e35 stays", "PublicKeyToken=31bf3856ad364e35 stays"),
        ("case: accountkey=abc", "case: [Hidden Credential]"),
    ],
)
def test_credentials_in_the_message_are_hidden_as_the_host_hides_them(
    text: str, clean: str
) -> None:
    assert failures.sanitize(text) == clean
