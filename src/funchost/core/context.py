"""The `context` argument user functions receive (PW `bindings/context.py` shape)."""

from __future__ import annotations

import threading
from typing import Any

import azure.functions as func
from azure.functions import _abc

from funchost.core.invocation import Invocation
from funchost.core.tracing import trace_context


class _TraceContext(_abc.TraceContext):
    """The worker's TraceContext, with both spellings it offers (PW
    `bindings/tracecontext.py`: `Traceparent`, `Tracestate`, `Attributes` are the older)."""

    def __init__(self, trace_parent: str, trace_state: str, attributes: dict[str, str]) -> None:
        self._parent, self._state, self._attributes = trace_parent, trace_state, attributes

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    @property
    def Traceparent(self) -> str:  # noqa: N802 - the worker's name
        return self._parent

    @property
    def Tracestate(self) -> str:  # noqa: N802 - the worker's name
        return self._state

    @property
    def Attributes(self) -> dict[str, str]:  # noqa: N802 - the worker's name
        return self._attributes


class _RpcException(_abc.RpcException):
    def __init__(self, exc: BaseException | None) -> None:
        self._exc = exc

    @property
    def source(self) -> str:
        return type(self._exc).__module__ if self._exc else ""

    @property
    def stack_trace(self) -> str:
        import traceback

        return "".join(traceback.format_exception(self._exc)) if self._exc else ""

    @property
    def message(self) -> str:
        return str(self._exc) if self._exc else ""


class _RetryContext(_abc.RetryContext):
    def __init__(
        self, retry_count: int, max_retry_count: int, exception: BaseException | None
    ) -> None:
        self._count, self._max, self._exc = retry_count, max_retry_count, _RpcException(exception)

    @property
    def retry_count(self) -> int:
        return self._count

    @property
    def max_retry_count(self) -> int:
        return self._max

    @property
    def exception(self) -> _abc.RpcException:
        return self._exc


class InvocationContext(func.Context):
    def __init__(self, invocation: Invocation) -> None:
        spec = invocation.function
        self._id = invocation.id
        self._name = spec.name
        self._directory = spec.directory
        self._tls = threading.local()
        self._tls.invocation_id = invocation.id
        self._trace = _TraceContext(*trace_context(invocation), {})
        r = invocation.retry
        self._retry = _RetryContext(r.retry_count, r.max_retry_count, r.exception)

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> _abc.RetryContext:
        return self._retry
