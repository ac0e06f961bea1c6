"""Parsing .NET TimeSpan strings as host.json and timer schedules use them.

Accepted forms (as `TimeSpan.TryParse` takes them): `d` (days), `hh:mm`, `hh:mm:ss`,
`hh:mm:ss.fffffff`, `d.hh:mm:ss[.f]`, `d:hh:mm:ss[.f]`, each optionally negative.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DAYS = re.compile(r"^\s*(-)?(\d+)\s*$")
_CLOCK = re.compile(
    r"^\s*(-)?(?:(\d+)[.:](?=\d+:\d+:\d+))?(\d+):(\d+)(?::(\d+)(?:\.(\d{1,7}))?)?\s*$"
)


def parse_timespan(text: str) -> timedelta:
    """Parse `text`; raise ValueError naming the text when it is not a TimeSpan."""
    if not isinstance(text, str):
        raise ValueError(f"expected a time span string like '00:05:00', got {text!r}")
    m = _DAYS.match(text)
    if m:
        days = int(m.group(2))
        return -timedelta(days=days) if m.group(1) else timedelta(days=days)
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a time span (expected [d.]hh:mm[:ss[.fffffff]])")
    neg, day_text, hours, minutes, seconds, fraction = m.groups()
    h, mi, s = int(hours), int(minutes), int(seconds or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(
            f"'{text}' is out of range: hours 0-23, minutes and seconds 0-59 "
            f"(use d.hh:mm:ss for longer spans)"
        )
    micros = int((fraction or "0").ljust(7, "0")[:6])
    value = timedelta(days=int(day_text or 0), hours=h, minutes=mi, seconds=s, microseconds=micros)
    return -value if neg else value


def format_timespan(value: timedelta) -> str:
    """Format like .NET's TimeSpan.ToString(): `[-][d.]hh:mm:ss[.fffffff]`."""
    total = abs(value)
    days, rem = divmod(total, timedelta(days=1))
    hours, rem = divmod(rem, timedelta(hours=1))
    minutes, rem = divmod(rem, timedelta(minutes=1))
    seconds, rem = divmod(rem, timedelta(seconds=1))
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if days:
        text = f"{days}.{text}"
    if rem:
        text += f".{rem.microseconds * 10:07d}"
    return ("-" if value < timedelta(0) else "") + text
