"""The timer's schedule status (semantics §4.4, §4.5), and dates written the way the real
host writes them (Json.NET: local time with offset, seven fraction digits)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from funchost.timer.schedule import (
    _DEFAULT_TEXT,
    _NEVER_TEXT,
    DEFAULT_TIME,
    NEVER,
    UTC,
    TimerSchedule,
    offset_text,
)


def status_blob_path(host_id: str, function: str) -> str:
    """The status blob's name in `azure-webjobs-hosts` (semantics §4.4)."""
    return f"timers/{host_id}/Host.Functions.{function}/status"


# -- dates as the real host writes them -------------------------------------------------


def format_local(value: datetime, zone: tzinfo, *, trim: bool = True) -> str:
    """ISO-8601 local time with its offset, seven fraction digits as .NET writes them:
    trimmed (Json.NET, status blobs) or all seven (`ToString("o")`, log text)."""
    if value.year <= 1:
        return _DEFAULT_TEXT
    if value.year >= 9999:
        return _NEVER_TEXT
    local = value.astimezone(zone)
    fraction = f"{local.microsecond * 10:07d}"
    if trim:
        fraction = fraction.rstrip("0")
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{fraction}" if fraction else "")
        + offset_text(local)
    )


_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?"
    r"(Z|[+-]\d\d:\d\d)?$"
)


def parse_dotnet(text: str, zone: tzinfo) -> datetime:
    """A date Json.NET wrote; no offset means local time in `zone`. In UTC."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not an ISO-8601 date")
    year = int(m.group(1))
    if year <= 1:
        return DEFAULT_TIME
    if year >= 9999:
        return NEVER
    micros = int((m.group(7) or "0").ljust(7, "0")[:6])
    month, day, hour, minute, second = (int(m.group(i)) for i in range(2, 7))
    naive = datetime(year, month, day, hour, minute, second, micros)
    offset = m.group(8)
    if offset is None:
        return naive.replace(tzinfo=zone).astimezone(UTC)
    if offset == "Z":
        return naive.replace(tzinfo=UTC)
    sign = -1 if offset[0] == "-" else 1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return naive.replace(tzinfo=timezone(sign * delta)).astimezone(UTC)


# -- the schedule status (semantics §4.4, §4.5) -----------------------------------------


@dataclass(frozen=True)
class ScheduleStatus:
    """`{"Last", "Next", "LastUpdated"}`: the last run, the occurrence the timer waits for,
    and the time `Next` was computed from. Instants in UTC; DEFAULT_TIME for "never"."""

    last: datetime
    next: datetime
    last_updated: datetime

    def to_json(self, zone: tzinfo) -> dict[str, str]:
        return {
            "Last": format_local(self.last, zone),
            "Next": format_local(self.next, zone),
            "LastUpdated": format_local(self.last_updated, zone),
        }

    @classmethod
    def from_json(cls, data: object, zone: tzinfo) -> ScheduleStatus:
        """ValueError when `data` is not a status record."""
        if not isinstance(data, dict):
            raise ValueError("the status is not a JSON object")
        fields = {k.lower(): v for k, v in data.items()}
        values = [fields.get(k) for k in ("last", "next", "lastupdated")]
        if not all(isinstance(v, str) for v in values):
            raise ValueError("the status needs string 'Last', 'Next' and 'LastUpdated'")
        return cls(*(parse_dotnet(v, zone) for v in values))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StartCheck:
    """What the timer does at start. `write` goes to the status blob (None: leave it);
    `status` is the listener's own; `past_due` asks for one immediate catch-up run."""

    status: ScheduleStatus
    write: ScheduleStatus | None
    past_due: bool


def _same(a: datetime, b: datetime) -> bool:
    # .NET keeps 100 ns ticks, Python microseconds: a record written by the real host may
    # differ from our own arithmetic below a microsecond.
    return abs(a - b) < timedelta(milliseconds=1)


def check_start(
    stored: ScheduleStatus | None, now: datetime, schedule: TimerSchedule
) -> StartCheck:
    """Semantics §4.5 (X `ScheduleMonitor.CheckPastDueAsync`, `TimerListener.StartAsync`).

    No record: write `{Last: never, Next: next(now), LastUpdated: now}`. A record whose Next
    is not what the schedule gives from its Last (or LastUpdated) means the schedule
    changed: rewrite it, from now if the expected Next has passed. Past due iff now is after
    the recorded Next: one catch-up run however many occurrences were missed."""
    now = now.astimezone(UTC)
    if stored is None:
        upcoming = schedule.next_occurrence(now)
        return StartCheck(
            ScheduleStatus(DEFAULT_TIME, upcoming, DEFAULT_TIME),
            ScheduleStatus(DEFAULT_TIME, upcoming, now),
            now > upcoming,
        )
    if stored.last != DEFAULT_TIME:
        base = stored.last
    elif stored.last_updated != DEFAULT_TIME:
        base = stored.last_updated
    else:
        base = now
    expected = schedule.next_occurrence(base)
    write = None
    if not _same(stored.next, expected):
        if now > expected:  # changed, and already passed: not a reason to run now
            expected, base = schedule.next_occurrence(now), now
        stored = write = ScheduleStatus(DEFAULT_TIME, expected, base)
    return StartCheck(stored, write, now > stored.next)


def after_run(
    status: ScheduleStatus, invoked_at: datetime, schedule: TimerSchedule, *, scheduled: bool
) -> ScheduleStatus:
    """The status after a run that started at `invoked_at` (§4.5). A scheduled run that
    fired a little early counts as run at its occurrence, else a restart would see the same
    Next twice; Next is computed from Last, so a run that outlasted the period is followed
    by one immediate run, not by one per missed occurrence."""
    last = invoked_at.astimezone(UTC)
    if scheduled and status.next > last:
        last = status.next
    return ScheduleStatus(last, schedule.next_occurrence(last), last)
