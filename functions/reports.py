"""`report` and the schedule-driven jobs (timers are singletons: one instance runs each
occurrence, as on the Functions host).

- ``daily_report`` (01:00 UTC): yesterday's jobs by kind and state, their failures and
  durations, as ``reports/daily/<day>.json``. The `report` kind makes the same report for
  any day on demand: ``{"kind": "report", "input": {"day": "2026-11-29"}}``.
- ``consistency_check`` (every 15 minutes): jobs stuck past the supervisor's deadline and
  messages waiting on poison queues, as ``reports/consistency/latest.json``, with a warning
  in the log when there is anything to look at. It reports; the supervisor
  (functions/supervise.py) acts.
- ``nightly_retention`` (functions/retention.py) removes what outlived its retention.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import azure.functions as func
from azure.storage.blob import ContentSettings

from shared.coordination import Supervisor
from shared.deadletters import BLOB_TRIGGER_POISON
from shared.status import JobState, JobStatus

from .batch import PARTS_QUEUE
from .kind import Kind, Outcome, one_step
from .services import NOTIFY_QUEUE, STUCK_AFTER, services
from .tickets import QUEUES

log = logging.getLogger(__name__)
bp = func.Blueprint()

CONTAINER = "reports"
# The main account's poison queues (the gatekeeper's is in its own account).
POISON_QUEUES = [
    f"{queue}-poison" for queue in (QUEUES.high, QUEUES.normal, PARTS_QUEUE, NOTIFY_QUEUE)
] + [BLOB_TRIGGER_POISON]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "day": {"type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
    },
}


async def daily(day: date) -> Outcome:
    """The report of the jobs created on `day` (UTC), written to its blob."""
    start = datetime.combine(day, time(), timezone.utc)
    # `created_after` is exclusive: a job created at midnight exactly is the day's too.
    # Records carry microseconds, so "after the microsecond before" is "from midnight on".
    jobs = await services().status.list(
        created_after=start - timedelta(microseconds=1),
        created_before=start + timedelta(days=1),
        limit=None,
    )
    report = {
        "day": day.isoformat(),
        "jobs": len(jobs),
        "byKind": _counts(jobs),
        "failures": [
            {"id": j.job_id, "kind": j.kind, "error": j.error}
            for j in jobs
            if j.state is JobState.FAILED
        ][:50],
        "secondsToFinish": _durations(jobs),
    }
    url = await _write(f"daily/{day.isoformat()}.json", report)
    return Outcome({"jobs": len(jobs), "byKind": report["byKind"]}, url)


async def _on_demand(job: JobStatus) -> Outcome:
    raw = job.input.get("day")
    day = date.fromisoformat(raw) if raw else _yesterday()
    return await daily(day)


@bp.timer_trigger(schedule="0 0 1 * * *", arg_name="timer")
async def daily_report(timer: func.TimerRequest) -> None:
    done = await daily(_yesterday())
    log.info("daily report: %s (%s)", done.location, done.result)


@bp.timer_trigger(schedule="0 */15 * * * *", arg_name="timer")
async def consistency_check(timer: func.TimerRequest) -> None:
    stuck = await Supervisor(services().status, stuck_after=STUCK_AFTER).stuck()
    poison = {}
    for queue in POISON_QUEUES:
        client = await services().account.ensure_queue(queue)
        waiting = (await client.get_queue_properties()).approximate_message_count or 0
        if waiting:
            poison[queue] = waiting
    report = {
        "checked": datetime.now(timezone.utc).isoformat(),
        "stuck": [
            {"id": j.job_id, "kind": j.kind, "state": j.state.value, "since": _iso(j.updated_at)}
            for j in stuck
        ],
        "poison": poison,
    }
    await _write("consistency/latest.json", report)
    if stuck or poison:
        log.warning("consistency check: %d stuck job(s), poison messages %s", len(stuck), poison)


def _counts(jobs: list[JobStatus]) -> dict[str, dict[str, int]]:
    found: dict[str, Counter[str]] = {}
    for job in jobs:
        found.setdefault(job.kind, Counter())[job.state.value] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(found.items())}


def _durations(jobs: list[JobStatus]) -> dict[str, float]:
    seconds = sorted(
        (j.updated_at - j.created_at).total_seconds()
        for j in jobs
        if j.state is JobState.SUCCEEDED and j.updated_at and j.created_at
    )
    if not seconds:
        return {}
    return {
        "median": seconds[len(seconds) // 2],
        "p95": seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))],
        "max": seconds[-1],
    }


async def _write(name: str, body: dict[str, Any]) -> str:
    container = await services().account.ensure_container(CONTAINER)
    blob = container.get_blob_client(name)
    data = json.dumps(body, indent=2).encode()
    await blob.upload_blob(
        data, overwrite=True, content_settings=ContentSettings("application/json")
    )
    return str(blob.url)


def _yesterday() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


KIND = Kind(
    "report",
    "The jobs report of a day (default: yesterday), as a blob in reports/daily/",
    SCHEMA,
    run=one_step(_on_demand),
)
