"""Drive the sync and the aio SDK with the same test code.

`client(flavor, cs)` returns `azure.servicebus.ServiceBusClient` for "sync", and for "aio"
an `azure.servicebus.aio.ServiceBusClient` seen through `Blocking`, which runs each
coroutine to completion on the test's own event loop. Every call still goes through the
real aio SDK (its async transport, its async settlement path); only the waiting is done
for the test.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from azure.servicebus import ServiceBusClient
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient

FLAVORS = ("sync", "aio")


def _is_async_object(value: Any) -> bool:
    return type(value).__module__.startswith("azure.servicebus.aio")


class Blocking:
    """A synchronous view of an aio SDK object (client, sender, receiver, session)."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    @property
    def target(self) -> Any:
        return self._target

    def _wrap(self, value: Any) -> Any:
        return Blocking(value, self._loop) if _is_async_object(value) else value

    def _run(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run_until_complete(value)
        return self._wrap(value)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):

            def call(*args: Any, **kwargs: Any) -> Any:
                args = tuple(a.target if isinstance(a, Blocking) else a for a in args)
                return self._run(value(*args, **kwargs))

            return call
        return self._wrap(value)

    def __enter__(self) -> Blocking:
        self._run(self._target.__aenter__())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._run(self._target.__aexit__(*exc))


def client(
    flavor: str,
    connection_string: str,
    loop: asyncio.AbstractEventLoop | None = None,
    **kwargs: Any,
) -> Any:
    if flavor == "sync":
        return ServiceBusClient.from_connection_string(connection_string, **kwargs)
    assert loop is not None
    return Blocking(AsyncServiceBusClient.from_connection_string(connection_string, **kwargs), loop)
