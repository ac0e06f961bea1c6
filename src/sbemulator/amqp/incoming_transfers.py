"""Transfers the client sends: messages for an entity (single or a batch envelope), and
requests to the `$cbs` and `$management` nodes, whose replies go back on the node's
reply link."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from proton import Condition, Delivery, Link, symbol

from ..broker.namespace import Broker
from ..config.sas import SharedAccessKey, grants
from ..errors import BrokerError, MessageTooLarge
from .addresses import CBS, ENTITY
from .cbs import handle_cbs
from .codec import CodecError
from .connection_state import ConnectionState
from .control_messages import decode_request
from .management import ManagementNode
from .message_parsing import parse_envelope, split_batch


class Inbound:
    def __init__(
        self,
        broker: Broker,
        management: ManagementNode,
        clock: Callable[[], float],
        max_message_size: int,
        key: SharedAccessKey | None = None,
    ) -> None:
        self.broker = broker
        self.management = management
        self.clock = clock
        self.max_message_size = max_message_size
        self.key = key

    def handle(self, link: Link, delivery: Delivery, data: bytes, state: ConnectionState) -> None:
        """Process one complete transfer received on `link`, and settle it."""
        address = getattr(link, "sb_endpoint", None)
        if address is None:
            delivery.settle()
            return
        refusal = getattr(link, "sb_refusal", None)
        if refusal is not None:
            self._refuse(delivery, refusal.condition, refusal.description)
            delivery.settle()
            link.condition = Condition(refusal.condition, refusal.description)
            link.close()
            return
        if address.kind == ENTITY:
            self._on_send(address.path, data, delivery)
        else:
            self._on_request(link, address.kind, address.path, data, delivery, state)

    def _on_send(self, path: str, data: bytes, delivery: Delivery) -> None:
        try:
            if len(data) > self.max_message_size:
                raise MessageTooLarge(
                    f"The message ({len(data)} bytes) exceeds the maximum "
                    f"message size of {self.max_message_size} bytes."
                )
            parts = split_batch(data) or [data]
            self.broker.send(path, [parse_envelope(p) for p in parts], self.clock())
        except CodecError as exc:
            self._refuse(delivery, "amqp:decode-error", f"Malformed message: {exc}")
        except BrokerError as exc:
            self._refuse(delivery, exc.condition, exc.description)
        else:
            delivery.update(Delivery.ACCEPTED)
        delivery.settle()

    @staticmethod
    def _refuse(delivery: Delivery, condition: str, description: str) -> None:
        # The SDK's sender indexes the error's info field, so it must be present (and
        # proton leaves an empty map out).
        info: dict[Any, Any] = {symbol("com.microsoft:tracking-id"): str(uuid.uuid4())}
        delivery.local.condition = Condition(condition, description, info)
        delivery.update(Delivery.REJECTED)

    def _on_request(
        self,
        link: Link,
        kind: str,
        path: str,
        data: bytes,
        delivery: Delivery,
        state: ConnectionState,
    ) -> None:
        try:
            request = decode_request(data)
        except CodecError as exc:
            self._refuse(delivery, "amqp:decode-error", f"Malformed request: {exc}")
            delivery.settle()
            return
        if kind == CBS:
            reply, node = handle_cbs(request, self.key, self.clock(), state.granted), "$cbs"
        else:
            owner = state.consumers.get(str(request.prop("associated-link-name") or ""))
            allowed = self.key is None or any(grants(r, path) for r in state.granted)
            reply = self.management.handle(path, request, owner, self.clock(), allowed=allowed)
            node = f"{path}/$management"
        # The reply goes out before the request's settlement: the SDK reads one frame per
        # polling step, and it is waiting for the reply, not for the settlement.
        state.reply_link(link.session, request.reply_to or node).send(reply)
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
