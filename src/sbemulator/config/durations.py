"""Durations as Service Bus writes them: ISO-8601 (`PT1M`, `P14D`, `PT0.5S`) as in the
official emulator's Config.json, and .NET TimeSpan text (`00:01:00`, `1.02:03:04`) as
ARM templates and the .NET SDK print them."""

from __future__ import annotations

import re

# TimeSpan.MaxValue (P10675199DT2H48M5.4775807S) is how Service Bus spells "never";
# anything at or beyond a year 10,000 horizon is treated the same way.
INFINITE_SECONDS = 10675199 * 86400.0

_ISO = re.compile(
    r"^P(?!$)(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_TIMESPAN = re.compile(
    r"^(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<mi>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$"
)

# Years and months as .NET's XmlConvert.ToTimeSpan counts them.
_ISO_UNITS = {
    "y": 365 * 86400.0,
    "mo": 30 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "mi": 60.0,
    "s": 1.0,
}


def parse_duration(text: str) -> float:
    """Seconds in `text`.

    Raises:
        ValueError: `text` is neither an ISO-8601 duration nor a TimeSpan.
    """
    value = text.strip()
    m = _ISO.match(value)
    if m:
        return sum(float(v) * _ISO_UNITS[k] for k, v in m.groupdict().items() if v)
    m = _TIMESPAN.match(value)
    if m:
        parts = m.groupdict()
        return (
            int(parts["d"] or 0) * 86400.0
            + int(parts["h"]) * 3600.0
            + int(parts["mi"]) * 60.0
            + float(parts["s"])
        )
    raise ValueError(
        f"not a duration: {text!r} (expected ISO-8601 like 'PT1M' or 'P14D', "
        "or a TimeSpan like '00:01:00')"
    )


def format_duration(seconds: float | None) -> str:
    """ISO-8601 text for `seconds` (None: infinite), for logs and error messages."""
    if seconds is None:
        return "infinite"
    whole = int(seconds)
    frac = seconds - whole
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if secs or frac or not (days or hours or minutes):
        time += f"{secs + frac:g}S"
    return out + ("T" + time if time else "")
