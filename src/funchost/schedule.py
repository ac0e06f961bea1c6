"""Timer schedules in a time zone, and the schedule status the timer keeps (semantics §4).

A schedule is an NCRONTAB expression or a TimeSpan period (§4.1). Cron occurrences are
wall-clock times in the timer's zone (§4.2) with the real host's daylight-saving rules (X
`CronSchedule.cs`): a wall time skipped by "spring forward" runs at the same offset from
the transition (02:30 becomes 03:30); in the repeated "fall back" hour a point-in-time
schedule runs once (on the first pass) while an interval schedule runs through both passes.
A TimeSpan period is absolute time, blind to DST, as `ConstantSchedule` is.

Instants are timezone-aware datetimes; this module returns them in UTC. Python compares
two datetimes of one zone by wall clock, ignoring `fold`, so everything here compares in
UTC.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .ncrontab import CronError, CronExpression
from .timespan import format_timespan, parse_timespan

UTC = timezone.utc
DEFAULT_TIME = datetime.min.replace(tzinfo=UTC)  # .NET default(DateTime): "never ran"
NEVER = datetime.max.replace(tzinfo=UTC)  # NCrontab's DateTime.MaxValue: no next occurrence
_DEFAULT_TEXT = "0001-01-01T00:00:00+00:00"
_NEVER_TEXT = "9999-12-31T23:59:59.9999999+00:00"

# The Windows names App Service documents for WEBSITE_TIME_ZONE, for the common zones.
WINDOWS_ZONES = {
    "utc": "UTC", "coordinated universal time": "UTC", "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik", "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris", "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw", "e. europe standard time":
    "Europe/Chisinau", "fle standard time": "Europe/Kiev", "gtb standard time":
    "Europe/Bucharest", "russian standard time": "Europe/Moscow", "turkey standard time":
    "Europe/Istanbul", "israel standard time": "Asia/Jerusalem", "south africa standard time":
    "Africa/Johannesburg", "arabian standard time": "Asia/Dubai", "india standard time":
    "Asia/Kolkata", "se asia standard time": "Asia/Bangkok", "singapore standard time":
    "Asia/Singapore", "china standard time": "Asia/Shanghai", "taipei standard time":
    "Asia/Taipei", "tokyo standard time": "Asia/Tokyo", "korea standard time": "Asia/Seoul",
    "aus eastern standard time": "Australia/Sydney", "new zealand standard time":
    "Pacific/Auckland", "hawaiian standard time": "Pacific/Honolulu", "alaskan standard time":
    "America/Anchorage", "pacific standard time": "America/Los_Angeles",
    "us mountain standard time": "America/Phoenix", "mountain standard time":
    "America/Denver", "central standard time": "America/Chicago", "eastern standard time":
    "America/New_York", "atlantic standard time": "America/Halifax",
    "e. south america standard time": "America/Sao_Paulo",
}


def zone_named(name: str) -> tzinfo:
    """An IANA zone, or a common Windows zone name; ValueError when neither."""
    key = WINDOWS_ZONES.get(name.strip().lower(), name.strip())
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a time zone (use an IANA name like 'Europe/Berlin' "
                         f"or a Windows name like 'W. Europe Standard Time')") from None


def local_zone(environ: Mapping[str, str]) -> tzinfo:
    """The machine's zone with its DST rules: TZ, else /etc/localtime, else today's offset."""
    tz = environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    path = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in path:
        try:
            return ZoneInfo(path.split("/zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


def timer_zone(environ: Mapping[str, str]) -> tzinfo:
    """WEBSITE_TIME_ZONE, else the machine's local zone, as the real host runs locally
    (§4.2: the listener uses `DateTimeOffset.Now`). ValueError names the setting."""
    name = environ.get("WEBSITE_TIME_ZONE", "").strip()
    if not name:
        return local_zone(environ)
    try:
        return zone_named(name)
    except ValueError as exc:
        raise ValueError(f"WEBSITE_TIME_ZONE: {exc}") from None


class TimerSchedule(Protocol):
    adjust_for_dst: bool  # what the worker sees as TimerRequest.schedule["AdjustForDST"]

    def next_occurrence(self, now: datetime) -> datetime:
        """The first occurrence after `now` (aware), in UTC; NEVER if there is none."""

    def fires_more_than_once_a_minute(self, now: datetime) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ConstantSchedule:
    """A TimeSpan period: `now + interval` in absolute time (X `ConstantSchedule.cs`)."""
    interval: timedelta
    adjust_for_dst: bool = False

    def next_occurrence(self, now: datetime) -> datetime:
        return now.astimezone(UTC) + self.interval

    def fires_more_than_once_a_minute(self, now: datetime) -> bool:
        return self.interval < timedelta(minutes=1)

    def describe(self) -> str:
        return f"Constant: {format_timespan(self.interval)}"


@dataclass(frozen=True)
class CronSchedule:
    """NCRONTAB occurrences as wall-clock times in `zone`."""
    expression: CronExpression
    zone: tzinfo
    adjust_for_dst: bool = True

    def describe(self) -> str:
        return f"Cron: '{self.expression.normalized()}'"

    def fires_more_than_once_a_minute(self, now: datetime) -> bool:
        return self.expression.fires_more_than_once_a_minute(now.astimezone(self.zone))

    def next_occurrence(self, now: datetime) -> datetime:
        now = now.astimezone(UTC)
        local = now.astimezone(self.zone)
        wall = local.replace(tzinfo=None, fold=0)
        best = NEVER
        candidate = self.expression.next_after(wall)
        while candidate is not None:
            instant = self._instant(candidate, now)
            if instant is not None:
                best = instant
                break
            candidate = self.expression.next_after(candidate)
        if self.expression.is_interval and local.fold == 0 and self._kind(wall) == "repeated":
            # Still in the first pass of a repeated hour: the second pass (earlier wall
            # times, later instants) may come before the next wall time after `wall`.
            x = self.expression.next_after(self._repeat_start(wall) - timedelta(seconds=1))
            if x is not None and x <= wall:
                best = min(best, x.replace(tzinfo=self.zone, fold=1).astimezone(UTC))
        return best

    def _repeat_start(self, wall: datetime) -> datetime:
        """The first wall second of the repeated span `wall` lies in (bisection: zoneinfo
        has no transition API). Everything between it and `wall` repeats."""
        first, second = (wall.replace(tzinfo=self.zone, fold=f).utcoffset() for f in (0, 1))
        assert first is not None and second is not None
        lo, hi = wall - (first - second), wall  # lo is before the span, hi inside it
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) // 2
            mid = mid.replace(microsecond=0)
            if self._kind(mid) == "repeated":
                hi = mid
            else:
                lo = mid
        return hi.replace(microsecond=0)

    def _kind(self, wall: datetime) -> str:
        """"normal", "skipped" (spring forward) or "repeated" (fall back)."""
        early = wall.replace(tzinfo=self.zone, fold=0)
        late = wall.replace(tzinfo=self.zone, fold=1)
        if early.utcoffset() == late.utcoffset():
            return "normal"
        back = early.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None, fold=0)
        return "repeated" if back == wall else "skipped"

    def _instant(self, wall: datetime, now: datetime) -> datetime | None:
        kind = self._kind(wall)
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if kind != "repeated":
            # A skipped wall time keeps the offset from before the transition, landing as
            # far after it as the wall time was after its start (.NET does the same).
            return first
        if first > now:
            return first
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if self.expression.is_interval and second > now:
            return second
        return None  # a point in time runs on the first pass only


def parse_schedule(text: str, zone: tzinfo) -> TimerSchedule:
    """NCRONTAB (5 or 6 fields) first, then a TimeSpan, as X `TimerSchedule.Create` tries
    them. ValueError carries the real host's wording and, for a cron-like text, why."""
    tokens = [t for t in text.split(" ") if t]
    reason = ""
    if len(tokens) in (5, 6):
        try:
            return CronSchedule(CronExpression.parse(text), zone)
        except CronError as exc:
            prefix = f"'{text}': "  # CronError names the text; the sentence below does too
            reason = f" ({str(exc).removeprefix(prefix)})"
    else:
        try:
            period = parse_timespan(text)
        except ValueError:
            pass
        else:
            if period > timedelta(0):
                return ConstantSchedule(period)
            reason = " (a period must be longer than zero)"
    raise ValueError(f"The schedule expression '{text}' was not recognized as a valid cron "
                     f"expression or timespan string{reason}.")


def next_occurrences(schedule: TimerSchedule, now: datetime, zone: tzinfo,
                     count: int = 5) -> list[str]:
    """The next occurrences as the host logs them at start: `MM/dd/yyyy HH:mm:ssK`, local
    with UTC in parentheses unless the zone is UTC (X `TimerInfo.FormatNextOccurrences`)."""
    lines: list[str] = []
    current = now
    # "Same rules as UTC": no offset in winter or in summer.
    is_utc = all(datetime(now.year, m, 1, tzinfo=zone).utcoffset() == timedelta(0)
                 for m in (1, 7))
    for _ in range(count):
        current = schedule.next_occurrence(current)
        if current == NEVER:
            break
        utc = current.strftime("%m/%d/%Y %H:%M:%SZ")
        local = current.astimezone(zone)
        if is_utc:
            lines.append(utc)
        else:
            lines.append(f"{local.strftime('%m/%d/%Y %H:%M:%S')}{_offset(local)} ({utc})")
    return lines


# -- dates as the real host writes them -------------------------------------------------

def _offset(value: datetime) -> str:
    off = value.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


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
    return (local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
            + _offset(local))


_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?"
                  r"(Z|[+-]\d\d:\d\d)?$")


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
    naive = datetime(year, *(int(m.group(i)) for i in range(2, 7)), micros)  # type: ignore[misc]
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
        return {"Last": format_local(self.last, zone), "Next": format_local(self.next, zone),
                "LastUpdated": format_local(self.last_updated, zone)}

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


def check_start(stored: ScheduleStatus | None, now: datetime,
                schedule: TimerSchedule) -> StartCheck:
    """Semantics §4.5 (X `ScheduleMonitor.CheckPastDueAsync`, `TimerListener.StartAsync`).

    No record: write `{Last: never, Next: next(now), LastUpdated: now}`. A record whose Next
    is not what the schedule gives from its Last (or LastUpdated) means the schedule
    changed: rewrite it, from now if the expected Next has passed. Past due iff now is after
    the recorded Next: one catch-up run however many occurrences were missed."""
    now = now.astimezone(UTC)
    if stored is None:
        upcoming = schedule.next_occurrence(now)
        return StartCheck(ScheduleStatus(DEFAULT_TIME, upcoming, DEFAULT_TIME),
                          ScheduleStatus(DEFAULT_TIME, upcoming, now), now > upcoming)
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


def after_run(status: ScheduleStatus, invoked_at: datetime, schedule: TimerSchedule, *,
              scheduled: bool) -> ScheduleStatus:
    """The status after a run that started at `invoked_at` (§4.5). A scheduled run that
    fired a little early counts as run at its occurrence, else a restart would see the same
    Next twice; Next is computed from Last, so a run that outlasted the period is followed
    by one immediate run, not by one per missed occurrence."""
    last = invoked_at.astimezone(UTC)
    if scheduled and status.next > last:
        last = status.next
    return ScheduleStatus(last, schedule.next_occurrence(last), last)
