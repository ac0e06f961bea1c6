"""Timer schedules in a time zone (semantics §4); the status the timer keeps is in
`timer_status`.

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from funchost.config.timespan import format_timespan, parse_timespan
from funchost.timer.ncrontab import CronError, CronExpression

UTC = timezone.utc
DEFAULT_TIME = datetime.min.replace(tzinfo=UTC)  # .NET default(DateTime): "never ran"
NEVER = datetime.max.replace(tzinfo=UTC)  # NCrontab's DateTime.MaxValue: no next occurrence
_DEFAULT_TEXT = "0001-01-01T00:00:00+00:00"
_NEVER_TEXT = "9999-12-31T23:59:59.9999999+00:00"

# The Windows names App Service documents for WEBSITE_TIME_ZONE, for the common zones.
WINDOWS_ZONES = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kiev",
    "gtb standard time": "Europe/Bucharest",
    "russian standard time": "Europe/Moscow",
    "turkey standard time": "Europe/Istanbul",
    "israel standard time": "Asia/Jerusalem",
    "south africa standard time": "Africa/Johannesburg",
    "arabian standard time": "Asia/Dubai",
    "india standard time": "Asia/Kolkata",
    "se asia standard time": "Asia/Bangkok",
    "singapore standard time": "Asia/Singapore",
    "china standard time": "Asia/Shanghai",
    "taipei standard time": "Asia/Taipei",
    "tokyo standard time": "Asia/Tokyo",
    "korea standard time": "Asia/Seoul",
    "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland",
    "hawaiian standard time": "Pacific/Honolulu",
    "alaskan standard time": "America/Anchorage",
    "pacific standard time": "America/Los_Angeles",
    "us mountain standard time": "America/Phoenix",
    "mountain standard time": "America/Denver",
    "central standard time": "America/Chicago",
    "eastern standard time": "America/New_York",
    "atlantic standard time": "America/Halifax",
    "e. south america standard time": "America/Sao_Paulo",
}


def zone_named(name: str) -> tzinfo:
    """An IANA zone, or a common Windows zone name; ValueError when neither."""
    key = WINDOWS_ZONES.get(name.strip().lower(), name.strip())
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{name}' is not a time zone (use an IANA name like 'Europe/Berlin' "
            f"or a Windows name like 'W. Europe Standard Time')"
        ) from None


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
    @property
    def adjust_for_dst(self) -> bool:
        """What the worker sees as TimerRequest.schedule["AdjustForDST"]."""

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
        """ "normal", "skipped" (spring forward) or "repeated" (fall back)."""
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
    raise ValueError(
        f"The schedule expression '{text}' was not recognized as a valid cron "
        f"expression or timespan string{reason}."
    )


def offset_text(value: datetime) -> str:
    """`+hh:mm` / `-hh:mm`, as .NET writes a DateTimeOffset's offset."""
    off = value.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def next_occurrences(
    schedule: TimerSchedule, now: datetime, zone: tzinfo, count: int = 5
) -> list[str]:
    """The next occurrences as the host logs them at start: `MM/dd/yyyy HH:mm:ssK`, local
    with UTC in parentheses unless the zone is UTC (X `TimerInfo.FormatNextOccurrences`)."""
    lines: list[str] = []
    current = now
    # "Same rules as UTC": no offset in winter or in summer.
    is_utc = all(datetime(now.year, m, 1, tzinfo=zone).utcoffset() == timedelta(0) for m in (1, 7))
    for _ in range(count):
        current = schedule.next_occurrence(current)
        if current == NEVER:
            break
        utc = current.strftime("%m/%d/%Y %H:%M:%SZ")
        local = current.astimezone(zone)
        if is_utc:
            lines.append(utc)
        else:
            lines.append(f"{local.strftime('%m/%d/%Y %H:%M:%S')}{offset_text(local)} ({utc})")
    return lines
