"""Ordering for Storage-queue-triggered functions: early messages are requeued with a
visibility delay until the gap before them fills.

    ordering = QueueOrdering(Sequencer(account), account, "orders")

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    async def on_order(msg: func.QueueMessage) -> None:
        event = msg.get_json()
        await ordering.handle(msg, key=event["orderId"], sequence=event["seq"],
                              handler=lambda: apply(event))

Returning normally lets the host delete the original message; a held-back one lives on as
the requeued copy (a new message id: take idempotency keys from the body, not the id).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import azure.functions as func

from ..storage import StorageAccount
from .results import GapPolicy, OrderingResult, Outcome, settle_gap
from .sequencer import Sequencer, Verdict


class QueueOrdering:
    """Applies queue messages per key in sequence order.

    Parameters
    ----------
    sequencer:
        The per-key sequence state.
    account, queue:
        The queue the messages come from (early ones are put back on it).
    hold_for:
        Visibility delay of a requeued early message: how often it re-checks the gap.
    gap_policy:
        What to do when a gap outlives the sequencer's `gap_timeout`.
    base64_encode:
        Requeue base64-encoded, as the Functions queue trigger expects by default.
    """

    def __init__(
        self,
        sequencer: Sequencer,
        account: StorageAccount,
        queue: str,
        *,
        hold_for: timedelta = timedelta(seconds=5),
        gap_policy: GapPolicy = GapPolicy.RAISE,
        base64_encode: bool = True,
    ) -> None:
        self.sequencer = sequencer
        self.account = account
        self.queue = queue
        self.hold_for = hold_for
        self.gap_policy = gap_policy
        self.base64_encode = base64_encode

    async def handle(
        self,
        message: func.QueueMessage | bytes,
        *,
        key: str,
        sequence: int,
        handler: Callable[[], Awaitable[Any]],
    ) -> OrderingResult:
        """Run `handler` if it is this message's turn; otherwise requeue or drop it.

        Parameters
        ----------
        message:
            The trigger message (or its body), requeued as is if held back.
        key, sequence:
            The ordering key and this message's number in it (from the message body).
        handler:
            The work; called at most once, only when the message is next.

        Returns
        -------
        OrderingResult
            APPLIED (with the handler's value), HELD_BACK or STALE.

        Raises
        ------
        SequenceGapError
            The gap before it timed out under `GapPolicy.RAISE` (the host retries the
            message, and after maxDequeueCount moves it to the poison queue).
        Exception
            Whatever `handler` raised (the turn is given back first).
        """
        turn = await self.sequencer.begin(key, sequence)
        turn, skipped = await settle_gap(self.sequencer, turn, self.gap_policy)
        if turn.verdict is Verdict.STALE:
            return OrderingResult(key, sequence, Outcome.STALE, skipped_gap=skipped)
        if turn.verdict is not Verdict.APPLY:
            await self._requeue(message)
            return OrderingResult(
                key, sequence, Outcome.HELD_BACK, gap=turn.gap, skipped_gap=skipped
            )
        try:
            value = await handler()
        except BaseException:
            await self.sequencer.abort(turn)
            raise
        await self.sequencer.commit(turn)
        return OrderingResult(key, sequence, Outcome.APPLIED, value, skipped_gap=skipped)

    async def _requeue(self, message: func.QueueMessage | bytes) -> None:
        body = message if isinstance(message, bytes) else message.get_body()
        content = base64.b64encode(body).decode() if self.base64_encode else body.decode()
        client = await self.account.ensure_queue(self.queue)
        await client.send_message(
            content, visibility_timeout=max(1, math.ceil(self.hold_for.total_seconds()))
        )
