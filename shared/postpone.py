"""Postponing a delivery: "this message was put back for later; this run did nothing".

A function that re-sends its message for later (the priority gate stepping aside, a job
not due yet) and returns must not be recorded as done by `@idempotent`, or the re-sent
copy would be dropped as a duplicate. `postpone()` marks the current run; `@idempotent`
(`take_postponed()`) then lets the key go instead of completing it, whichever of the two
decorators is outermost. The mark lives in a context variable, so it belongs to this run
only (each invocation runs in its own context, sync functions in their thread included).
"""

from __future__ import annotations

import contextvars

_postponed: contextvars.ContextVar[bool] = contextvars.ContextVar("shared_postponed", default=False)


def postpone() -> None:
    """Mark the current run as put back for later."""
    _postponed.set(True)


def take_postponed() -> bool:
    """Whether the current run was postponed (and clear the mark)."""
    was = _postponed.get()
    if was:
        _postponed.set(False)
    return was
