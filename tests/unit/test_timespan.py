from __future__ import annotations

from datetime import timedelta

import pytest

from funchost.config.timespan import format_timespan, parse_timespan


@pytest.mark.parametrize("text,expected", [
    ("00:05:00", timedelta(minutes=5)),
    ("00:00:00.100", timedelta(milliseconds=100)),
    ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("25:00:00:00", timedelta(days=25)),  # d:hh:mm:ss, as TimeSpan.TryParse reads it
    ("7", timedelta(days=7)),
    ("-1", timedelta(days=-1)),
    ("12:30", timedelta(hours=12, minutes=30)),
    ("00:00:01.1234567", timedelta(seconds=1, microseconds=123456)),
])
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "24:00:00", "00:60:00", "1:2:3:4:5", "00:00:61"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)[1:-1] if text else "time span"):
        parse_timespan(text)


@pytest.mark.parametrize("value,text", [
    (timedelta(minutes=30), "00:30:00"),
    (timedelta(days=2, seconds=5), "2.00:00:05"),
    (timedelta(milliseconds=100), "00:00:00.1000000"),
])
def test_format(value: timedelta, text: str) -> None:
    assert format_timespan(value) == text
