"""`@idempotent`: exactly-once effects for any trigger, sync or async.

    ledger = IdempotencyLedger(StorageAccount.from_settings())

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    @idempotent(ledger, key=message_id())
    async def place_order(msg: func.QueueMessage) -> None:
        ...

Put `@idempotent` *below* the trigger decorator, so the host registers the wrapped function.
The wrapper keeps the function's name and signature (`functools.wraps`), which the Functions
worker reads to bind the trigger and outputs.

On a duplicate the function is not called and the first run's result is returned instead
(JSON values, and `func.HttpResponse` for HTTP functions, are recorded). A synchronous
function runs in the caller's thread; the ledger calls go through `shared.sync`.
"""

from __future__ import annotations

import base64
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from .. import sync
from .._tables import dump_json
from ..errors import InvalidArgument, MissingIdempotencyKey
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
        With no key in the invocation: raise `MissingIdempotencyKey` (True) or run the
        function without protection (False).
    record_failures:
        Record an exception as the outcome (duplicates then return None without retrying)
        instead of releasing the claim for the redelivery to retry.

    Returns
    -------
    A decorator that keeps the function's name, signature and sync/async nature.

    Raises (from the wrapped call)
    ------------------------------
    KeyInProgress
        Another worker is processing the same key; the message should be redelivered.
    MissingIdempotencyKey
        No key and ``required=True``.
    ClaimLost
        The lease expired mid-run and another worker took over.
    """

    def decorate(fn: F) -> F:
        guards = _Guards(fn, ledger, key, scope or fn.__name__, required, record_failures)
        if inspect.iscoroutinefunction(fn):
            return _async_wrapper(fn, guards)  # type: ignore[return-value]  # same signature as fn
        return _sync_wrapper(fn, guards)  # type: ignore[return-value]  # same signature as fn

    return decorate


class _Guards:
    """Makes the Guard of one call of `fn` from its arguments (None: run unprotected)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        ledger: LedgerSource,
        key: KeyFunc,
        scope: str,
        required: bool,
        record_failures: bool,
    ) -> None:
        self._fn = fn
        self._signature = inspect.signature(fn)
        self._ledger = ledger
        self._key = key
        self._scope = scope
        self._required = required
        self._record_failures = record_failures

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Guard | None:
        bound = self._signature.bind_partial(*args, **kwargs).arguments
        value = self._key(bound)
        name = self._fn.__name__
        if value is None:
            if self._required:
                raise MissingIdempotencyKey(f"{name}: no idempotency key in this invocation")
            log.warning("%s: no idempotency key; running without protection", name)
            return None
        ledger = self._ledger if isinstance(self._ledger, IdempotencyLedger) else self._ledger()
        return Guard(ledger, value, scope=self._scope, record_failures=self._record_failures)


def _async_wrapper(fn: Callable[..., Any], guards: _Guards) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        guard = guards(args, kwargs)
        if guard is None:
            return await fn(*args, **kwargs)
        await guard.enter()
        if guard.duplicate:
            return _replay(guard, fn.__name__)
        try:
            value = await fn(*args, **kwargs)
        except BaseException as exc:
            await guard.exit(exc)
            raise
        guard.result = _encode(value, guard)
        await guard.exit(None)
        return value

    return wrapper


def _sync_wrapper(fn: Callable[..., Any], guards: _Guards) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        guard = guards(args, kwargs)
        if guard is None:
            return fn(*args, **kwargs)
        sync.run(guard.enter())
        if guard.duplicate:
            return _replay(guard, fn.__name__)
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:
            sync.run(guard.exit(exc))
            raise
        guard.result = _encode(value, guard)
        sync.run(guard.exit(None))
        return value

    return wrapper


def _replay(guard: Guard, name: str) -> Any:
    record = guard.record
    assert record is not None
    log.info(
        "%s: duplicate of idempotency key %r (first done at %s, attempt %d); not redone",
        name,
        guard.key,
        record.completed_at.isoformat(),
        record.attempt,
    )
    if record.outcome is Outcome.FAILED:
        log.warning(
            "%s: key %r failed before (%s); failure recorded, not retried",
            name,
            guard.key,
            record.error,
        )
        return None
    return _decode(record.result)


def _encode(value: Any, guard: Guard) -> Any:
    """The recordable form of a return value; None (with a warning) if it cannot be kept."""
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
    try:
        dump_json(value, "result", guard.ledger.result_limit)
    except InvalidArgument as exc:
        log.warning(
            "idempotency key %r: result not recorded (%s); duplicates will get None", guard.key, exc
        )
        return None
    return value


def _decode(value: Any) -> Any:
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
