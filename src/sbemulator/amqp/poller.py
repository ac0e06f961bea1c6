"""proton's reactor waits on its sockets with `select()`, which cannot watch a descriptor
numbered 1024 or above: with a thousand connections open (or a flood of half-open
ones), the next socket made the reactor raise and the emulator stop. `use_poll()`
gives proton's IO layer a select that falls back to `poll()`, with the same contract
(lists of the objects that are readable and writable), when a descriptor is past
select's ceiling; below it, select() itself stays (its C loop is the faster of the two
for a few sockets). It changes proton's `IO` class for the whole process, so only the
emulator's process calls it.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import Any

from proton._io import IO

_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR


def select_or_poll(
    readers: Sequence[Any], writers: Sequence[Any], errors: Sequence[Any], timeout: Any = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """`select.select`, or `poll_select` when a descriptor is beyond select's reach."""
    try:
        return select.select(readers, writers, errors, timeout)
    except ValueError:  # "filedescriptor out of range in select()"
        return poll_select(readers, writers, errors, timeout)


def poll_select(
    readers: Sequence[Any], writers: Sequence[Any], _errors: Sequence[Any], timeout: Any = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """What `select.select(readers, writers, writers, timeout)` answers, by `poll()`;
    like select, a socket that hung up or failed is reported readable (and writable if
    it was waited on for writing). Nothing comes back as exceptional: proton adds that
    list to the writable one, for Windows only."""
    poller = select.poll()
    masks: dict[int, int] = {}
    owners: dict[int, Any] = {}
    for obj in readers:
        fd = obj.fileno()
        masks[fd] = masks.get(fd, 0) | select.POLLIN | select.POLLPRI
        owners[fd] = obj
    writing = set()
    for obj in writers:
        fd = obj.fileno()
        masks[fd] = masks.get(fd, 0) | select.POLLOUT
        owners[fd] = obj
        writing.add(fd)
    for fd, mask in masks.items():
        poller.register(fd, mask)
    wait = None if timeout is None else max(0, round(timeout * 1000))
    readable: list[Any] = []
    writable: list[Any] = []
    for fd, events in poller.poll(wait):
        if events & _READABLE and fd in owners and masks[fd] & select.POLLIN:
            readable.append(owners[fd])
        if events & _WRITABLE and fd in writing:
            writable.append(owners[fd])
    return readable, writable, []


def use_poll() -> None:
    """Make proton's reactor wait with `poll()` (idempotent)."""
    if hasattr(select, "poll"):
        IO.select = staticmethod(select_or_poll)  # type: ignore[method-assign]  # a drop-in
