"""Consumer-side idempotency: at-least-once delivery in, exactly-once effects out.

- `IdempotencyLedger`: claim / complete / fail / release / purge keys in a Table.
- `Guard` (``async with ledger.guard(key)``): claim, renew while working, record.
- `idempotent(ledger, key=...)`: the same as a decorator for any trigger, sync or async.
- Key functions: `message_id()`, `header("Idempotency-Key")`, `json_field("a.b")`,
  `argument("name")`.

See docs/jobs-library.md for the guarantees and their limits.
"""

from __future__ import annotations

from .decorator import idempotent
from .guard import Guard
from .keys import HEADER, KeyFunc, argument, header, json_field, message_id
from .ledger import (
    DEFAULT_TABLE,
    Claim,
    ClaimStatus,
    IdempotencyLedger,
    IdempotencyRecord,
    Outcome,
)

__all__ = [
    "DEFAULT_TABLE",
    "HEADER",
    "Claim",
    "ClaimStatus",
    "Guard",
    "IdempotencyLedger",
    "IdempotencyRecord",
    "KeyFunc",
    "Outcome",
    "argument",
    "header",
    "idempotent",
    "json_field",
    "message_id",
]
