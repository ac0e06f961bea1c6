"""The wait both lease keepers (locks, idempotency claims) make between renewals."""

from __future__ import annotations

import asyncio


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait until `stop` is set or `seconds` pass; True if it was set (time to quit)."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        return False
    return True
