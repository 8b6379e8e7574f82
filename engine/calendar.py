"""Business calendars: opening hours, working days, and time arithmetic on them.

Everything here is a pure function of its arguments (no clock, no I/O); reading the
calendar file of the flow language (section 9) is `engine.calendar_file`'s.

Conventions:
- every datetime argument must be timezone-aware (naive ones raise ValueError);
  it is converted to the calendar's zone, the arithmetic is done on the local
  wall clock, and results are aware datetimes in the calendar's zone (in a zone
  with daylight saving time, an hour skipped or repeated by the clock change
  counts as one wall-clock hour; Asia/Shanghai has none);
- opening hours are half-open intervals [start, end): 12:00 is closed for
  "08:00-12:00", but a deadline may land exactly on 12:00 (section 5);
- with `holidays: CN` the official statutory holidays and make-up working days
  (调休) of the `chinese_calendar` package are used; outside the years it covers
  the result is a guess from `weekdays` and the extra days (see `is_estimated`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from engine.errors import FlowdeskError
from engine.i18n import msg

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)

Interval = tuple[timedelta, timedelta]  # [start, end) as offsets from local midnight


class CalendarError(FlowdeskError):
    """A calendar file or calendar setting that cannot be used, explained in plain words."""


# --- the calendar file ---------------------------------------------------------------------


class CalendarSpec(BaseModel):
    """One entry of the calendar file, validated; turn it into a `Calendar` with `from_spec`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Asia/Shanghai"
    hours: list[str] | Literal["24/7"] = "24/7"
    weekdays: list[Weekday] | None = None  # default: mon-fri with hours, every day with 24/7
    holidays: Literal["CN"] | None = None
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []
    # years whose State Council notice (放假调休通知) the extra lists hold, written by
    # `flow calendar import`: those years are official, not estimated
    notices: list[int] = []

    @model_serializer(mode="wrap")
    def _without_empty_notices(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A calendar without imported notices dumps as it did before the key existed (the
        dump is part of a pinned flow's content hash)."""
        dumped: dict[str, Any] = handler(self)
        if not self.notices:
            dumped.pop("notices", None)
        return dumped

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _valid_hours(cls, value: object) -> object:
        if value == "24/7":
            return value
        if not isinstance(value, list):
            raise ValueError(
                msg(
                    "{value!r} is not 24/7 nor a list of intervals like ['08:00-12:00', "
                    "'13:00-17:00']",
                    value=value,
                )
            )
        _parse_hours(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _some_weekday(cls, value: list[Weekday] | None) -> list[Weekday] | None:
        if value is not None and not value:
            raise ValueError(msg("the list is empty; name at least one of mon, tue, ..., sun"))
        return value

    @model_validator(mode="after")
    def _day_in_one_list(self) -> CalendarSpec:
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            days = ", ".join(str(d) for d in both)
            raise ValueError(
                msg("extra_holidays and extra_workdays both list {days}; pick one", days=days)
            )
        return self


_INTERVAL = re.compile(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*")


def _parse_interval(text: object) -> Interval:
    """Parse "HH:MM-HH:MM" (end may be 24:00) into offsets from midnight."""
    match = _INTERVAL.fullmatch(text) if isinstance(text, str) else None
    if match is not None:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)
        if h1 < 24 and m1 < 60 and m2 < 60 and start < end <= ONE_DAY:
            return start, end
    raise ValueError(
        msg(
            "{text!r} is not an interval 'HH:MM-HH:MM' with start before end (for "
            "example '08:00-12:00'; '24:00' is allowed as an end)",
            text=text,
        )
    )


def _parse_hours(hours: list[object] | list[str]) -> tuple[Interval, ...]:
    """Parse the `hours` list into sorted, non-overlapping intervals."""
    if not hours:
        raise ValueError(msg("the list is empty; give intervals like '08:00-12:00', or 24/7"))
    intervals: list[Interval] = []
    for text in hours:
        start, end = _parse_interval(text)
        if intervals and start < intervals[-1][1]:
            raise ValueError(
                msg(
                    "{text!r} starts before the previous interval ends; list intervals in "
                    "time order, without overlap",
                    text=text,
                )
            )
        intervals.append((start, end))
    return tuple(intervals)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            msg("unknown time zone {name!r}; use an IANA name such as Asia/Shanghai", name=name)
        ) from None


# --- official Chinese holidays -------------------------------------------------------------


@dataclass(frozen=True)
class _OfficialDays:
    holidays: frozenset[date]  # statutory holidays (may include weekend days)
    workdays: frozenset[date]  # make-up working days (调休), usually on a weekend
    first: date  # Jan 1 of the first year covered
    last: date  # Dec 31 of the last year covered


@functools.cache
def _cn_official_days() -> _OfficialDays:
    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    years = {d.year for d in holidays | workdays}
    return _OfficialDays(holidays, workdays, date(min(years), 1, 1), date(max(years), 12, 31))


def _official_until(official: _OfficialDays | None, notices: list[int]) -> date | None:
    """The last day official data covers: the bundled data's, or the end of the last year
    whose notice was imported right after it."""
    if official is None:
        return None
    last = official.last
    while last.year + 1 in notices:
        last = date(last.year + 1, 12, 31)
    return last


# --- wall-clock rules (every day / working day / monday / month on day N) -------------------


@dataclass(frozen=True)
class EveryDay:
    """Every calendar day."""


@dataclass(frozen=True)
class EveryWorkingDay:
    """Every working day of the calendar (on a 24/7 calendar, every day)."""


@dataclass(frozen=True)
class OnWeekday:
    """One day of the week: 0 = Monday ... 6 = Sunday."""

    weekday: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(
                msg("weekday must be 0 (Monday) to 6 (Sunday), got {weekday}", weekday=self.weekday)
            )


@dataclass(frozen=True)
class OnMonthDay:
    """Day N of every month; months without that day are skipped."""

    day: int

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 31:
            raise ValueError(msg("day of month must be 1 to 31, got {day}", day=self.day))


QUARTER_MONTHS = (1, 4, 7, 10)


@dataclass(frozen=True)
class MonthlyDay:
    """Day N of every month (or of the first month of every quarter). With `shift` -1/+1 a
    day N that is not a working day moves to the working day before/after it; a month
    without day N is skipped."""

    day: int
    shift: int = 0
    quarterly: bool = False


@dataclass(frozen=True)
class MonthlyWorkingDay:
    """The N-th working day of every month (or quarter's first month); N = -1 is the last.
    A month with fewer than N working days is skipped."""

    n: int
    quarterly: bool = False


WallRule = EveryDay | EveryWorkingDay | OnWeekday | OnMonthDay | MonthlyDay | MonthlyWorkingDay


def wall_rule(
    kind: str, weekday: int | None, month_day: int | None, shift: int = 0, quarterly: bool = False
) -> WallRule:
    """The rule a timer or schedule spells (`definition.WallRule`'s fields)."""
    if kind == "day":
        return EveryDay()
    if kind == "working_day":
        return EveryWorkingDay()
    if kind == "weekday":
        assert weekday is not None
        return OnWeekday(weekday)
    assert month_day is not None
    if kind == "working_day_of_month":
        return MonthlyWorkingDay(month_day, quarterly)
    if shift or quarterly:
        return MonthlyDay(month_day, shift, quarterly)
    return OnMonthDay(month_day)


def _days_of(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


# --- the calendar --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Calendar:
    """Opening hours and working days of one calendar, with business-time arithmetic.

    Build it with `Calendar.from_spec` (or `Calendar.always()`), not directly.
    """

    name: str
    tz: ZoneInfo
    always_open: bool  # open every minute of every day: arithmetic is plain elapsed time
    official_data_until: date | None  # last day of official CN data; None without CN
    _hours: tuple[Interval, ...] = field(repr=False)
    _day_length: timedelta = field(repr=False)  # open time of one working day
    _weekdays: frozenset[int] = field(repr=False)  # 0 = Monday
    _extra_holidays: frozenset[date] = field(repr=False)
    _extra_workdays: frozenset[date] = field(repr=False)
    _official: _OfficialDays | None = field(repr=False)
    _working: dict[date, bool] = field(default_factory=dict, repr=False)  # is_working_day cache
    spec: CalendarSpec = field(default_factory=CalendarSpec, repr=False)  # what it was built from

    @classmethod
    def from_spec(cls, name: str, spec: CalendarSpec) -> Calendar:
        """Build the calendar `name` from its validated entry in the calendar file."""
        all_day = isinstance(spec.hours, str)  # "24/7"
        hours = ((ZERO, ONE_DAY),) if isinstance(spec.hours, str) else _parse_hours(spec.hours)
        names = spec.weekdays or (WEEKDAYS if all_day else WEEKDAYS[:5])
        weekdays = frozenset(WEEKDAYS.index(n) for n in names)
        official = _cn_official_days() if spec.holidays == "CN" else None
        every_day = len(weekdays) == 7 and official is None and not spec.extra_holidays
        return cls(
            name=name,
            tz=_zone(spec.timezone),
            always_open=all_day and every_day,
            official_data_until=_official_until(official, spec.notices),
            _hours=hours,
            _day_length=sum((end - start for start, end in hours), ZERO),
            _weekdays=weekdays,
            _extra_holidays=frozenset(spec.extra_holidays),
            _extra_workdays=frozenset(spec.extra_workdays),
            _official=official,
            spec=spec,
        )

    @classmethod
    def always(cls) -> Calendar:
        """The built-in calendar `always`: open 24/7 in Asia/Shanghai."""
        return cls.from_spec("always", CalendarSpec())

    # --- days ---

    def is_working_day(self, d: date) -> bool:
        """Whether `d` is a working day: extra days first, then official CN data, then weekdays."""
        known = self._working.get(d)
        if known is None:
            known = self._working[d] = self._decide_working_day(d)
        return known

    def _decide_working_day(self, d: date) -> bool:
        if d in self._extra_workdays:
            return True
        if d in self._extra_holidays:
            return False
        cn = self._official
        if cn is not None and cn.first <= d <= cn.last:
            if d in cn.holidays:
                return False
            if d in cn.workdays:
                return True
        return d.weekday() in self._weekdays

    def is_estimated(self, d: date) -> bool:
        """Whether `is_working_day(d)` is a guess: CN holidays apply but no official data covers d
        (the bundled data, or a notice imported into the calendar file).

        Dates before the first year of the data count as estimated too.
        """
        cn = self._official
        return cn is not None and not cn.first <= d <= cn.last and d.year not in self.spec.notices

    # --- instants ---

    def is_open(self, t: datetime) -> bool:
        """Whether the calendar is open at `t` (inside [start, end) of a working day's hours)."""
        day, offset = self._wall(t)
        if self.always_open:
            return True
        return self.is_working_day(day) and any(s <= offset < e for s, e in self._hours)

    def next_open(self, t: datetime) -> datetime:
        """`t` if the calendar is open then, else the next opening instant."""
        if self.always_open:
            return self._in_zone(t)
        return self._at(*self._consume(*self._wall(t), ZERO))

    def add_working_time(self, start: datetime, d: timedelta) -> datetime:
        """The instant when `d` of open time has passed since `start` (section 5 deadlines).

        A closed start first moves to the next opening; a deadline landing exactly on a
        closing time stays there. `d == 0` gives `next_open(start)`.
        """
        if d < ZERO:
            raise ValueError(msg("a working duration cannot be negative, got {d}", d=d))
        if self.always_open:
            return (self._in_zone(start).astimezone(UTC) + d).astimezone(self.tz)
        return self._at(*self._consume(*self._wall(start), d))

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The same clock time on the n-th following working day (section 5).

        A closed start first moves to the next opening; make-up working days count.
        """
        if n < 0:
            raise ValueError(msg("a number of working days cannot be negative, got {n}", n=n))
        if self.always_open:
            return self._in_zone(start) + timedelta(days=n)  # same wall-clock time
        day, clock = self._consume(*self._wall(start), ZERO)
        for _ in range(n):
            day += ONE_DAY
            while not self.is_working_day(day):
                day += ONE_DAY
        return self._at(day, clock)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in [a, b), zero if b <= a; the measure of SLA clocks on this calendar."""
        if self.always_open:
            return max(self._in_zone(b).astimezone(UTC) - self._in_zone(a).astimezone(UTC), ZERO)
        day, offset = self._wall(a)
        last_day, last_offset = self._wall(b)
        total = ZERO
        while day < last_day or (day == last_day and offset < last_offset):
            if self.is_working_day(day):
                if offset == ZERO and day < last_day:
                    total += self._day_length
                else:
                    limit = last_offset if day == last_day else ONE_DAY
                    for start, end in self._hours:
                        total += max(ZERO, min(end, limit) - max(start, offset))
            day, offset = day + ONE_DAY, ZERO
        return total

    def next_wall_time(self, after: datetime, at: time, rule: WallRule) -> datetime:
        """The first instant strictly after `after` on a day matching `rule`, at local time `at`.

        For wall-clock timers: "every working day at 17:30", "every monday at 09:00", ...
        """
        at = at.replace(tzinfo=None)
        local = self._local(after)
        if isinstance(rule, MonthlyDay | MonthlyWorkingDay):
            return self._next_monthly(local, at, rule)
        day = local.date() if local.time() < at else local.date() + ONE_DAY
        while not self._matches(rule, day):
            day += ONE_DAY
        return datetime.combine(day, at, self.tz)

    def month_target(
        self, year: int, month: int, rule: MonthlyDay | MonthlyWorkingDay
    ) -> date | None:
        """The day a monthly rule picks in one month (None: it skips that month). A shifted
        day may fall in the month before or after."""
        if rule.quarterly and month not in QUARTER_MONTHS:
            return None
        days = _days_of(year, month)
        if isinstance(rule, MonthlyWorkingDay):
            working = [d for d in days if self.is_working_day(d)]
            if rule.n == -1:
                return working[-1] if working else None
            return working[rule.n - 1] if rule.n <= len(working) else None
        if rule.day > len(days):
            return None
        day = days[rule.day - 1]
        if rule.shift:
            step = timedelta(days=rule.shift)
            for _ in range(366):  # a calendar with no working day at all never matches
                if self.is_working_day(day):
                    return day
                day += step
            return None
        return day

    def _next_monthly(self, local: datetime, at: time,
                      rule: MonthlyDay | MonthlyWorkingDay) -> datetime:  # fmt: skip
        start = local.year * 12 + local.month - 2  # the month before: a shift may reach back
        for index in range(start, start + 12 * 30):
            year, month = divmod(index, 12)
            target = self.month_target(year, month + 1, rule)
            if target is not None and datetime.combine(target, at) > local:
                return datetime.combine(target, at, self.tz)
        raise ValueError(msg("{rule} matches no day in 30 years", rule=rule))

    # --- helpers ---

    def _consume(self, day: date, offset: timedelta, d: timedelta) -> tuple[date, timedelta]:
        """Walk forward from local (day, offset) through `d` of open time; where it runs out.

        Skips closed time first, so `d == 0` gives the next opening. Jumps whole days.
        """
        remaining = d
        while True:
            if self.is_working_day(day):
                if offset == ZERO and remaining > self._day_length:
                    remaining -= self._day_length
                else:
                    for start, end in self._hours:
                        if offset < end:
                            begin = max(start, offset)
                            if remaining <= end - begin:
                                return day, begin + remaining
                            remaining -= end - begin
            day, offset = day + ONE_DAY, ZERO

    def _matches(self, rule: WallRule, day: date) -> bool:
        match rule:
            case EveryDay():
                return True
            case EveryWorkingDay():
                return self.is_working_day(day)
            case OnWeekday(weekday=weekday):
                return day.weekday() == weekday
            case OnMonthDay(day=n):
                return day.day == n
            case MonthlyDay() | MonthlyWorkingDay():  # a shift may pick a day of a month beside
                before = day.replace(day=1) - ONE_DAY
                after = day.replace(day=28) + timedelta(days=4)
                months = {(m.year, m.month) for m in (before, day, after)}
                return any(self.month_target(y, m, rule) == day for y, m in months)

    def _in_zone(self, t: datetime) -> datetime:
        """`t` converted to the calendar zone (aware)."""
        if t.tzinfo is self.tz:  # the common case: times the engine made on this calendar
            return t
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(
                msg(
                    "calendar {name!r} needs a timezone-aware datetime, got {t}",
                    name=self.name,
                    t=t.isoformat(),
                )
            )
        return t.astimezone(self.tz)

    def _local(self, t: datetime) -> datetime:
        """`t` as naive wall-clock time in the calendar zone."""
        return self._in_zone(t).replace(tzinfo=None)

    def _wall(self, t: datetime) -> tuple[date, timedelta]:
        """`t`'s local date in the calendar zone and its wall-clock time from that midnight."""
        t = self._in_zone(t)
        day = t.date()
        # same tzinfo on both sides: Python subtracts the wall clocks (no UTC conversion,
        # which is what makes this several times cheaper than going through a naive copy)
        return day, t - datetime.combine(day, _MIDNIGHT, t.tzinfo)

    def _at(self, day: date, offset: timedelta) -> datetime:
        """The aware instant at local wall time `offset` after midnight of `day`."""
        return datetime.combine(day, _MIDNIGHT, self.tz) + offset


_MIDNIGHT = time()
