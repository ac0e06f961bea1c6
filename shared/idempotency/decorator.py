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
        signature = inspect.signature(fn)
        the_scope = scope or fn.__name__

        def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Guard | None:
            bound = signature.bind_partial(*args, **kwargs).arguments
            value = key(bound)
            if value is None:
                if required:
                    raise MissingIdempotencyKey(
                        f"{fn.__name__}: no idempotency key in this invocation"
                    )
                log.warning("%s: no idempotency key; running without protection", fn.__name__)
                return None
            the_ledger = ledger if isinstance(ledger, IdempotencyLedger) else ledger()
            return Guard(the_ledger, value, scope=the_scope, record_failures=record_failures)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                guard = prepare(args, kwargs)
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

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            guard = prepare(args, kwargs)
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

        return sync_wrapper  # type: ignore[return-value]

    return decorate


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
