"""Timer schedules, time zones, DST, the status record and the start algorithm
(semantics §4.1-§4.6), without storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from azure.functions.meta import get_binding_registry

from funchost.core.spec import BindingInfo, FunctionSpec
from funchost.errors import BindingError
from funchost.timer.schedule import (
    DEFAULT_TIME,
    NEVER,
    UTC,
    ConstantSchedule,
    CronSchedule,
    next_occurrences,
    parse_schedule,
    timer_zone,
)
from funchost.timer.status import ScheduleStatus, after_run, check_start, format_local, parse_dotnet
from funchost.triggers.timer import TimerTriggerSpec, timer_datum

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: Any, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold).astimezone(UTC)  # type: ignore[misc]


# -- §4.1 schedules ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "interval"), [
    ("00:05:00", timedelta(minutes=5)),
    ("1.00:00:00", timedelta(days=1)),
    ("25:00:00:00", timedelta(days=25)),  # d:hh:mm:ss, as .NET TimeSpan reads it
    ("00:00:30", timedelta(seconds=30)),
])
def test_timespan_schedules_semantics_4_1(text: str, interval: timedelta) -> None:
    schedule = parse_schedule(text, UTC)
    assert schedule == ConstantSchedule(interval)
    assert schedule.adjust_for_dst is False


@pytest.mark.parametrize("text", ["00:00:00", "24:00:00", "every minute", "* * *", "-00:05:00",
                                  "0 0 25 * * *"])
def test_bad_schedules_use_the_real_hosts_wording(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_schedule(text, UTC)
    assert str(info.value).startswith(f"The schedule expression '{text}' was not recognized "
                                      f"as a valid cron expression or timespan string")


def test_timespan_period_is_absolute_time_across_dst() -> None:
    # 01:30 PST + 1 h = 03:30 PDT on spring-forward day: one hour later, not two.
    schedule = parse_schedule("01:00:00", LA)
    assert schedule.next_occurrence(local(LA, 2024, 3, 10, 1, 30)) == utc(2024, 3, 10, 10, 30)


# -- §4.2 time zones and DST --------------------------------------------------------------

@pytest.mark.parametrize(("environ", "key"), [
    ({"WEBSITE_TIME_ZONE": "Europe/Berlin"}, "Europe/Berlin"),
    ({"WEBSITE_TIME_ZONE": "Pacific Standard Time"}, "America/Los_Angeles"),
    ({"WEBSITE_TIME_ZONE": "w. europe standard time"}, "Europe/Berlin"),
    ({"WEBSITE_TIME_ZONE": "UTC"}, "UTC"),
    ({"TZ": "Asia/Tokyo"}, "Asia/Tokyo"),
    ({"TZ": ":Asia/Tokyo", "WEBSITE_TIME_ZONE": "Europe/Berlin"}, "Europe/Berlin"),
])
def test_time_zone_from_settings_semantics_4_2(environ: dict[str, str], key: str) -> None:
    assert str(timer_zone(environ)) == key


def test_an_unknown_time_zone_names_the_setting() -> None:
    with pytest.raises(ValueError, match="WEBSITE_TIME_ZONE: 'Mars/Olympus' is not a time zone"):
        timer_zone({"WEBSITE_TIME_ZONE": "Mars/Olympus"})


def test_cron_occurrences_are_local_wall_times() -> None:
    schedule = parse_schedule("0 0 9 * * *", BERLIN)
    # 09:00 in Berlin is 07:00Z in summer and 08:00Z in winter.
    assert schedule.next_occurrence(utc(2024, 7, 1)) == utc(2024, 7, 1, 7)
    assert schedule.next_occurrence(utc(2024, 12, 1)) == utc(2024, 12, 1, 8)


def test_dst_spring_forward_skipped_time_runs_an_hour_later() -> None:
    daily = parse_schedule("0 30 2 * * *", LA)  # 02:30 does not exist on 2024-03-10
    first = daily.next_occurrence(local(LA, 2024, 3, 10, 1, 0))
    assert first == local(LA, 2024, 3, 10, 3, 30) == utc(2024, 3, 10, 10, 30)
    assert daily.next_occurrence(first) == local(LA, 2024, 3, 11, 2, 30)


def test_dst_spring_forward_interval_schedule_skips_the_missing_hour() -> None:
    half_hourly = parse_schedule("0 0,30 * * * *", LA)
    times = [local(LA, 2024, 3, 10, 1, 30)]
    for _ in range(3):
        times.append(half_hourly.next_occurrence(times[-1]))
    assert [t.astimezone(LA).strftime("%H:%M%z") for t in times] == [
        "01:30-0800", "03:00-0700", "03:30-0700", "04:00-0700"]


def test_dst_fall_back_point_in_time_runs_once_on_the_first_pass() -> None:
    daily = parse_schedule("0 30 1 * * *", LA)  # 01:30 happens twice on 2024-11-03
    first = daily.next_occurrence(local(LA, 2024, 11, 3, 0, 59))
    assert first == local(LA, 2024, 11, 3, 1, 30, fold=0) == utc(2024, 11, 3, 8, 30)
    assert daily.next_occurrence(first) == local(LA, 2024, 11, 4, 1, 30)
    # Started during the second pass: assume the first pass ran; skip to tomorrow.
    assert daily.next_occurrence(local(LA, 2024, 11, 3, 1, 29, fold=1)) == local(
        LA, 2024, 11, 4, 1, 30)


def test_dst_fall_back_interval_schedule_runs_through_both_passes() -> None:
    half_hourly = parse_schedule("0 0,30 * * * *", LA)
    times = [local(LA, 2024, 11, 3, 0, 30)]
    for _ in range(5):
        times.append(half_hourly.next_occurrence(times[-1]))
    assert [t.astimezone(LA).strftime("%H:%M%z") for t in times] == [
        "00:30-0700", "01:00-0700", "01:30-0700", "01:00-0800", "01:30-0800", "02:00-0800"]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(times, times[1:]))


def test_next_occurrences_are_logged_like_the_host() -> None:
    now = utc(2024, 5, 1, 10, 0, 0)
    assert next_occurrences(parse_schedule("0 */5 * * * *", UTC), now, UTC, 2) == [
        "05/01/2024 10:05:00Z", "05/01/2024 10:10:00Z"]
    assert next_occurrences(parse_schedule("0 0 12 * * *", BERLIN), now, BERLIN, 1) == [
        "05/02/2024 12:00:00+02:00 (05/02/2024 10:00:00Z)"]
    london = ZoneInfo("Europe/London")  # +00:00 in winter, but not UTC
    assert next_occurrences(parse_schedule("0 0 12 * * *", london), utc(2024, 1, 1), london,
                            1) == ["01/01/2024 12:00:00+00:00 (01/01/2024 12:00:00Z)"]


# -- §4.4 the status record -------------------------------------------------------------

def test_dates_are_written_like_json_net_and_dotnet_o() -> None:
    t = utc(2024, 5, 1, 8, 0, 0, 123400)
    assert format_local(t, BERLIN) == "2024-05-01T10:00:00.1234+02:00"
    assert format_local(t, BERLIN, trim=False) == "2024-05-01T10:00:00.1234000+02:00"
    assert format_local(utc(2024, 5, 1, 8), UTC) == "2024-05-01T08:00:00+00:00"
    assert format_local(DEFAULT_TIME, LA) == "0001-01-01T00:00:00+00:00"
    assert format_local(NEVER, LA) == "9999-12-31T23:59:59.9999999+00:00"


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T10:00:00.1234567+02:00", utc(2024, 5, 1, 8, 0, 0, 123456)),
    ("2024-05-01T08:00:00Z", utc(2024, 5, 1, 8)),
    ("2024-05-01T10:00:00", utc(2024, 5, 1, 8)),  # no offset: local time in the zone
    ("0001-01-01T00:00:00", DEFAULT_TIME),
    ("0001-01-01T00:00:00-08:00", DEFAULT_TIME),
])
def test_dates_written_by_the_real_host_are_read(text: str, expected: datetime) -> None:
    assert parse_dotnet(text, BERLIN) == expected


def test_status_json_round_trip() -> None:
    status = ScheduleStatus(utc(2024, 5, 1, 8), utc(2024, 5, 1, 9), utc(2024, 5, 1, 8, 0, 1))
    data = status.to_json(BERLIN)
    assert data == {"Last": "2024-05-01T10:00:00+02:00", "Next": "2024-05-01T11:00:00+02:00",
                    "LastUpdated": "2024-05-01T10:00:01+02:00"}
    assert ScheduleStatus.from_json(data, UTC) == status
    with pytest.raises(ValueError):
        ScheduleStatus.from_json({"Last": "x"}, UTC)


# -- §4.5 the start algorithm -----------------------------------------------------------

HOURLY = parse_schedule("0 0 * * * *", UTC)
NOW = utc(2024, 5, 1, 10, 20)


def test_start_without_status_records_the_next_occurrence() -> None:
    check = check_start(None, NOW, HOURLY)
    assert check.write == ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), NOW)
    assert check.status == ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), DEFAULT_TIME)
    assert check.past_due is False


def test_start_with_an_upcoming_next_waits_for_it() -> None:
    stored = ScheduleStatus(utc(2024, 5, 1, 10), utc(2024, 5, 1, 11), utc(2024, 5, 1, 10))
    assert check_start(stored, NOW, HOURLY) == type(check_start(stored, NOW, HOURLY))(
        stored, None, False)


def test_start_past_due_gives_one_catch_up_however_many_were_missed() -> None:
    # Last ran three hours ago; the 08:00, 09:00 and 10:00 runs were missed.
    stored = ScheduleStatus(utc(2024, 5, 1, 7), utc(2024, 5, 1, 8), utc(2024, 5, 1, 7))
    check = check_start(stored, NOW, HOURLY)
    assert check.past_due is True
    assert check.write is None and check.status == stored
    # The catch-up run restarts the schedule from now: one run, then the normal 11:00.
    after = after_run(check.status, NOW, HOURLY, scheduled=False)
    assert after == ScheduleStatus(NOW, utc(2024, 5, 1, 11), NOW)


def test_start_never_ran_but_missed_its_first_occurrence_is_past_due() -> None:
    stored = ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 9), utc(2024, 5, 1, 8, 30))
    assert check_start(stored, NOW, HOURLY).past_due is True


def test_start_detects_a_schedule_change_and_recomputes_from_last() -> None:
    # Next was written by a half-hourly schedule; hourly from Last gives 11:00 (upcoming).
    stored = ScheduleStatus(utc(2024, 5, 1, 10), utc(2024, 5, 1, 10, 30), utc(2024, 5, 1, 10))
    check = check_start(stored, NOW, HOURLY)
    assert check.write == ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), utc(2024, 5, 1, 10))
    assert check.status == check.write and check.past_due is False


def test_start_schedule_change_in_the_past_is_not_past_due() -> None:
    stored = ScheduleStatus(utc(2024, 5, 1, 7), utc(2024, 5, 1, 7, 30), utc(2024, 5, 1, 7))
    check = check_start(stored, NOW, HOURLY)
    assert check.write == ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), NOW)
    assert check.past_due is False


def test_after_a_scheduled_run_that_fired_early_last_is_the_occurrence() -> None:
    status = ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), DEFAULT_TIME)
    early = utc(2024, 5, 1, 10, 59, 59, 999000)
    assert after_run(status, early, HOURLY, scheduled=True) == ScheduleStatus(
        utc(2024, 5, 1, 11), utc(2024, 5, 1, 12), utc(2024, 5, 1, 11))


def test_after_an_overrun_next_is_from_the_run_start_so_one_immediate_run_follows() -> None:
    every_second = parse_schedule("* * * * * *", UTC)
    status = ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 10, 0, 0), DEFAULT_TIME)
    after = after_run(status, utc(2024, 5, 1, 10, 0, 0, 1000), every_second, scheduled=True)
    # The run took 2.5 s: Next (10:00:01) is already past when it ends, so the timer fires
    # once at once and then computes Next from that run's start, not every missed second.
    assert after.next == utc(2024, 5, 1, 10, 0, 1)


# -- TimerTriggerSpec (§4.3) and the TimerRequest (§4.6) --------------------------------

def _function(schedule: str, **props: Any) -> FunctionSpec:
    trigger = BindingInfo("timer", "timerTrigger", "in",
                          {"type": "timerTrigger", "name": "timer", "schedule": schedule, **props})
    return FunctionSpec(name="tick", func=lambda timer: None, trigger=trigger,
                        bindings=(trigger,), inputs=(), outputs=(), returns=None,
                        is_async=False, needs_context=False, directory=".",
                        script_file="function_app.py", function_json={})


@pytest.mark.parametrize(("schedule", "props", "monitor", "startup"), [
    ("0 */5 * * * *", {}, True, False),
    ("0 * * * * *", {}, True, False),
    ("* * * * * *", {}, False, False),  # more than once a minute: monitor off
    ("*/10 * * * * *", {"useMonitor": True}, False, False),
    ("00:00:30", {}, False, False),
    ("00:01:00", {}, True, False),
    ("0 */5 * * * *", {"useMonitor": False}, False, False),
    ("0 */5 * * * *", {"runOnStartup": True}, True, True),
    ("0 */5 * * * *", {"runOnStartup": "true", "useMonitor": "false"}, False, True),
])
def test_trigger_spec_use_monitor_and_run_on_startup(schedule: str, props: dict[str, Any],
                                                      monitor: bool, startup: bool) -> None:
    spec = TimerTriggerSpec.from_function(_function(schedule, **props), {},
                                          now=utc(2024, 5, 1, 10, 0, 10))
    assert (spec.use_monitor, spec.run_on_startup) == (monitor, startup)


def test_trigger_spec_resolves_settings() -> None:
    spec = TimerTriggerSpec.from_function(_function("%TICK%"), {"TICK": "0 0 * * * *"})
    assert isinstance(spec.schedule, CronSchedule) and spec.expression == "0 0 * * * *"


@pytest.mark.parametrize(("schedule", "environ", "message"), [
    ("%MISSING%", {}, "timer trigger of 'tick': app setting '%MISSING%' is not set"),
    ("0 0 25 * * *", {}, "timer trigger of 'tick': The schedule expression '0 0 25 * * *' was "
                         "not recognized"),
    ("%TICK%", {"TICK": "soon"}, "timer trigger of 'tick': schedule '%TICK%': The schedule "
                                 "expression 'soon' was not recognized"),
    ("0 0 * * * *", {"WEBSITE_TIME_ZONE": "Nowhere"}, "WEBSITE_TIME_ZONE: 'Nowhere'"),
])
def test_bad_trigger_specs_name_function_and_setting(schedule: str, environ: dict[str, str],
                                                     message: str) -> None:
    with pytest.raises(BindingError) as info:
        TimerTriggerSpec.from_function(_function(schedule), environ)
    assert message in str(info.value)


def test_timer_request_is_built_by_the_library_converter_semantics_4_6() -> None:
    converter = get_binding_registry().get("timerTrigger")
    status = ScheduleStatus(DEFAULT_TIME, utc(2024, 5, 1, 11), utc(2024, 5, 1, 10))
    request = converter.decode(timer_datum(HOURLY, status, UTC, True), trigger_metadata={})
    assert request.past_due is True
    assert request.schedule == {"AdjustForDST": True}
    assert request.schedule_status == {"Last": "0001-01-01T00:00:00+00:00",
                                       "Next": "2024-05-01T11:00:00+00:00",
                                       "LastUpdated": "2024-05-01T10:00:00+00:00"}
    unmonitored = converter.decode(timer_datum(ConstantSchedule(timedelta(seconds=5)), None,
                                               UTC, False), trigger_metadata={})
    assert (unmonitored.past_due, unmonitored.schedule_status, unmonitored.schedule) == (
        False, {}, {"AdjustForDST": False})


def test_fixed_offset_zone_has_no_dst_surprises() -> None:
    zone = timezone(timedelta(hours=5, minutes=30))
    assert parse_schedule("0 0 9 * * *", zone).next_occurrence(utc(2024, 5, 1)) == utc(
        2024, 5, 1, 3, 30)


def test_dst_fall_back_every_second_keeps_ticking_once_a_second() -> None:
    every_second = parse_schedule("* * * * * *", LA)
    t = local(LA, 2024, 11, 3, 1, 59, 58)
    ticks = [t]
    for _ in range(4):
        ticks.append(every_second.next_occurrence(ticks[-1]))
    assert all(b - a == timedelta(seconds=1) for a, b in zip(ticks, ticks[1:]))
    assert ticks[2].astimezone(LA).strftime("%H:%M:%S%z") == "01:00:00-0800"
