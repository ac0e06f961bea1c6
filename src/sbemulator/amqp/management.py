"""The `<entity>/$management` node: request/response operations the SDK uses beyond
plain send and receive (renew lock, peek, schedule, deferral, session state, ...).

Replies carry `statusCode`/`statusDescription` (camelCase, unlike `$cbs`) and, on
failure, `errorCondition`, which the SDK maps to its exception types.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from proton import Data, timestamp

from ..broker.message import MessageState
from ..broker.message_queue import MessageQueue, Outcome
from ..broker.namespace import Broker
from ..errors import ArgumentError, BrokerError, NotImplementedOperation, Unauthorized
from .control_messages import Request, amqp_array, encode_response, status_properties
from .message_parsing import parse_envelope
from .message_rendering import render

log = logging.getLogger(__name__)

_DISPOSITIONS = {
    "completed": Outcome.COMPLETE,
    "abandoned": Outcome.ABANDON,
    "defered": Outcome.DEFER,
    "deferred": Outcome.DEFER,
    "suspended": Outcome.DEAD_LETTER,
}
# receiver-settle-mode in receive-by-sequence-number: 0 = receive-and-delete.
_RECEIVE_AND_DELETE = 0
# get-message-sessions lists sessions with active messages or state when
# last-updated-time is .NET's DateTime.MaxValue, as clients encode it (10000-01-01, in
# ms); any earlier time lists the sessions whose state was updated after it.
_DATETIME_MAX_MS = 253402300800000
_SESSION_PAGE = 100

Handler = Callable[[str, dict[str, Any], object | None, float], tuple[int, Any]]


def _ms(seconds: float) -> timestamp:
    return timestamp(round(seconds * 1000))


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _tokens(body: dict[str, Any]) -> list[uuid.UUID]:
    out = []
    for value in _items(body.get("lock-tokens")):
        try:
            out.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise ArgumentError(f"invalid lock token {value!r}") from None
    return out


def _ints(body: dict[str, Any], key: str) -> list[int]:
    values = _items(body.get(key))
    if not all(isinstance(v, int) for v in values):
        raise ArgumentError(f"'{key}' must be a list of integers")
    return [int(v) for v in values]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class ManagementNode:
    """Answers management requests for every entity of a broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._ops: dict[str, Handler] = {
            "com.microsoft:renew-lock": self._renew_lock,
            "com.microsoft:peek-message": self._peek,
            "com.microsoft:schedule-message": self._schedule,
            "com.microsoft:cancel-scheduled-message": self._cancel,
            "com.microsoft:update-disposition": self._update_disposition,
            "com.microsoft:receive-by-sequence-number": self._receive_by_sequence,
            "com.microsoft:get-session-state": self._get_session_state,
            "com.microsoft:set-session-state": self._set_session_state,
            "com.microsoft:renew-session-lock": self._renew_session_lock,
            "com.microsoft:get-message-sessions": self._message_sessions,
        }

    def handle(
        self, path: str, request: Request, owner: object | None, now: float, *, allowed: bool = True
    ) -> bytes:
        """The encoded reply to `request`, sent to `path/$management` by the receiver
        `owner` (found from the request's associated-link-name; None if unknown);
        `allowed` is False on a connection without a token for `path`."""
        operation = str(request.prop("operation") or "")
        handler = self._ops.get(operation)
        body = request.body if isinstance(request.body, dict) else {}
        try:
            if not allowed:
                raise Unauthorized(f"Unauthorized access to '{path}': no valid token for it.")
            if handler is None:
                raise NotImplementedOperation(
                    f"The management operation {operation!r} is not supported by the emulator."
                )
            status, response = handler(path, {str(k): v for k, v in body.items()}, owner, now)
            description = "OK" if status == 200 else "No Content"
            props = status_properties(status, description)
        except BrokerError as exc:
            log.debug("management %s on %s failed: %s", operation, path, exc.description)
            props = status_properties(exc.status, exc.description, condition=exc.condition)
            response = None
        return encode_response(request.message_id, props, response)

    def _queue(self, path: str) -> MessageQueue:
        return self.broker.receiver_queue(path)

    def _renew_lock(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        queue = self._queue(path)
        expirations = [_ms(queue.renew_lock(token, now)) for token in _tokens(body)]
        return 200, {"expirations": amqp_array(Data.TIMESTAMP, expirations)}

    def _peek(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        queue = self._queue(path)
        start = int(body.get("from-sequence-number") or 0)
        count = int(body.get("message-count") or 1)
        found = queue.peek(start, count, _text(body.get("session-id")))
        if not found:
            return 204, None
        return 200, {"messages": [{"message": render(m)} for m in found]}

    def _schedule(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        envelopes = []
        for item in _items(body.get("messages")):
            raw = item.get("message") if isinstance(item, dict) else None
            if not isinstance(raw, bytes):
                raise ArgumentError("each scheduled message needs a binary 'message'")
            envelopes.append(parse_envelope(raw))
        seqs = self.broker.send(path, envelopes, now)
        return 200, {"sequence-numbers": amqp_array(Data.LONG, (s or 0 for s in seqs))}

    def _cancel(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        self.broker.cancel_scheduled(path, _ints(body, "sequence-numbers"))
        return 200, {}

    def _update_disposition(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        status = _text(body.get("disposition-status")) or ""
        outcome = _DISPOSITIONS.get(status.lower())
        if outcome is None:
            raise ArgumentError(f"unknown disposition-status {status!r}")
        queue = self._queue(path)
        for token in _tokens(body):
            queue.settle(
                token,
                outcome,
                now,
                owner=owner,
                reason=_text(body.get("deadletter-reason")),
                description=_text(body.get("deadletter-description")),
            )
        return 200, {}

    def _receive_by_sequence(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        queue = self._queue(path)
        session_id = _text(body.get("session-id"))
        session = queue.held_session(session_id, owner, now) if session_id else None
        peek_lock = body.get("receiver-settle-mode") != _RECEIVE_AND_DELETE
        found = queue.receive_deferred(
            _ints(body, "sequence-numbers"), owner, now, peek_lock=peek_lock, session=session
        )
        if not found:
            return 204, None
        messages = []
        for msg in found:
            item: dict[str, Any] = {
                "message": render(
                    msg,
                    locked_until=msg.locked_until if peek_lock else None,
                    state=MessageState.DEFERRED,
                )
            }
            if peek_lock:
                item["lock-token"] = msg.lock_token
            messages.append(item)
        return 200, {"messages": messages}

    def _session_id(self, body: dict[str, Any]) -> str:
        session_id = _text(body.get("session-id"))
        if not session_id:
            raise ArgumentError("'session-id' is required")
        return session_id

    def _get_session_state(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        state = self._queue(path).session_state(self._session_id(body), owner, now)
        return 200, {"session-state": state}

    def _set_session_state(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        state = body.get("session-state")
        if state is not None and not isinstance(state, bytes):
            raise ArgumentError("'session-state' must be binary")
        self._queue(path).set_session_state(self._session_id(body), state, owner, now)
        return 200, {}

    def _renew_session_lock(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        until = self._queue(path).renew_session(self._session_id(body), owner, now)
        return 200, {"expiration": _ms(until)}

    def _message_sessions(
        self, path: str, body: dict[str, Any], owner: object | None, now: float
    ) -> tuple[int, Any]:
        updated = body.get("last-updated-time")
        after = None
        if isinstance(updated, int) and updated < _DATETIME_MAX_MS:
            after = updated / 1000.0
        ids = self._queue(path).session_ids(after)
        skip = int(body.get("skip") or 0)
        top = int(body.get("top") or _SESSION_PAGE)
        page = ids[skip : skip + top]
        if not page:
            return 204, None
        return 200, {"skip": skip + len(page), "sessions-ids": amqp_array(Data.STRING, page)}
