"""NCRONTAB expressions, read the way the timer trigger's NCrontab library reads them.

`{second} {minute} {hour} {day} {month} {day-of-week}`, or the 5-field form without
seconds (semantics §4.1; X `CronSchedule.cs` picks 5-field iff there are exactly 5 tokens).
Each field is `*`, a value, a range `a-b`, a step `*/n`, `a/n` (a to the maximum) or
`a-b/n`, or a comma list of those. Months and days of the week also take names: any
case-insensitive prefix of the English name (`JAN`, `Mon`, `thurs`). Days of the week run
0-6 from Sunday; 7 is rejected, as NCrontab rejects it.

Where NCrontab differs from Vixie cron this module follows NCrontab:
- day-of-month AND day-of-week must both match (Vixie cron fires when either does), so
  `0 0 0 13 * FRI` is "Friday the 13th", not "every 13th and every Friday";
- a reversed range `5-1` is read as `1-5`; a step below 1 counts as 1;
- an occurrence is the first one strictly after the base time truncated to whole seconds;
- an expression that can never occur (`0 0 0 30 2 *`) has no next occurrence.

Everything here works on naive wall-clock datetimes; time zones and daylight saving time
are the caller's business (funchost.timer.schedule).
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# kind -> (lowest, highest, names)
_KINDS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "second": (0, 59, ()),
    "minute": (0, 59, ()),
    "hour": (0, 23, ()),
    "day": (1, 31, ()),
    "month": (1, 12, _MONTHS),
    "day-of-week": (0, 6, _DAYS),
}
_ORDER = ("second", "minute", "hour", "day", "month", "day-of-week")
# The Gregorian calendar, weekdays included, repeats every 400 years: a schedule with no
# occurrence in that span has none at all.
_CYCLE_YEARS = 400


class CronError(ValueError):
    """The text is not an NCRONTAB expression; the message says which field is wrong."""


@dataclass(frozen=True)
class CronField:
    """The values one field allows, sorted."""

    kind: str
    values: tuple[int, ...]

    @property
    def is_full(self) -> bool:
        low, high, _ = _KINDS[self.kind]
        return len(self.values) == high - low + 1

    def first(self) -> int:
        return self.values[0]

    def next(self, start: int) -> int | None:
        """The smallest allowed value >= start, or None."""
        i = bisect.bisect_left(self.values, start)
        return self.values[i] if i < len(self.values) else None

    def __contains__(self, value: object) -> bool:
        return value in self.values  # at most 60 values

    def normalized(self) -> str:
        """NCrontab's canonical text: `*` when full, else runs as `a-b` and single values,
        comma-separated. The timer reads schedule properties off this form (semantics
        §4.3), so `*/2` seconds is not "*"."""
        if self.is_full:
            return "*"
        parts: list[str] = []
        run_start = prev = self.values[0]
        for value in (*self.values[1:], None):
            if value is not None and value == prev + 1:
                prev = value
                continue
            parts.append(str(run_start) if run_start == prev else f"{run_start}-{prev}")
            if value is not None:
                run_start = prev = value
        return ",".join(parts)


def _value(kind: str, text: str) -> int:
    low, high, names = _KINDS[kind]
    if not text:
        raise CronError(f"an empty value in the {kind} field")
    if text[0].isdigit():
        if not (text.isascii() and text.isdigit()):
            raise CronError(f"'{text}' is not a number in the {kind} field")
        return int(text)
    lowered = text.lower()
    for i, name in enumerate(names):
        if name.lower().startswith(lowered):
            return low + i
    if names:
        raise CronError(f"'{text}' is not a {kind} name (use one of {', '.join(names)})")
    raise CronError(f"'{text}' is not a number in the {kind} field ({low}-{high})")


def _item(kind: str, text: str) -> range:
    low, high, _ = _KINDS[kind]
    step, stepped = 1, "/" in text[1:]
    if stepped:
        text, _, step_text = text.partition("/")
        if not (step_text.isascii() and step_text.isdigit()):
            raise CronError(f"'{step_text}' is not a step in the {kind} field")
        step = max(int(step_text), 1)  # NCrontab reads a step of 0 as 1
    if text == "*":
        start, end = low, high
    elif "-" in text[1:]:
        first, _, last = text.partition("-")
        start, end = sorted((_value(kind, first), _value(kind, last)))
    else:
        start = _value(kind, text)
        end = high if stepped else start  # `a/n` runs from a to the maximum
    for value in (start, end):
        if not low <= value <= high:
            raise CronError(f"{value} is out of range for the {kind} field ({low}-{high})")
    return range(start, end + 1, step)


def parse_field(kind: str, text: str) -> CronField:
    """One field; CronError names the field and what is wrong with it."""
    if not text or text.startswith(","):
        raise CronError(f"'{text}' is not a valid {kind} field")
    values: set[int] = set()
    for item in text.split(","):
        values.update(_item(kind, item))
    return CronField(kind, tuple(sorted(values)))


@dataclass(frozen=True)
class CronExpression:
    """A parsed NCRONTAB expression. `seconds` is None for the 5-field form (second 0)."""

    text: str
    seconds: CronField | None
    minutes: CronField
    hours: CronField
    days: CronField
    months: CronField
    days_of_week: CronField

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse 5 or 6 space-separated fields; CronError says what is wrong."""
        tokens = [t for t in text.split(" ") if t]
        if len(tokens) not in (5, 6):
            raise CronError(
                f"'{text}' has {len(tokens)} fields; an NCRONTAB expression has "
                f"6 ({' '.join(_ORDER)}) or 5 (without seconds)"
            )
        kinds = _ORDER if len(tokens) == 6 else _ORDER[1:]
        try:
            fields = [parse_field(kind, token) for kind, token in zip(kinds, tokens, strict=True)]
        except CronError as exc:
            raise CronError(f"'{text}': {exc}") from None
        seconds = fields.pop(0) if len(fields) == 6 else None
        return cls(text, seconds, *fields)

    @property
    def has_seconds(self) -> bool:
        return self.seconds is not None

    def normalized(self) -> str:
        fields = [self.minutes, self.hours, self.days, self.months, self.days_of_week]
        if self.seconds is not None:
            fields.insert(0, self.seconds)
        return " ".join(f.normalized() for f in fields)

    @property
    def is_interval(self) -> bool:
        """True for "every n" schedules, False for points in time. X `CronSchedule.cs` looks
        for `*` or `-` in the first three normalized fields (two without seconds); daylight
        saving time treats the two kinds differently in the repeated hour."""
        parts = self.normalized().split(" ")[: 3 if self.has_seconds else 2]
        return any("*" in p or "-" in p for p in parts)

    def next_after(self, base: datetime) -> datetime | None:
        """The first occurrence strictly after `base` (naive wall-clock time), or None if
        the expression never occurs again."""
        start = base.replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
        year, month, first_day = start.year, start.month, start.day
        clock: tuple[int, int, int] | None = (start.hour, start.minute, start.second)
        for _ in range(12 * (_CYCLE_YEARS + 1)):
            if month in self.months:
                for day in self.days.values:
                    if day < first_day or day > calendar.monthrange(year, month)[1]:
                        continue
                    if (date(year, month, day).weekday() + 1) % 7 not in self.days_of_week:
                        continue
                    on_start_day = clock is not None and (year, month, day) == (
                        start.year,
                        start.month,
                        start.day,
                    )
                    hms = self._time_from(clock if on_start_day else None)
                    if hms is not None:
                        return datetime(year, month, day, *hms)
            month, first_day = month + 1, 1
            if month > 12:
                month, year = 1, year + 1
                if year > 9999:
                    return None
        return None

    def _time_from(self, clock: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        """The first allowed time of day at or after `clock` (None: the day's first)."""
        seconds = self.seconds or _SECOND_ZERO
        if clock is None:
            return self.hours.first(), self.minutes.first(), seconds.first()
        h0, m0, s0 = clock
        for hour in self.hours.values:
            if hour < h0:
                continue
            if hour > h0:
                return hour, self.minutes.first(), seconds.first()
            for minute in self.minutes.values:
                if minute < m0:
                    continue
                if minute > m0:
                    return hour, minute, seconds.first()
                second = seconds.next(s0)
                if second is not None:
                    return hour, minute, second
        return None

    def occurrences(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Occurrences after `start` and before `end` (naive wall-clock times)."""
        current = self.next_after(start)
        while current is not None and current < end:
            yield current
            current = self.next_after(current)

    def fires_more_than_once_a_minute(self, now: datetime) -> bool:
        """Semantics §4.3 (X `TimerSchedule.ShouldDisableScheduleMonitor`): every field
        above seconds is `*` and more than one occurrence falls in the next minute."""
        if self.seconds is None:
            return False
        if not all(
            f.is_full for f in (self.minutes, self.hours, self.days, self.months, self.days_of_week)
        ):
            return False
        naive = now.replace(tzinfo=None)
        occurrences = self.occurrences(naive, naive + timedelta(minutes=1))
        return next(occurrences, None) is not None and next(occurrences, None) is not None


_SECOND_ZERO = CronField("second", (0,))
