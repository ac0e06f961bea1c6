"""`@idempotent`: exactly-once effects for any trigger, sync or async.

    ledger = IdempotencyLedger(StorageAccount.from_settings())

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    @idempotent(ledger, key=message_id())
    async def place_order(msg: func.QueueMessage) -> None:
        ...

Put `@idempotent` *below* the trigger decorator, so the host registers the wrapped function.
The wrapper keeps the function's name and signature (`functools.wraps`), which the Functions
worker reads to bind the trigger and outputs.

What a run records, and a duplicate replays, is what the host receives from the function:
its return value when the host takes one (an HTTP function's response; `output=True` for a
function with a `$return` output binding) and every `func.Out[...]` value it set. So a
duplicate produces the same outputs, and a value the host would refuse (a return without a
`$return` binding) is never handed to it: it is recorded, for the ledger's readers, and the
host gets None.

HTTP functions get HTTP answers (problem details, RFC 9457): no key 400, the key still
being worked on 409 with `Retry-After`, the key reused for another request 422.

A synchronous function runs in the caller's thread; the ledger calls go through
`shared.sync`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import azure.functions as func

from .. import sync
from .._tables import dump_json, utcnow
from ..errors import InvalidArgument, KeyInProgress, KeyReused, MissingIdempotencyKey
from ..postpone import take_postponed
from .guard import Guard
from .keys import KeyFunc
from .ledger import IdempotencyLedger, Outcome

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
LedgerSource = IdempotencyLedger | Callable[[], IdempotencyLedger]


def idempotent(
    ledger: LedgerSource,
    key: KeyFunc,
    *,
    scope: str | None = None,
    required: bool = True,
    record_failures: bool = False,
    output: bool = False,
    wait: timedelta | None = None,
) -> Callable[[F], F]:
    """Run the decorated function at most once per key (per scope) to completion.

    Parameters
    ----------
    ledger:
        The ledger, or a zero-argument factory for one (resolved at the first call, so
        settings are read at run time, not at import).
    key:
        A key function from `shared.idempotency.keys` (or your own), given the arguments by
        parameter name.
    scope:
        What the key is unique within; the function's name by default.
    required:
        With no key in the invocation: fail (`MissingIdempotencyKey`; an HTTP request gets
        400) (True), or run the function without protection (False).
    record_failures:
        Record an exception as the outcome (duplicates then return None without retrying)
        instead of releasing the claim for the redelivery to retry.
    output:
        The function has a `$return` output binding: its return value goes to the host
        (always so for an HTTP function, whose return is the response).
    wait:
        How long a duplicate of a run still going on waits for it (a lease by default;
        an HTTP request never waits: it gets 409).

    Returns
    -------
    A decorator that keeps the function's name, signature and sync/async nature.

    Raises (from the wrapped call, for non-HTTP functions)
    -------------------------------------------------------
    KeyInProgress
        Another worker still processes the same key after `wait`: redelivered later.
    MissingIdempotencyKey
        No key and ``required=True``.
    KeyReused, ClaimLost
        See `IdempotencyLedger.claim` and `Guard.exit`.
    """

    def decorate(fn: F) -> F:
        runs = _Runs(fn, ledger, key, scope or fn.__name__, required, record_failures, output, wait)
        if inspect.iscoroutinefunction(fn):
            return _async_wrapper(fn, runs)  # type: ignore[return-value]  # same signature as fn
        return _sync_wrapper(fn, runs)  # type: ignore[return-value]  # same signature as fn

    return decorate


class _Runs:
    """What one call of `fn` needs: its guard (None: run unprotected), its recording Out
    holders, and what to hand back to the host."""

    def __init__(
        self,
        fn: Callable[..., Any],
        ledger: LedgerSource,
        key: KeyFunc,
        scope: str,
        required: bool,
        record_failures: bool,
        output: bool,
        wait: timedelta | None,
    ) -> None:
        self.name = fn.__name__
        self._signature = inspect.signature(fn)
        self._ledger = ledger
        self._key = key
        self._scope = scope
        self._required = required
        self._record_failures = record_failures
        self._output = output
        self._wait = wait

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        bound = self._signature.bind_partial(*args, **kwargs)
        request = next(
            (v for v in bound.arguments.values() if isinstance(v, func.HttpRequest)), None
        )
        outs = {n: _RecordingOut(v) for n, v in bound.arguments.items() if isinstance(v, func.Out)}
        bound.arguments.update(outs)
        call = _Call(self, bound.args, bound.kwargs, outs, request)
        value = self._key(bound.arguments)
        if value is None:
            if self._required:
                raise MissingIdempotencyKey(f"{self.name}: no idempotency key in this invocation")
            log.warning("%s: no idempotency key; running without protection", self.name)
            return call
        ledger = self._ledger if isinstance(self._ledger, IdempotencyLedger) else self._ledger()
        call.guard = Guard(
            ledger,
            value,
            scope=self._scope,
            record_failures=self._record_failures,
            wait=timedelta(0) if request is not None else self._wait,
            fingerprint=None if request is None else _fingerprint(request),
        )
        return call

    def to_host(self, call: _Call, value: Any) -> Any:
        """What the host gets back: the value when it takes one, else None."""
        if call.request is not None or self._output or value is None:
            return value
        log.warning(
            "%s returned a value without output=True: recorded for duplicates, not passed "
            "to the host (which refuses a return value without a $return binding)",
            self.name,
        )
        return None


class _Call:
    def __init__(
        self,
        runs: _Runs,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        outs: dict[str, _RecordingOut],
        request: func.HttpRequest | None,
    ) -> None:
        self.runs = runs
        self.args = args
        self.kwargs = kwargs
        self.outs = outs
        self.request = request
        self.guard: Guard | None = None

    def replay(self) -> Any:
        """A duplicate: the first run's outputs set again, its return value handed back."""
        assert self.guard is not None
        record = self.guard.duplicate_of
        assert record is not None
        log.info(
            "%s: duplicate of idempotency key %r (first done at %s, attempt %d); not redone",
            self.runs.name,
            self.guard.key,
            record.completed_at.isoformat(),
            record.attempt,
        )
        if record.outcome is Outcome.FAILED:
            log.warning(
                "%s: key %r failed before (%s); not retried",
                self.runs.name,
                self.guard.key,
                record.error,
            )
            return None
        stored = record.result if isinstance(record.result, dict) else {}
        for name, value in (stored.get("outputs") or {}).items():
            if name in self.outs:
                self.outs[name].set(_decode(value))
        return self.runs.to_host(self, _decode(stored.get("return")))

    def finished(self, value: Any) -> Any:
        """Record the run's outcome (return value and outputs) for its duplicates."""
        assert self.guard is not None
        self.guard.result = {
            "return": _encode(value, self.guard),
            "outputs": {n: _encode(o.get(), self.guard) for n, o in self.outs.items() if o.set_},
        }
        return self.runs.to_host(self, value)

    def refused(self, exc: Exception) -> func.HttpResponse | None:
        """For an HTTP function, the answer to a key problem; None to raise it."""
        if self.request is None:
            return None
        if isinstance(exc, MissingIdempotencyKey):
            return _problem(400, "Missing idempotency key", str(exc))
        if isinstance(exc, KeyReused):
            return _problem(422, "Idempotency key reused", str(exc))
        if isinstance(exc, KeyInProgress):
            seconds = max(1, math.ceil((exc.lease_until - utcnow()).total_seconds()))
            response = _problem(409, "Request in progress", str(exc))
            response.headers["Retry-After"] = str(seconds)
            return response
        return None


def _async_wrapper(fn: Callable[..., Any], runs: _Runs) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            call = runs.prepare(args, kwargs)
            if call.guard is None:
                return await fn(*call.args, **call.kwargs)
            await call.guard.enter()
        except (MissingIdempotencyKey, KeyInProgress, KeyReused) as exc:
            answer = _refusal(runs, args, kwargs, exc)
            if answer is None:
                raise
            return answer
        if call.guard.duplicate:
            return call.replay()
        try:
            value = await fn(*call.args, **call.kwargs)
        except BaseException as exc:
            await call.guard.exit(exc)
            raise
        if take_postponed():
            await call.guard.let_go()  # put back for later: not done
            return None
        result = call.finished(value)
        await call.guard.exit(None)
        return result

    return wrapper


def _sync_wrapper(fn: Callable[..., Any], runs: _Runs) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            call = runs.prepare(args, kwargs)
            if call.guard is None:
                return fn(*call.args, **call.kwargs)
            sync.run(call.guard.enter())
        except (MissingIdempotencyKey, KeyInProgress, KeyReused) as exc:
            answer = _refusal(runs, args, kwargs, exc)
            if answer is None:
                raise
            return answer
        if call.guard.duplicate:
            return call.replay()
        try:
            value = fn(*call.args, **call.kwargs)
        except BaseException as exc:
            sync.run(call.guard.exit(exc))
            raise
        if take_postponed():
            sync.run(call.guard.let_go())
            return None
        result = call.finished(value)
        sync.run(call.guard.exit(None))
        return result

    return wrapper


def _refusal(runs: _Runs, args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception) -> Any:
    request = _request_in((*args, *kwargs.values()))
    if request is None:
        return None
    return _Call(runs, args, kwargs, {}, request).refused(exc)


class _RecordingOut(func.Out[Any]):
    """Passes `set` on to the host's holder and remembers the value, to record it."""

    def __init__(self, inner: func.Out[Any]) -> None:
        self._inner = inner
        self.set_ = False

    def set(self, val: Any) -> None:
        self._inner.set(val)
        self.set_ = True

    def get(self) -> Any:
        return self._inner.get()


def _request_in(values: Iterable[Any]) -> func.HttpRequest | None:
    return next((v for v in values if isinstance(v, func.HttpRequest)), None)


def _fingerprint(request: func.HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method.upper(), request.url.split("?")[0], request.get_body() or b""):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _problem(status: int, title: str, detail: str) -> func.HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/problem+json"
    )


def _encode(value: Any, guard: Guard) -> Any:
    """The recordable form of a value; None (with a warning) if it cannot be kept."""
    if isinstance(value, func.HttpResponse):
        value = {
            "$http": {
                "status": value.status_code,
                "mimetype": value.mimetype,
                "charset": value.charset,
                "headers": dict(value.headers),
                "body": base64.b64encode(value.get_body() or b"").decode(),
            }
        }
    elif isinstance(value, bytes | bytearray):
        value = {"$bytes": base64.b64encode(bytes(value)).decode()}
    try:
        dump_json(value, "result", guard.ledger.result_limit)
    except InvalidArgument as exc:
        log.warning(
            "idempotency key %r: value not recorded (%s); duplicates will get None", guard.key, exc
        )
        return None
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return base64.b64decode(value["$bytes"])
    if isinstance(value, dict) and set(value) == {"$http"}:
        http = value["$http"]
        headers = {k: v for k, v in http["headers"].items() if k.lower() != "content-type"}
        return func.HttpResponse(
            base64.b64decode(http["body"]),
            status_code=http["status"],
            headers=headers,
            mimetype=http["mimetype"],
            charset=http["charset"],
        )
    return value
