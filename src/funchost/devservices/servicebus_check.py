"""Which of an app's Service Bus entities a running emulator (or namespace) lacks.

`funchost dev` reuses an emulator it did not start, so it cannot give it the app's
entities: each queue and subscription a binding names is peeked once (all at once: the
Python SDK takes about a second per link), and a missing one makes its function "in error"
with the reason, instead of a listener that fails without saying why (issue 17 item 4).
Topics an output sends to cannot be checked without sending; they are left out.
"""

from __future__ import annotations

import logging

import anyio

from funchost.devservices.servicebus_entities import AppEntities, EntityUse

log = logging.getLogger("funchost.dev")

CHECK_SECONDS = 10.0


async def _exists(client: object, use: EntityUse) -> bool | None:
    """True or False, or None when it could not be told (another error, a timeout)."""
    from azure.servicebus.aio import ServiceBusClient
    from azure.servicebus.exceptions import MessagingEntityNotFoundError, ServiceBusError

    assert isinstance(client, ServiceBusClient)
    receiver = (
        client.get_queue_receiver(use.queue)
        if use.queue
        else client.get_subscription_receiver(str(use.topic), str(use.subscription))
    )
    try:
        async with receiver:
            await receiver.peek_messages(max_message_count=1)
    except MessagingEntityNotFoundError:
        return False
    except (ServiceBusError, OSError) as exc:
        log.debug("Could not check Service Bus %s: %s", use.description, exc)
        return None
    return True


async def missing_entities(connection_string: str, entities: AppEntities) -> list[EntityUse]:
    """The uses whose queue or subscription does not exist on the namespace."""
    from azure.servicebus.aio import ServiceBusClient

    checked = [u for u in entities.uses if u.queue or u.subscription]
    distinct = {(u.queue, u.topic, u.subscription): u for u in checked}
    found: dict[tuple[str | None, str | None, str | None], bool | None] = {}
    client = ServiceBusClient.from_connection_string(connection_string, retry_total=0)
    async with client:

        async def check(key: tuple[str | None, str | None, str | None], use: EntityUse) -> None:
            found[key] = await _exists(client, use)

        with anyio.move_on_after(CHECK_SECONDS):
            async with anyio.create_task_group() as tg:
                for key, use in distinct.items():
                    tg.start_soon(check, key, use)
    return [u for u in checked if found.get((u.queue, u.topic, u.subscription)) is False]
