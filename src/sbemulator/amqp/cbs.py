"""The `$cbs` node (claims-based security): the SDK puts a token before it attaches to an
entity. By default any token is accepted, as the official emulator accepts any; with a
key (`--require-key`) the token must be signed with it and unexpired, as in Service Bus,
and the connection may then use only the entities the token covers."""

from __future__ import annotations

import logging

from ..config.sas import InvalidToken, SharedAccessKey
from .control_messages import Request, encode_response, status_properties

log = logging.getLogger(__name__)


def handle_cbs(
    request: Request, key: SharedAccessKey | None, now: float, granted: list[str]
) -> bytes:
    """The reply to a `$cbs` request (the same message-id goes back as correlation-id).
    A token accepted under `key` adds the resource it covers to `granted`."""
    operation = request.prop("operation")
    if operation != "put-token":
        log.warning("unsupported $cbs operation %r", operation)
        return encode_response(
            request.message_id,
            status_properties(400, f"unsupported $cbs operation {operation!r}", hyphenated=True),
        )
    log.debug("put-token for %s", request.prop("name"))
    if key is not None:
        token = request.body.decode() if isinstance(request.body, bytes) else request.body
        try:
            granted.append(key.check(token, now))
        except InvalidToken as exc:
            log.info("refused a token for %s: %s", request.prop("name"), exc)
            # 401 is what Service Bus answers; the SDK raises ServiceBusAuthenticationError.
            return encode_response(
                request.message_id, status_properties(401, str(exc), hyphenated=True)
            )
    return encode_response(request.message_id, status_properties(200, "OK", hyphenated=True))
