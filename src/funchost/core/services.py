"""What the host hands every trigger and binding plug-in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from funchost.config.host_config import HostConfig
from funchost.core.clients import ClientCache
from funchost.core.invocation import Invoke

if TYPE_CHECKING:
    from funchost.http.route_table import RouteTable
    from funchost.storage.notify import QueueNotifier


@dataclass(frozen=True)
class HostServices:
    """Shared, per-host state. Plug-ins keep their own state on their own instances.

    Attributes:
        invoke: runs an invocation through the function's wrapper stack.
        stopping: set when the host starts to drain; listeners stop taking new work.
        routes: where HTTP-triggered functions register their routes.
        notifier: the same-host fast path (queue output -> queue listener, semantics §2.1.7).
        plugin_state: per-host objects plug-ins share between their listeners (for example
            the one blob scanner serving every blob-triggered function), keyed by plug-in.
    """

    config: HostConfig
    environ: Mapping[str, str]
    host_id: str
    instance_id: str
    clients: ClientCache
    invoke: Invoke
    stopping: anyio.Event
    routes: RouteTable
    notifier: QueueNotifier
    plugin_state: dict[str, Any] = field(default_factory=dict)
