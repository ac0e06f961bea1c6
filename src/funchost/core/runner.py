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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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


class FunctionRunner:
    """Calls one function; the `Invoke` at the core of the wrapper stack."""

    def __init__(
        self,
        spec: FunctionSpec,
        inputs: Mapping[str, InputBinding],
        outputs: Mapping[str, OutputBinding],
        executor: ThreadPoolExecutor,
    ) -> None:
        self.spec = spec
        self._inputs = inputs  # by parameter name, every non-trigger input
        self._outputs = outputs  # by binding name ($return included), those written by a plug-in
        self._executor = executor

    async def __call__(self, invocation: Invocation) -> Outcome:
        start = time.perf_counter()
        try:
            results = await self._run(invocation)
        except Exception as exc:  # noqa: BLE001 - user code and binding failures are data
            return Failed(invocation.id, exc, (time.perf_counter() - start) * 1000)
        return Succeeded(invocation.id, results, (time.perf_counter() - start) * 1000)

    async def _run(self, invocation: Invocation) -> dict[str, Datum]:
        spec = self.spec
        args = await self._arguments(invocation)
        holders = {p.name: Out() for p in spec.outputs}
        args.update(holders)
        if spec.needs_context:
            args["context"] = InvocationContext(invocation)
        if spec.is_async:
            result = await spec.func(**args)
        else:
            # Cancelling this await (functionTimeout) abandons the thread: Python cannot
            # stop it, as the real worker cannot either.
            call = functools.partial(contextvars.copy_context().run, spec.func, **args)
            result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        results = self._results(holders, result)
        for name, datum in results.items():
            output = self._outputs.get(name)
            if output is not None:
                await output.write(datum, invocation)
        return results

    async def _arguments(self, invocation: Invocation) -> dict[str, Any]:
        """Every input parameter, decoded with its converter; only the trigger parameter
        gets trigger metadata (semantics §8.3)."""
        spec = self.spec
        args: dict[str, Any] = {}
        datum: Datum | None
        for param in spec.inputs:
            if param.binding is spec.trigger:
                datum, metadata = invocation.trigger, invocation.metadata
            else:
                datum, metadata = await self._inputs[param.name].read(invocation), {}
            args[param.name] = converter_for(param.converter).decode(
                datum, trigger_metadata=metadata
            )
        return args

    def _results(self, holders: Mapping[str, Out], result: Any) -> dict[str, Datum]:
        """The encoded outputs by binding name: each Out[...] that was set, and `$return`."""
        spec = self.spec
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
