"""The jobs library's status table, read only: the dashboard's jobs section.

Read by the columns the library writes (`shared/status/store.py` `_to_entity`: one row
`RowKey` "status" per job with `JobId`, `Kind`, `State`, `Done`, `Total`, `Message`,
`Attempt`, `Error`, `CreatedAt`, `UpdatedAt`), not by importing the library: funchost
never imports the app's packages. A table that does not exist means the app keeps no jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

TABLE_SETTING = "FUNCHOST_DASHBOARD_STATUS_TABLE"
DEFAULT_TABLE = "JobStatus"  # the library's default (`StatusStore`)


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    state: str
    done: int
    total: int
    message: str
    attempt: int
    created: datetime | None
    updated: datetime | None
    error: str | None

    @property
    def progress(self) -> int:
        """Percent done (100 once it succeeded, whatever the counts say)."""
        if self.state == "Succeeded":
            return 100
        if self.total <= 0:
            return 0
        return max(0, min(100, round(100 * self.done / self.total)))


async def recent_jobs(table: Any, window: timedelta, limit: int) -> list[Job] | None:
    """Jobs created within `window`, the latest changed first, at most `limit`; None when
    the table does not exist."""
    since = datetime.now(timezone.utc) - window
    rows = table.query_entities("CreatedAt gt @since", parameters={"since": since})
    found: list[Job] = []
    try:
        found.extend([_job(row) async for row in rows if row.get("JobId") and row.get("State")])
    except ResourceNotFoundError:
        return None
    found.sort(key=lambda j: j.updated or j.created or since, reverse=True)
    return found[:limit]


def _job(row: Any) -> Job:
    return Job(
        job_id=str(row["JobId"]),
        kind=str(row.get("Kind") or ""),
        state=str(row["State"]),
        done=_int(row.get("Done")),
        total=_int(row.get("Total")),
        message=str(row.get("Message") or ""),
        attempt=_int(row.get("Attempt")),
        created=_time(row.get("CreatedAt")),
        updated=_time(row.get("UpdatedAt")),
        error=row.get("Error") or None,
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
