"""What the dashboard's buttons do: replay or purge a poison / dead-lettered message (or all
of them) through the jobs library's `shared.deadletters`, and run a function now (as
`POST /admin/functions/{name}` does)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from funchost.core.logs import brief
from funchost.errors import HostError
from funchost.http.dashboard import library
from funchost.http.dashboard.model import DashboardHost
from funchost.http.dashboard.snapshot import Snapshotter
from funchost.http.dashboard.sources import sources_of

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
    lib = snapshots.lib()
    if lib is None:
        return _fail(409, library.NOT_USED)
    source = str(form.get("source") or "")
    known = {
        s.source: s
        for s in sources_of(tuple(host.functions()), host.services.environ, host.host_id)
    }
    target = known.get(source)
    if target is None:
        return _fail(404, f"No poison or dead-letter source '{source}' in this app.")
    message = str(form.get("message") or "") or None
    tool = lib.poison(target.kind, target.entity, target.connection)
    where = target.failed_entity or target.entity
    try:
        if name == "replay":
            done = await tool.replay(message)
            text = f"Replayed {len(done)} message(s) from {where} to {target.entity}."
            jobs = [f"job {r.job_id} is {r.job_state}" for r in done if r.job_id and r.job_state]
            if jobs:
                text += " " + "; ".join(jobs) + "."
        else:
            count = await tool.purge(message)
            text = f"Purged {count} message(s) from {where}."
    except Exception as exc:  # noqa: BLE001 - the library's and the services' errors, shown
        log.warning("Dashboard %s on %s failed: %s", name, where, brief(exc))
        return _fail(409 if type(exc).__name__ == "DeadLetterNotFound" else 502, brief(exc))
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
