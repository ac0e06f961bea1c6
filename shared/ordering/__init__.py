"""Per-key sequence ordering: apply messages of one key in sequence-number order.

- `Sequencer`: the per-key state (next number, turn, open gap) in a Table, ETag-safe.
- `QueueOrdering`: Storage queues; early messages are requeued with a visibility delay.
- `ServiceBusOrdering`: Service Bus receivers; early messages are deferred, then fetched
  back by sequence number when their turn comes; `sweep` for gaps nobody came back to.
- `GapPolicy`: on a gap timeout, `RAISE` (`SequenceGapError`) or `SKIP` the lost numbers;
  either way it is logged, and the outcome says so (`OrderingResult.gap`).

A number already applied is dropped (STALE), and a duplicate arriving while its number is
being applied is held back (BUSY), so duplicates rarely reach the handler; the one window
left (a crash after the handler, before the commit) re-runs it after the turn lease, so
give the handler's effect an idempotency key too (`shared.idempotency`) when that matters.
"""

from __future__ import annotations

from .deferred import DeferredIndex
from .queue import QueueOrdering
from .results import GapPolicy, OrderingResult, Outcome
from .sequencer import DEFAULT_TABLE, Gap, Sequencer, Turn, Verdict
from .servicebus import ServiceBusOrdering, SweepReport

__all__ = [
    "DEFAULT_TABLE",
    "DeferredIndex",
    "Gap",
    "GapPolicy",
    "OrderingResult",
    "Outcome",
    "QueueOrdering",
    "Sequencer",
    "ServiceBusOrdering",
    "SweepReport",
    "Turn",
    "Verdict",
]
