"""The data that flows between listeners and the invoker."""

from __future__ import annotations

import builtins
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.functions.meta import Datum

from funchost.core.spec import FunctionSpec


def new_id() -> str:
    """A random version-4 UUID for an invocation. From `random`, not `os.urandom`: ids need
    to be unique, not secret, and this saves a system call per invocation."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


@dataclass(frozen=True)
class RetryState:
    """What `context.retry_context` shows (semantics §1.2)."""

    retry_count: int = 0
    max_retry_count: int = 0
    exception: BaseException | None = None


@dataclass(frozen=True)
class Invocation:
    """One call of a function, as a trigger produced it.

    Parameters:
        trigger: the value handed to the trigger parameter's converter.
        metadata: trigger metadata, as the real host sends it to the worker.
        binding_data: values for binding expressions in other bindings (`{name}`,
            `{Id}`, JSON body properties); defaults to the metadata's Python values.
        reason: shown in the `Executing ... (Reason=...)` log line.
    """

    function: FunctionSpec
    trigger: Datum
    reason: str
    metadata: Mapping[str, Datum] = field(default_factory=dict)
    binding_data: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    retry: RetryState = RetryState()


@dataclass(frozen=True)
class Succeeded:
    """The function returned; `results` holds encoded outputs by binding name (for
    example `$return` of an HTTP function)."""

    invocation_id: str
    results: Mapping[str, Datum] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class Failed:
    """The function (or one of its bindings) raised; `error` is the exception."""

    invocation_id: str
    error: BaseException
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return False


Outcome = Succeeded | Failed
Invoke = Callable[[Invocation], Awaitable[Outcome]]


class InputBinding(Protocol):
    """An input binding plug-in (`funchost.bindings`): reads its value before the call."""

    async def read(self, invocation: Invocation) -> Datum | None:
        """The value to decode for the parameter (None when there is nothing)."""


class OutputBinding(Protocol):
    """An output binding plug-in: writes what the function set, before settlement."""

    async def write(self, value: Datum, invocation: Invocation) -> None:
        """Send `value` (an encoded Out[...] value or return value)."""


class FunctionTimeoutError(TimeoutError):
    """The invocation ran past `functionTimeout`."""


class InvocationCancelled(Exception):
    """The host stopped before the invocation finished (its grace period ran out). A
    trigger releases such a message at once rather than counting it as a failure."""


class WorkerException(Exception):
    """An exception user code raised in a worker process, as the worker serialized it (the
    real worker sends an `RpcException`: PW `dispatcher.py` `_serialize_exception`): its
    type's name and module, `str()`, the worker's message and the stack of the user's
    frames, and the whole Python traceback for `--verbose`. The exception itself stays in
    the worker: its class may not even import in the host's interpreter. One of a built-in
    type is also an instance of that type (`builtin_kind`), so `isinstance(error,
    ValueError)` holds in the host as in the worker."""

    def __init__(
        self, type_name: str, text: str, message: str, stack: str, details: str, module: str = ""
    ) -> None:
        super().__init__(type_name, text, message, stack, details, module)  # so it pickles
        self.type_name, self.text, self.message = type_name, text, message
        self.stack, self.details, self.module = stack, details, module

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[WorkerException], tuple[str, ...]]:
        # A built-in kind (`builtin_kind`) travels as the plain exception it was made from.
        return WorkerException, self.args


_KINDS: dict[type, type[WorkerException]] = {}


def builtin_kind(error: WorkerException) -> WorkerException:
    """`error` as an instance of both WorkerException and its built-in exception type
    (`ValueError`, `KeyError`, `RuntimeError`...), when it has one whose instances can be
    both; else `error` itself."""
    base = getattr(builtins, error.type_name, None) if error.module == "builtins" else None
    if not (isinstance(base, type) and issubclass(base, Exception)):
        return error
    kind = _KINDS.get(base)
    if kind is None:
        try:
            kind = type(base.__name__, (WorkerException, base), {})
        except TypeError:  # a built-in whose instances cannot also be a WorkerException
            return error
        _KINDS[base] = kind
    return kind(*error.args)
