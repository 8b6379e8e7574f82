"""Business calendars and clocks, checked as a process owner would see them (sections 5, 6, 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from conftest import OFFICE, SH  # the `office` calendar of section 9
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import (
    Calendar,
    CalendarError,
    CalendarSpec,
    EveryDay,
    EveryWorkingDay,
    MonthlyDay,
    MonthlyWorkingDay,
    OnMonthDay,
    OnWeekday,
    WallRule,
)
from engine.calendar_file import load_calendars
from engine.clock import SimulatedClock, SystemClock

ALWAYS = Calendar.always()


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A wall-clock time in Shanghai."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


# --- section 5, worked examples --------------------------------------------------------------


def test_section5_working_days_skip_national_day_and_count_makeup_saturday() -> None:
    assert OFFICE.add_working_days(sh(2026, 9, 30, 16), 2) == sh(2026, 10, 9, 16)
    assert OFFICE.add_working_days(sh(2026, 9, 30, 16), 3) == sh(2026, 10, 10, 16)


def test_section5_working_hours() -> None:
    assert OFFICE.add_working_time(sh(2026, 9, 30, 15), hours(4)) == sh(2026, 10, 8, 10)
    assert OFFICE.add_working_time(sh(2026, 10, 9, 18, 30), hours(1)) == sh(2026, 10, 10, 9)


# --- acceptance example calendar_example_0 (Spring Festival 2026) ----------------------------

EXAMPLE_0_START = sh(2026, 2, 11, 13, 35)


@pytest.mark.parametrize(
    ("working_hours", "due"),
    [(6, sh(2026, 2, 12, 10, 35)), (30, sh(2026, 2, 24, 10, 35))],
)
def test_example0_working_hours(working_hours: int, due: datetime) -> None:
    assert OFFICE.add_working_time(EXAMPLE_0_START, hours(working_hours)) == due


@pytest.mark.parametrize(
    ("days", "due"),
    [
        (1, sh(2026, 2, 12, 13, 35)),
        (3, sh(2026, 2, 14, 13, 35)),  # Sat Feb 14 is a make-up working day
        (4, sh(2026, 2, 24, 13, 35)),  # Feb 15-23 is the Spring Festival
        (6, sh(2026, 2, 26, 13, 35)),
    ],
)
def test_example0_working_days(days: int, due: datetime) -> None:
    assert OFFICE.add_working_days(EXAMPLE_0_START, days) == due


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [
        (hours(69), sh(2026, 2, 14, 10, 35)),
        (hours(93), sh(2026, 2, 15, 10, 35)),
        (timedelta(days=8), sh(2026, 2, 19, 13, 35)),
        (hours(28), sh(2026, 2, 12, 17, 35)),
    ],
)
def test_example0_plain_durations_on_the_always_calendar(elapsed: timedelta, due: datetime) -> None:
    assert ALWAYS.add_working_time(EXAMPLE_0_START, elapsed) == due


# --- starts outside open hours, deadlines on a closing time ----------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        (sh(2026, 3, 3, 12, 30), hours(1), sh(2026, 3, 3, 14)),  # lunch break
        (sh(2026, 3, 2, 22), hours(1), sh(2026, 3, 3, 9)),  # night
        (sh(2026, 3, 3, 6), hours(1), sh(2026, 3, 3, 9)),  # early morning
        (sh(2026, 3, 7, 10), hours(1), sh(2026, 3, 9, 9)),  # Saturday
        (sh(2026, 10, 1, 10), hours(1), sh(2026, 10, 8, 9)),  # National Day
        (sh(2026, 3, 3, 12), timedelta(minutes=30), sh(2026, 3, 3, 13, 30)),  # at 12:00
        (sh(2026, 3, 3, 17), timedelta(minutes=30), sh(2026, 3, 4, 8, 30)),  # at 17:00
        (sh(2026, 3, 3, 10), hours(2), sh(2026, 3, 3, 12)),  # lands on 12:00, stays
        (sh(2026, 3, 3, 13), hours(4), sh(2026, 3, 3, 17)),  # lands on 17:00, stays
        (sh(2026, 3, 2, 8), hours(16), sh(2026, 3, 3, 17)),  # two full days
        (sh(2026, 9, 30, 16), hours(1), sh(2026, 9, 30, 17)),  # 17:00 before a holiday
        (sh(2026, 3, 7, 10), hours(4), sh(2026, 3, 9, 12)),  # weekend start, lands on 12:00
    ],
)
def test_working_time_outside_hours_and_closing_times(
    start: datetime, duration: timedelta, due: datetime
) -> None:
    assert OFFICE.add_working_time(start, duration) == due


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (sh(2026, 3, 3, 12, 30), 1, sh(2026, 3, 4, 13)),  # lunch: moves to 13:00 first
        (sh(2026, 3, 3, 17), 1, sh(2026, 3, 5, 8)),  # 17:00 moves to Wed 08:00 first
        (sh(2026, 10, 9, 18, 30), 1, sh(2026, 10, 12, 8)),  # to Sat 10-10 08:00, then Mon
        (sh(2026, 9, 24, 16), 1, sh(2026, 9, 28, 16)),  # Mid-Autumn Fri 25 - Sun 27
        (sh(2026, 9, 24, 16), 3, sh(2026, 9, 30, 16)),
        (sh(2026, 10, 9, 10), 1, sh(2026, 10, 10, 10)),  # tasks.yaml: make-up Saturday
        (sh(2026, 3, 7, 10), 0, sh(2026, 3, 9, 8)),  # zero days: just the next opening
    ],
)
def test_working_days_outside_hours(start: datetime, days: int, due: datetime) -> None:
    assert OFFICE.add_working_days(start, days) == due


def test_zero_working_time_is_the_next_opening() -> None:
    assert OFFICE.add_working_time(sh(2026, 3, 3, 12), timedelta(0)) == sh(2026, 3, 3, 13)
    assert OFFICE.add_working_time(sh(2026, 3, 3, 9), timedelta(0)) == sh(2026, 3, 3, 9)


def test_open_hours_are_half_open() -> None:
    assert OFFICE.is_open(sh(2026, 3, 3, 8))
    assert OFFICE.is_open(sh(2026, 3, 3, 11, 59, 59))
    assert not OFFICE.is_open(sh(2026, 3, 3, 12))
    assert OFFICE.is_open(sh(2026, 3, 3, 13))
    assert not OFFICE.is_open(sh(2026, 3, 3, 17))
    assert not OFFICE.is_open(sh(2026, 10, 5, 10))  # National Day
    assert OFFICE.is_open(sh(2026, 10, 10, 10))  # make-up Saturday
    assert OFFICE.next_open(sh(2026, 3, 3, 12)) == sh(2026, 3, 3, 13)
    assert OFFICE.next_open(sh(2026, 9, 30, 17)) == sh(2026, 10, 8, 8)


def test_other_zones_are_converted_and_results_are_in_the_calendar_zone() -> None:
    start = datetime(2026, 9, 30, 7, tzinfo=UTC)  # 15:00 in Shanghai
    due = OFFICE.add_working_time(start, hours(4))
    assert due == sh(2026, 10, 8, 10)
    assert due.tzinfo == SH


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add_working_time(datetime(2026, 3, 3, 9), hours(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS.is_open(datetime(2026, 3, 3, 9))


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError):
        OFFICE.add_working_time(sh(2026, 3, 3, 9), hours(-1))
    with pytest.raises(ValueError):
        OFFICE.add_working_days(sh(2026, 3, 3, 9), -1)


# --- working days ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 20), True),  # Sunday, make-up for National Day
        (date(2026, 10, 10), True),  # Saturday, make-up for National Day
        (date(2026, 2, 14), True),  # Saturday, make-up for Spring Festival
        (date(2026, 2, 28), True),  # Saturday, make-up for Spring Festival
        (date(2026, 9, 25), False),  # Friday, Mid-Autumn
        (date(2026, 10, 5), False),  # Monday, National Day
        (date(2026, 2, 17), False),  # Tuesday, Spring Festival
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 3, 9), True),  # an ordinary Monday
        (date(2026, 12, 31), False),  # extra_holidays of the office calendar
    ],
)
def test_is_working_day_with_cn_holidays(day: date, working: bool) -> None:
    assert OFFICE.is_working_day(day) is working


def test_extra_days_override_the_official_data() -> None:
    spec = CalendarSpec(
        hours=["09:00-18:00"],
        holidays="CN",
        extra_workdays=[date(2026, 10, 5), date(2027, 1, 9)],
        extra_holidays=[date(2026, 10, 10)],
    )
    cal = Calendar.from_spec("custom", spec)
    assert cal.is_working_day(date(2026, 10, 5))  # a National Day holiday made a working day
    assert not cal.is_working_day(date(2026, 10, 10))  # a make-up day given off
    assert cal.is_working_day(date(2027, 1, 9))  # a Saturday
    assert cal.add_working_days(sh(2026, 10, 9, 10), 1) == sh(2026, 10, 12, 10)


def test_data_past_2026_is_an_estimate() -> None:
    assert OFFICE.official_data_until == date(2026, 12, 31)
    assert not OFFICE.is_estimated(date(2026, 12, 31))
    assert OFFICE.is_estimated(date(2027, 1, 1))
    assert OFFICE.is_estimated(date(2027, 10, 1))
    # No data for 2027: New Year's Day (a Friday) is guessed from the weekdays only.
    assert OFFICE.is_working_day(date(2027, 1, 1))
    assert not OFFICE.is_working_day(date(2027, 1, 2))


def test_calendars_without_cn_are_never_estimated() -> None:
    plain = Calendar.from_spec("plain", CalendarSpec(hours=["09:00-17:00"]))
    assert plain.official_data_until is None
    assert not plain.is_estimated(date(2030, 1, 1))
    assert plain.is_working_day(date(2026, 10, 1))  # no holidays without `holidays: CN`
    assert not ALWAYS.is_estimated(date(2030, 1, 1))


# --- 24/7 --------------------------------------------------------------------------------------


def test_always_calendar_is_plain_time() -> None:
    start = sh(2026, 10, 1, 23, 30)
    assert ALWAYS.name == "always" and ALWAYS.always_open and ALWAYS.tz == SH
    assert ALWAYS.is_open(start) and ALWAYS.is_working_day(date(2026, 10, 1))
    assert ALWAYS.next_open(start) == start
    assert ALWAYS.add_working_time(start, hours(1)) == sh(2026, 10, 2, 0, 30)
    assert ALWAYS.add_working_days(start, 2) == sh(2026, 10, 3, 23, 30)
    assert ALWAYS.working_time_between(start, sh(2026, 10, 3)) == hours(24.5)
    assert ALWAYS.working_time_between(sh(2026, 10, 3), start) == timedelta(0)


def test_round_the_clock_calendar_with_holidays_closes_on_holidays() -> None:
    cal = Calendar.from_spec("duty", CalendarSpec(hours="24/7", holidays="CN"))
    assert not cal.always_open
    assert cal.is_open(sh(2026, 9, 30, 23, 59)) and cal.is_open(sh(2026, 3, 7, 12))  # Sat
    assert not cal.is_open(sh(2026, 10, 1, 12))
    assert cal.add_working_time(sh(2026, 9, 30, 23, 30), hours(1)) == sh(2026, 10, 8, 0, 30)
    assert cal.add_working_time(sh(2026, 9, 30, 23), hours(1)) == sh(2026, 10, 1)  # stays


# --- SLA clocks (section 6) ------------------------------------------------------------------


def test_working_time_between_counts_open_time_only() -> None:
    assert OFFICE.working_time_between(sh(2026, 9, 30, 15), sh(2026, 10, 8, 10)) == hours(4)
    assert OFFICE.working_time_between(sh(2026, 3, 2, 9), sh(2026, 3, 4, 9)) == hours(16)
    assert OFFICE.working_time_between(sh(2026, 3, 3, 12), sh(2026, 3, 3, 13)) == timedelta(0)
    assert OFFICE.working_time_between(sh(2026, 3, 4), sh(2026, 3, 3)) == timedelta(0)


def test_sla_pause_example() -> None:
    """sla_pause.yaml: 2 working days from Mon 09:00, paused Mon 11:00 - Tue 11:00."""
    opened = sh(2026, 3, 2, 9)
    allowed = OFFICE.working_time_between(opened, OFFICE.add_working_days(opened, 2))
    used = OFFICE.working_time_between(opened, sh(2026, 3, 2, 11))
    assert (allowed, used) == (hours(16), hours(2))
    assert OFFICE.add_working_time(sh(2026, 3, 3, 11), allowed - used) == sh(2026, 3, 5, 9)


# --- wall-clock timers -------------------------------------------------------------------------


def test_every_working_day_at_1730_skips_mid_autumn() -> None:
    fired = [sh(2026, 9, 24, 16)]
    for _ in range(3):
        fired.append(OFFICE.next_wall_time(fired[-1], time(17, 30), EveryWorkingDay()))
    assert fired[1:] == [sh(2026, 9, 24, 17, 30), sh(2026, 9, 28, 17, 30), sh(2026, 9, 29, 17, 30)]


def test_wall_rules() -> None:
    at9 = time(9)
    assert OFFICE.next_wall_time(sh(2026, 3, 3, 9), at9, EveryDay()) == sh(2026, 3, 4, 9)
    assert OFFICE.next_wall_time(sh(2026, 3, 3, 8), at9, EveryDay()) == sh(2026, 3, 3, 9)
    assert OFFICE.next_wall_time(sh(2026, 3, 3, 8), at9, OnWeekday(0)) == sh(2026, 3, 9, 9)
    assert OFFICE.next_wall_time(sh(2026, 1, 31, 10), at9, OnMonthDay(31)) == sh(2026, 3, 31, 9)
    assert OFFICE.next_wall_time(sh(2026, 2, 1), at9, OnMonthDay(29)) == sh(2026, 3, 29, 9)
    # On a 24/7 calendar every day is a working day.
    assert ALWAYS.next_wall_time(sh(2026, 10, 1), at9, EveryWorkingDay()) == sh(2026, 10, 1, 9)
    with pytest.raises(ValueError):
        OnWeekday(7)
    with pytest.raises(ValueError):
        OnMonthDay(32)


# --- laws --------------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 1), timezones=st.just(SH)
)
minute_starts = starts.map(lambda t: t.replace(second=0, microsecond=0))
durations = st.integers(0, 60 * 120).map(lambda m: timedelta(minutes=m))
positive_durations = st.integers(1, 60 * 120).map(lambda m: timedelta(minutes=m))
LAWS = settings(max_examples=150, deadline=None)


def open_or_closing(cal: Calendar, t: datetime) -> bool:
    just_before = t - timedelta(microseconds=1)
    return cal.is_open(t) or cal.is_open(just_before)


@LAWS
@given(starts, positive_durations)
def test_law_deadline_is_open_or_a_closing_time(start: datetime, d: timedelta) -> None:
    assert open_or_closing(OFFICE, OFFICE.add_working_time(start, d))


@LAWS
@given(starts, st.integers(0, 40))
def test_law_working_days_land_on_an_open_instant(start: datetime, n: int) -> None:
    due = OFFICE.add_working_days(start, n)
    assert OFFICE.is_open(due)
    assert due.time() == OFFICE.next_open(start).time()


@LAWS
@given(starts, durations, durations)
def test_law_monotone(start: datetime, a: timedelta, b: timedelta) -> None:
    small, large = sorted([a, b])
    assert OFFICE.add_working_time(start, small) <= OFFICE.add_working_time(start, large)


@LAWS
@given(starts, st.integers(0, 30), st.integers(0, 30))
def test_law_working_days_monotone(start: datetime, a: int, b: int) -> None:
    small, large = sorted([a, b])
    assert OFFICE.add_working_days(start, small) <= OFFICE.add_working_days(start, large)


@LAWS
@given(starts, durations, positive_durations)
def test_law_adding_in_two_steps(start: datetime, a: timedelta, b: timedelta) -> None:
    in_two = OFFICE.add_working_time(OFFICE.add_working_time(start, a), b)
    assert in_two == OFFICE.add_working_time(start, a + b)


@LAWS
@given(starts, durations)
def test_law_between_inverts_add(start: datetime, d: timedelta) -> None:
    assert OFFICE.working_time_between(start, OFFICE.add_working_time(start, d)) == d
    assert ALWAYS.working_time_between(start, ALWAYS.add_working_time(start, d)) == d


@LAWS
@given(starts, starts, starts)
def test_law_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted([a, b, c])
    total = OFFICE.working_time_between(a, c)
    assert total == OFFICE.working_time_between(a, b) + OFFICE.working_time_between(b, c)


def brute_force_add(cal: Calendar, start: datetime, minutes: int) -> datetime:
    """Count open minutes one by one (skipping closed days): the reference for deadlines."""
    t = start
    while True:
        if not cal.is_working_day(t.date()):
            t = datetime.combine(t.date() + timedelta(days=1), time(), SH)
        elif not cal.is_open(t):
            t += timedelta(minutes=1)
        elif minutes == 0:
            return t
        else:
            t += timedelta(minutes=1)
            minutes -= 1
            if minutes == 0:
                return t


@settings(max_examples=40, deadline=None)
@given(minute_starts, st.integers(0, 60 * 12))
def test_law_matches_counting_minutes(start: datetime, minutes: int) -> None:
    due = OFFICE.add_working_time(start, timedelta(minutes=minutes))
    assert due == brute_force_add(OFFICE, start, minutes)


wall_rules = st.one_of(
    st.just(EveryDay()),
    st.just(EveryWorkingDay()),
    st.integers(0, 6).map(OnWeekday),
    st.integers(1, 31).map(OnMonthDay),
)


def day_matches(rule: WallRule, day: date) -> bool:
    """The rules spelled out, as a reference."""
    if isinstance(rule, OnWeekday):
        return day.weekday() == rule.weekday
    if isinstance(rule, OnMonthDay):
        return day.day == rule.day
    return isinstance(rule, EveryDay) or OFFICE.is_working_day(day)


@LAWS
@given(starts, st.times(), wall_rules)
def test_law_next_wall_time(after: datetime, at: time, rule: WallRule) -> None:
    t = OFFICE.next_wall_time(after, at, rule)
    assert t > after
    assert t.tzinfo == SH and t.time() == at and day_matches(rule, t.date())
    day = after.date()
    while day < t.date():  # no earlier candidate was skipped
        candidate = datetime.combine(day, at, SH)
        assert candidate <= after or not day_matches(rule, day)
        day += timedelta(days=1)


# --- the calendar file -------------------------------------------------------------------------

SECTION_9 = """\
office:
  timezone: Asia/Shanghai
  hours: ["08:00-12:00", "13:00-17:00"]
  weekdays: [mon, tue, wed, thu, fri]
  holidays: CN            # statutory holidays and make-up working days
  extra_holidays: [2026-12-31]
  extra_workdays: []
always:
  timezone: Asia/Shanghai
  hours: 24/7
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendars.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_section9_file(tmp_path: Path) -> None:
    calendars = load_calendars(write(tmp_path, SECTION_9))
    assert set(calendars) == {"office", "always"}
    office = calendars["office"]
    assert office.name == "office" and not office.always_open
    assert office.add_working_days(sh(2026, 9, 30, 16), 3) == sh(2026, 10, 10, 16)
    assert not office.is_working_day(date(2026, 12, 31))
    assert calendars["always"].always_open


def test_always_is_built_in(tmp_path: Path) -> None:
    calendars = load_calendars(write(tmp_path, "shop:\n  hours: ['10:00-22:00']\n"))
    assert set(calendars) == {"shop", "always"}
    assert calendars["shop"].is_working_day(date(2026, 3, 6))  # default weekdays mon-fri
    assert not calendars["shop"].is_working_day(date(2026, 3, 7))
    assert calendars["always"].always_open
    assert set(load_calendars(write(tmp_path, ""))) == {"always"}


def test_a_file_may_redefine_always(tmp_path: Path) -> None:
    calendars = load_calendars(write(tmp_path, "always:\n  hours: ['00:00-24:00']\n"))
    assert not calendars["always"].always_open  # mon-fri only now


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("office:\n  hours: ['8-12']\n", ["office", "hours", "'8-12'", "HH:MM-HH:MM"]),
        ("office:\n  hours: ['13:00-17:00', '08:00-12:00']\n", ["office", "hours", "order"]),
        ("office:\n  hours: ['17:00-08:00']\n", ["office", "hours", "start before end"]),
        ("office:\n  hours: 9to5\n", ["office", "hours", "24/7"]),
        ("office:\n  timezone: Asia/Beijing\n", ["office", "timezone", "Asia/Beijing", "IANA"]),
        ("office:\n  weekdays: [mon, funday]\n", ["office", "weekdays[1]", "'mon'", "funday"]),
        ("office:\n  holidays: US\n", ["office", "holidays", "'CN'", "US"]),
        ("office:\n  hollidays: CN\n", ["office", "unknown key 'hollidays'", "holidays"]),
        ("office:\n  extra_holidays: [2026-13-01]\n", ["office", "extra_holidays[0]", "date"]),
        ("office:\n  weekdays: []\n", ["office", "weekdays", "at least one"]),
        (
            "office:\n  extra_holidays: [2026-05-09]\n  extra_workdays: [2026-05-09]\n",
            ["office", "extra_holidays", "extra_workdays", "2026-05-09"],
        ),
        ("office: 24/7\n", ["office", "mapping"]),
        ("- office\n", ["mapping of calendar names"]),
        ("office:\n  hours: [\n", ["not valid YAML"]),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, words: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError) as caught:
        load_calendars(path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="cannot read"):
        load_calendars(tmp_path / "nope.yaml")


# --- clocks ------------------------------------------------------------------------------------


def test_simulated_clock_moves_forward_only() -> None:
    clock = SimulatedClock(sh(2026, 3, 2, 9))
    clock.advance_by(timedelta(minutes=20))
    assert clock.now() == sh(2026, 3, 2, 9, 20)
    clock.advance_to(sh(2026, 3, 3, 17, 29))
    assert clock.now() == sh(2026, 3, 3, 17, 29)
    with pytest.raises(ValueError, match="the clock cannot go backwards"):
        clock.advance_to(sh(2026, 3, 3, 17, 28))
    with pytest.raises(ValueError, match="the clock cannot go backwards"):
        clock.advance_by(timedelta(seconds=-1))
    assert clock.now() == sh(2026, 3, 3, 17, 29)


def test_clocks_are_timezone_aware() -> None:
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 3, 2, 9))
    assert SystemClock().now().tzinfo is not None
    assert SystemClock(SH).now().tzinfo == SH


# ---------------------------------------------------------------- monthly rules (additions)

MONTHLY = st.one_of(
    st.builds(
        MonthlyDay,
        st.integers(1, 31),
        st.sampled_from([-1, 0, 1]),
        st.booleans(),
    ),
    st.builds(MonthlyWorkingDay, st.integers(1, 23) | st.just(-1), st.booleans()),
)


def _working_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    days = [first + timedelta(days=i) for i in range(31)]
    return [d for d in days if d.month == month and OFFICE.is_working_day(d)]


def _picks(rule: MonthlyDay | MonthlyWorkingDay, day: date) -> bool:
    """An oracle, written from the rule's words: does `rule` pick `day`?"""
    if isinstance(rule, MonthlyWorkingDay):
        if rule.quarterly and day.month not in (1, 4, 7, 10):
            return False
        working = _working_days(day.year, day.month)
        if rule.n == -1:
            return bool(working) and day == working[-1]
        return rule.n <= len(working) and day == working[rule.n - 1]

    # day N itself when it is a working day (or when there is no shift)
    def is_day_n(d: date) -> bool:
        return d.day == rule.day and (not rule.quarterly or d.month in (1, 4, 7, 10))

    if is_day_n(day):
        return rule.shift == 0 or OFFICE.is_working_day(day)
    if rule.shift == 0 or not OFFICE.is_working_day(day):
        return False
    # a working day reached from a day N that is not a working day, through days off only
    d = day - timedelta(days=rule.shift)
    while not OFFICE.is_working_day(d):
        if is_day_n(d):
            return True
        d -= timedelta(days=rule.shift)
    return False


@settings(max_examples=150, deadline=None)
@given(
    MONTHLY,
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 10, 31)),
)
def test_monthly_rules_pick_the_first_matching_day_after_the_start(
    rule: MonthlyDay | MonthlyWorkingDay, start: datetime
) -> None:
    start = start.replace(tzinfo=SH)
    due = OFFICE.next_wall_time(start, time(9, 0), rule)
    assert due > start and due.time() == time(9, 0)
    assert _picks(rule, due.date()), (rule, due)
    day = start.date() if start.time() < time(9, 0) else start.date() + timedelta(days=1)
    while day < due.date():
        assert not _picks(rule, day), (rule, day, due)
        day += timedelta(days=1)


def test_monthly_rules_on_the_2026_national_day() -> None:
    start = datetime(2026, 9, 15, 12, 0, tzinfo=SH)
    first = OFFICE.next_wall_time(start, time(9), MonthlyWorkingDay(1))
    assert first == datetime(2026, 10, 8, 9, 0, tzinfo=SH)  # Oct 1-7 off
    before = OFFICE.next_wall_time(start, time(9), MonthlyDay(1, -1))
    assert before == datetime(2026, 9, 30, 9, 0, tzinfo=SH)  # moved back into September
    quarter = OFFICE.next_wall_time(start, time(9), MonthlyDay(10, -1, quarterly=True))
    assert quarter == datetime(2026, 10, 10, 9, 0, tzinfo=SH)  # Sat 10-10: a make-up day
