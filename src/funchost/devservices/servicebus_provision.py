"""Giving a running emulator the queues, topics and subscriptions an app's bindings name,
through its administration API (`ServiceBusAdministrationClient`, unmodified).

`funchost dev` writes the app's entities into the emulator's config when it starts it; a
host restarted by `--reload` for new functions needs the new ones on the emulator that is
already running.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from funchost.devservices.servicebus_entities import AppEntities

# The emulator's line on stderr (sbemulator.__main__), before its ready lines.
ADMIN_LINE = re.compile(r"administration API on https?://[^\s:]+:(\d+)")


def admin_port(emulator_output: str) -> int | None:
    """The administration API's port from the emulator's output; None when it serves none."""
    found = ADMIN_LINE.search(emulator_output)
    return int(found.group(1)) if found else None


async def create_missing(port: int, entities: AppEntities) -> list[str]:
    """Create every queue, topic and subscription of `entities` the emulator whose
    administration API is on `port` lacks; their descriptions."""
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    from sbemulator.admin.http_server import CERTIFICATE

    connection = (
        f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
    )
    created: list[str] = []
    admin = ServiceBusAdministrationClient.from_connection_string(
        connection, connection_verify=str(CERTIFICATE)
    )
    async with admin:
        for name, sessions in sorted(entities.queues().items()):
            await _create(
                admin.create_queue(name, requires_session=sessions), f"queue '{name}'", created
            )
        for topic, subscriptions in sorted(entities.topics().items()):
            await _create(admin.create_topic(topic), f"topic '{topic}'", created)
            for sub in sorted(subscriptions):
                what = f"subscription '{sub}' of topic '{topic}'"
                await _create(admin.create_subscription(topic, sub), what, created)
    return created


async def _create(creation: Awaitable[Any], what: str, created: list[str]) -> None:
    """Await `creation`; `what` joins `created` unless the entity existed."""
    from azure.core.exceptions import ResourceExistsError

    try:
        await creation
    except ResourceExistsError:
        return
    created.append(what)
