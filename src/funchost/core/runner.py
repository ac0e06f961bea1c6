"""Running one invocation: inputs in, user code, outputs out (semantics §8.3, §8.4).

Arguments are built with the library's own converters, as the real worker builds them;
only the trigger parameter receives trigger metadata. Async functions run on the event
loop; sync ones in a ThreadPoolExecutor of `PYTHON_THREADPOOL_THREAD_COUNT` threads, as the
worker runs them (PW `dispatcher.py`: `run_in_executor`), with the caller's context
variables, so log records from user code carry the invocation id. (An executor hop costs
about half of `anyio.to_thread.run_sync`, measured in bench/.)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import time
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol

import azure.functions as func
from azure.functions.meta import Datum

from funchost.core.context import InvocationContext
from funchost.core.converters import converter_for
from funchost.core.invocation import (
    Failed,
    InputBinding,
    Invocation,
    Outcome,
    OutputBinding,
    Succeeded,
)
from funchost.core.spec import RETURN, FunctionSpec, ParamSpec


class Out(func.Out[Any]):
    """The holder behind a `func.Out[T]` parameter."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def thread_count(environ: Mapping[str, str]) -> int:
    """PYTHON_THREADPOOL_THREAD_COUNT, else Python's ThreadPoolExecutor default."""
    raw = environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(32, (os.cpu_count() or 1) + 4)


class RunsCode(Protocol):
    """Runs the user's code of one invocation: decodes the inputs' data with the converters,
    calls the function, encodes what it set and returned (by binding name). In this process
    (`InProcess`), or in a worker process (`funchost.workers`)."""

    async def __call__(
        self, spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
    ) -> dict[str, Datum]:
        """`inputs`: the data each non-trigger input binding read, by parameter name."""


class InProcess:
    """User code in this process: async functions on the event loop, sync ones in the
    `PYTHON_THREADPOOL_THREAD_COUNT` thread pool."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    async def __call__(
        self, spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
    ) -> dict[str, Datum]:
        return await call_function(spec, invocation, inputs, self._executor)


class FunctionRunner:
    """Calls one function; the `Invoke` at the core of the wrapper stack. The host's part
    of an invocation: input bindings read before the call, output bindings written after
    it; `code` runs the user's code in between."""

    def __init__(
        self,
        spec: FunctionSpec,
        inputs: Mapping[str, InputBinding],
        outputs: Mapping[str, OutputBinding],
        code: RunsCode,
    ) -> None:
        self.spec = spec
        self._inputs = inputs  # by parameter name, every non-trigger input
        self._outputs = outputs  # by binding name ($return included), those written by a plug-in
        self._code = code

    async def __call__(self, invocation: Invocation) -> Outcome:
        start = time.perf_counter()
        try:
            results = await self._run(invocation)
        except Exception as exc:  # noqa: BLE001 - user code and binding failures are data
            return Failed(invocation.id, exc, (time.perf_counter() - start) * 1000)
        return Succeeded(invocation.id, results, (time.perf_counter() - start) * 1000)

    async def _run(self, invocation: Invocation) -> dict[str, Datum]:
        data = {name: await binding.read(invocation) for name, binding in self._inputs.items()}
        results = await self._code(self.spec, invocation, data)
        for name, datum in results.items():
            output = self._outputs.get(name)
            if output is not None:
                await output.write(datum, invocation)
        return results


async def call_function(
    spec: FunctionSpec,
    invocation: Invocation,
    inputs: Mapping[str, Datum | None],
    executor: Executor,
) -> dict[str, Datum]:
    """Decode the arguments, call the function, encode its outputs (by binding name)."""
    if not spec.is_async:
        # Cancelling this await (functionTimeout in-process) abandons the thread: Python
        # cannot stop it; a worker process is restarted instead, as the real host does.
        call = functools.partial(
            contextvars.copy_context().run, call_sync_function, spec, invocation, inputs
        )
        return await asyncio.get_running_loop().run_in_executor(executor, call)
    args, holders = _call_arguments(spec, invocation, inputs)
    return _results(spec, holders, await spec.func(**args))


def call_sync_function(
    spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
) -> dict[str, Datum]:
    """`call_function` for a sync function, in the thread that runs it: the arguments
    are decoded and the outputs encoded there too, so the event loop hands over the
    invocation once and does not wait for the GIL to take it back."""
    args, holders = _call_arguments(spec, invocation, inputs)
    return _results(spec, holders, spec.func(**args))


def _call_arguments(
    spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
) -> tuple[dict[str, Any], dict[str, Out]]:
    """The function's keyword arguments, and the Out holders among them by name."""
    args = _arguments(spec, invocation, inputs)
    holders = {p.name: Out() for p in spec.outputs}
    args.update(holders)
    if spec.needs_context:
        args["context"] = InvocationContext(invocation)
    return args, holders


def _arguments(
    spec: FunctionSpec, invocation: Invocation, inputs: Mapping[str, Datum | None]
) -> dict[str, Any]:
    """Every input parameter, decoded with its converter; only the trigger parameter
    gets trigger metadata (semantics §8.3)."""
    args: dict[str, Any] = {}
    datum: Datum | None
    for param in spec.inputs:
        if param.binding is spec.trigger:
            datum, metadata = invocation.trigger, invocation.metadata
        else:
            datum, metadata = inputs[param.name], {}
        args[param.name] = converter_for(param.converter).decode(datum, trigger_metadata=metadata)
    return args


def _results(spec: FunctionSpec, holders: Mapping[str, Out], result: Any) -> dict[str, Datum]:
    """The encoded outputs by binding name: each Out[...] that was set, and `$return`."""
    if result is not None and spec.returns is None:
        raise RuntimeError(
            f"function '{spec.name}' without a $return binding returned a non-None value"
        )
    results: dict[str, Datum] = {}
    for param in spec.outputs:
        value = holders[param.name].get()
        if value is not None:
            results[param.binding.name] = _encode(param, value)
    # An implicit return (a binding without a converter) is accepted but not sent. An
    # HTTP `$return` goes through its converter even when None, as the worker sends it
    # (PW `dispatcher.py` `to_outgoing_proto`): the library's converter cannot encode
    # None, so such a function fails on Azure (500).
    ret = spec.returns
    if ret is None or ret.binding.name != RETURN:
        return results
    if result is not None or ret.converter == "http":
        results[RETURN] = _encode(ret, result)
    return results


def _encode(param: ParamSpec, value: Any) -> Datum:
    conv = converter_for(param.converter)
    try:
        datum = conv.encode(value, expected_type=param.pytype)
    except NotImplementedError:
        raise TypeError(
            f"cannot send a {type(value).__name__} to binding "
            f"'{param.binding.name}' of type '{param.binding.type}'"
        ) from None
    if datum is None:
        raise TypeError(
            f"binding '{param.binding.name}' of type '{param.binding.type}' "
            f"cannot encode a {type(value).__name__}"
        )
    return datum  # type: ignore[no-any-return]
