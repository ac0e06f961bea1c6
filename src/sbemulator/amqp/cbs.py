"""The `$cbs` node (claims-based security): the SDK puts a token before it attaches to an
entity. The emulator accepts any token, as the official emulator accepts the
well-known development key, and only checks that the request is a put-token."""

from __future__ import annotations

import logging

from .control_messages import Request, encode_response, status_properties

log = logging.getLogger(__name__)


def handle_cbs(request: Request) -> bytes:
    """The reply to a `$cbs` request (the same message-id goes back as correlation-id)."""
    operation = request.prop("operation")
    if operation != "put-token":
        log.warning("unsupported $cbs operation %r", operation)
        return encode_response(
            request.message_id,
            status_properties(400, f"unsupported $cbs operation {operation!r}", hyphenated=True),
        )
    log.debug("put-token for %s", request.prop("name"))
    return encode_response(request.message_id, status_properties(200, "OK", hyphenated=True))
