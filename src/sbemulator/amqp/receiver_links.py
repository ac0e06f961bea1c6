"""Receiver links: the server side of a `ServiceBusReceiver`.

A `Consumer` sends messages while the client gives credit, answers `drain` when it has
nothing, and turns the client's dispositions into broker settlements, echoing the outcome
settled (the SDK waits for that echo) or rejecting with the lock-lost condition.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from proton import Condition, Delivery, Link, Sender, Terminus, symbol

from ..broker.message_queue import MessageQueue, Outcome
from ..broker.sessions import Session
from ..errors import BrokerError
from .control_messages import owned
from .message_rendering import render

log = logging.getLogger(__name__)

SESSION_FILTER = "com.microsoft:session-filter"
LOCKED_UNTIL_UTC = "com.microsoft:locked-until-utc"
DOTNET_EPOCH_TICKS = 621355968000000000  # 0001-01-01 to 1970-01-01 in 100 ns ticks


def dotnet_ticks(seconds: float) -> int:
    return round(seconds * 10_000_000) + DOTNET_EPOCH_TICKS


def remote_session_filter(link: Link) -> tuple[bool, str | None]:
    """(present, session id) from the source filter of the client's attach; a present
    filter with a null id asks for the next available session."""
    data = link.remote_source.filter
    data.rewind()
    if not data.next():
        return False, None
    filters = data.get_object()
    if not isinstance(filters, dict):
        return False, None
    for key, value in filters.items():
        if str(key) == SESSION_FILTER:
            # owned(): a described filter's value, and binary copied out of proton's buffer.
            session_id = owned(value)
            if isinstance(session_id, bytes):
                session_id = session_id.decode("utf-8")
            return True, None if session_id is None else str(session_id)
    return False, None


def _dead_letter_info(delivery: Delivery) -> tuple[str | None, str | None]:
    condition = delivery.remote.condition
    if condition is None:
        return None, None
    info = condition.info if isinstance(condition.info, dict) else {}
    values = {str(k): v for k, v in info.items()}
    reason = values.get("DeadLetterReason")
    description = values.get("DeadLetterErrorDescription", condition.description)
    return (
        None if reason is None else str(reason),
        None if description is None else str(description),
    )


class Consumer:
    """One receiver link on one queue, subscription or dead-letter queue."""

    def __init__(
        self,
        link: Sender,
        queue: MessageQueue,
        *,
        peek_lock: bool,
        owner_key: Any,
        wants_session: bool = False,
        session_id: str | None = None,
        deadline: float = 0.0,
    ) -> None:
        self.link = link
        self.queue = queue
        self.peek_lock = peek_lock
        self.owner_key = owner_key  # the connection state, for clean-up
        self.wants_session = wants_session
        self.requested_session = session_id  # None: next available
        self.session: Session | None = None
        self.deadline = deadline  # for a next-available attach still waiting for a session
        self.opened = False
        self.link_closed = False  # we detached it (error); no more deliveries
        self.released = False  # forgotten by the server; its session lock is given up

    @property
    def name(self) -> str:
        return str(self.link.name)

    # -- attach --------------------------------------------------------------------
    def open(self, max_message_size: int) -> None:
        """Answer the client's attach, echoing its terminus (the SDK compares the source
        address byte for byte) and, for sessions, the session that was locked."""
        link = self.link
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.max_message_size = max_message_size
        if self.wants_session:
            # The SDK reads the session id from the echoed filter and the lock expiry from
            # a link property on every session attach, even one refused right after; it
            # checks that expiry before it looks at the detach error. A refused attach
            # therefore echoes the id asked for and a distant expiry, so the SDK raises
            # the error condition of the detach rather than a lock-expired error.
            if self.session is not None:
                session_id, until = self.session.id, self.session.locked_until
            else:
                session_id, until = self.requested_session or "", time.time() + 3600
            data = link.source.filter
            data.clear()
            data.put_map()
            data.enter()
            data.put_symbol(symbol(SESSION_FILTER))
            data.put_string(session_id)
            data.exit()
            link.properties = {symbol(LOCKED_UNTIL_UTC): dotnet_ticks(until)}
        link.open()
        self.opened = True

    def fail(self, error: BrokerError) -> None:
        """Detach with an error condition (opening first if the attach is unanswered)."""
        if self.link_closed:
            return
        if not self.opened and self.wants_session and self.requested_session is None:
            self._refuse_attach()
        elif not self.opened:
            self.open(0)
        self.link.condition = Condition(error.condition, error.description)
        self.link.close()
        self.link_closed = True

    def _refuse_attach(self) -> None:
        """Answer the attach of a next-available receiver that got no session with a
        null source, AMQP's way of refusing a link, as Service Bus does: the SDK then
        raises the detach's error (OperationTimeoutError) from the receiver's open,
        instead of handing back a receiver with an empty session id."""
        link = self.link
        link.source.type = Terminus.UNSPECIFIED  # encoded as a null source
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.open()
        self.opened = True

    # -- delivering ----------------------------------------------------------------
    @property
    def can_send(self) -> bool:
        return (
            self.opened and not self.link_closed and not self.released and self.link.credit > 0
        ) and (not self.wants_session or self.session is not None)

    def send_one(self, now: float) -> bool:
        """Deliver one message if there is credit and a message; True if one went out."""
        if not self.can_send:
            return False
        queue = self.queue
        if self.peek_lock:
            msg = queue.lock_next(self, now, self.session)
        else:
            msg = queue.take_next(now, self.session)
        if msg is None:
            return False
        if self.peek_lock:
            assert msg.lock_token is not None
            # The SDK computes lock_token = UUID(bytes_le=delivery_tag).
            tag = msg.lock_token.bytes_le
            payload = render(msg, locked_until=msg.locked_until)
        else:
            tag = uuid.uuid4().bytes_le
            payload = render(msg)
        link = self.link
        delivery = link.delivery(tag)  # type: ignore[arg-type]  # proton takes bytes too
        link.stream(payload)
        link.advance()
        if self.peek_lock:
            # proton hands tags back as text; keep the token on the delivery instead.
            delivery.sb_token = msg.lock_token
        else:
            delivery.settle()
        return True

    def finish_drain(self) -> None:
        """Nothing more to send: if the client asked to drain, give its credit back."""
        if self.opened and not self.link_closed and not self.released and self.link.drain_mode:
            self.link.drained()

    # -- settling ------------------------------------------------------------------
    def on_disposition(self, delivery: Delivery, now: float) -> None:
        state = delivery.remote_state
        if state == Delivery.ACCEPTED:
            outcome = Outcome.COMPLETE
        elif state == Delivery.REJECTED:
            outcome = Outcome.DEAD_LETTER
        elif state == Delivery.RELEASED:
            outcome = Outcome.RELEASE
        elif state == Delivery.MODIFIED:
            remote = delivery.remote
            # The SDK's abandon is modified(failed); defer adds undeliverable-here.
            outcome = (
                Outcome.DEFER
                if remote.undeliverable
                else Outcome.ABANDON
                if remote.failed
                else Outcome.RELEASE
            )
        else:
            return
        token = getattr(delivery, "sb_token", None)
        if not self.peek_lock or token is None:
            delivery.settle()
            return
        reason = description = None
        if outcome is Outcome.DEAD_LETTER:
            reason, description = _dead_letter_info(delivery)
        try:
            self.queue.settle(
                token, outcome, now, owner=self, reason=reason, description=description
            )
        except BrokerError as exc:
            log.debug("settlement %s of %s refused: %s", outcome.value, token, exc.description)
            delivery.local.condition = Condition(exc.condition, exc.description)
            delivery.update(Delivery.REJECTED)
            delivery.settle()
            return
        # Echo what was applied, settled: the SDK blocks until it sees this, and treats a
        # `rejected` that carries an error as a failed settlement, so none is attached.
        if state == Delivery.MODIFIED:
            delivery.local.failed = delivery.remote.failed
            delivery.local.undeliverable = delivery.remote.undeliverable
        delivery.update(state)
        delivery.settle()

    def release(self, now: float) -> None:
        """The link is gone: free its session (messages of a plain queue stay locked until
        their lock expires, as in Service Bus)."""
        if self.session is not None:
            self.queue.release_session(self.session, self, now)
            self.session = None
        self.released = True
