"""What the dashboard's buttons do: replay or purge a poison / dead-lettered message (or all
of them) with `funchost.ops`, and run a function now (as
`POST /admin/functions/{name}` does)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from funchost.core.logs import brief
from funchost.errors import HostError
from funchost.http.dashboard.model import DashboardHost
from funchost.http.dashboard.snapshot import Snapshotter
from funchost.ops.letters import LetterNotFound

log = logging.getLogger("funchost.dashboard")


@dataclass(frozen=True)
class Result:
    status: int
    body: dict[str, Any]


def _fail(status: int, detail: str) -> Result:
    return Result(status, {"title": "Refused", "status": status, "detail": detail})


async def perform(
    name: str, form: Mapping[str, Any], host: DashboardHost, snapshots: Snapshotter
) -> Result:
    if name == "run":
        return await _run(host, str(form.get("function") or ""), form.get("input"))
    if name not in ("replay", "purge"):
        return _fail(404, f"No dashboard action '{name}'.")
    wanted = str(form.get("source") or "")
    source = next((s for s in snapshots.sources() if s.name == wanted), None)
    if source is None:
        return _fail(404, f"No poison or dead-letter source '{wanted}' in this app.")
    message = str(form.get("message") or "") or None
    where = source.failed_entity or source.entity
    try:
        tool = snapshots.tool(source)
        if name == "replay":
            done = await tool.replay(message)
            text = f"Replayed {len(done)} message(s) from {where} to {tool.target}."
        else:
            count = await tool.purge(message)
            text = f"Purged {count} message(s) from {where}."
    except LetterNotFound as exc:
        return _fail(409, f"{exc} (replayed or purged meanwhile?)")
    except Exception as exc:  # noqa: BLE001 - storage and broker errors, shown on the page
        log.warning("Dashboard %s on %s failed: %s", name, where, brief(exc))
        return _fail(502, brief(exc))
    log.info("Dashboard: %s", text)
    return Result(200, {"ok": True, "message": text})


async def _run(host: DashboardHost, name: str, value: Any) -> Result:
    spec = next((f for f in host.functions() if f.name.lower() == name.lower()), None)
    if spec is None:
        return _fail(404, f"No function named '{name}'.")
    listener = host.listener(spec.name)
    if listener is None or spec.trigger.type.lower() == "httptrigger":
        return _fail(409, f"'{spec.name}' cannot be run from here (not running, or HTTP).")
    text = None if value is None else str(value)

    async def run() -> None:
        try:
            await listener.call(text)
        except HostError as exc:
            log.error("Manual run of '%s' failed: %s", spec.name, exc)

    host.spawn(run)
    return Result(202, {"ok": True, "message": f"{spec.name} started."})
