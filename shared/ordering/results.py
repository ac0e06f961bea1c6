"""Typed outcomes shared by the ordering adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import SequenceGapError
from .sequencer import Gap, Sequencer, Turn

log = logging.getLogger(__name__)


class GapPolicy(str, Enum):
    """What to do when a gap outlives the sequencer's `gap_timeout`. Both log it."""

    RAISE = "raise"  # raise SequenceGapError: messages behind the gap fail (-> poison/DLQ)
    SKIP = "skip"  # declare the missing numbers lost and go on from the lowest waiting one


class Outcome(str, Enum):
    """What happened to one message."""

    APPLIED = "Applied"  # the handler ran for it, in order
    HELD_BACK = "HeldBack"  # requeued with a delay / deferred until the gap before it fills
    STALE = "Stale"  # its number was applied already: dropped without running the handler


@dataclass(frozen=True)
class OrderingResult:
    """One message's outcome.

    Attributes
    ----------
    value:
        The handler's return value, for APPLIED.
    gap:
        For HELD_BACK: the gap it waits behind.
    skipped_gap:
        With `GapPolicy.SKIP`: the gap that timed out and was skipped while handling this
        message (the report of the lost numbers).
    """

    key: str
    sequence: int
    outcome: Outcome
    value: Any = None
    gap: Gap | None = None
    skipped_gap: Gap | None = None


async def settle_gap(
    sequencer: Sequencer, turn: Turn, policy: GapPolicy
) -> tuple[Turn, Gap | None]:
    """For an EARLY turn whose gap timed out: report it, then raise or skip past it.

    Returns the turn to act on (re-judged after a skip) and the skipped gap, if any.

    Raises
    ------
    SequenceGapError
        With `GapPolicy.RAISE`.
    """
    if turn.gap is None or not turn.gap_expired:
        return turn, None
    gap = turn.gap
    if policy is GapPolicy.RAISE:
        log.error(
            "ordering key %r: sequence %d missing for %.1fs (message %d waiting); "
            "reporting the gap",
            gap.key,
            gap.expected,
            gap.waited.total_seconds(),
            turn.sequence,
        )
        raise SequenceGapError(gap.key, gap.expected, turn.sequence, gap.waited)
    log.warning(
        "ordering key %r: sequence %d missing for %.1fs; skipping to %d",
        gap.key,
        gap.expected,
        gap.waited.total_seconds(),
        gap.lowest_waiting,
    )
    await sequencer.skip_to(gap.key, gap.lowest_waiting)
    return await sequencer.begin(turn.key, turn.sequence), gap
