"""The language's built-in functions, defined once: what each takes and gives (the checker
types calls with it) and how it runs (the expression compiler builds closures with it).

`hour(now) >= 19`, `not is_working_day(start)`, `sla_status(reply) == "breached"`,
`time_left(solve) < 2h`. A function reads its arguments and the case; it never changes
anything. A decision table with the same name as a function wins (flows written before the
function existed keep their meaning).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args

from engine.calendar import Calendar, MonthlyWorkingDay
from engine.case import SLA_STATUS_AT, SlaClock, SlaStatus
from engine.correlation import CURRENT, Related, key_values
from engine.errors import FlowRuntimeError
from engine.i18n import msg

# what an argument must be: a date or date-time expression, the name of one of the flow's
# SLAs, or an elapsed duration (a window back from now)
Param = Literal["moment", "sla", "window"]
SLA_STATUSES: tuple[str, ...] = get_args(SlaStatus)


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in: its parameters, its result type (a field type; `choice` lists `choices`),
    and the one-line explanation shown by `flow check` and the docs."""

    name: str
    params: tuple[Param, ...]
    result: str
    summary: str
    choices: tuple[str, ...] = ()


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("hour", ("moment",), "int",
                 msg("the hour (0–23) of a date-time on the flow's calendar")),
        Function("minute", ("moment",), "int", msg("the minute (0–59) of a date-time")),
        Function("weekday", ("moment",), "int",
                 msg("the day of the week: 1 Monday (周一) … 7 Sunday (周日)")),
        Function("day", ("moment",), "int", msg("the day of the month (1–31)")),
        Function("month", ("moment",), "int", msg("the month (1–12)")),
        Function("date_of", ("moment",), "date", msg("the calendar date of a date-time")),
        Function("is_working_day", ("moment",), "bool",
                 msg("whether the date is a working day (holidays and make-up days 调休 "
"counted)")),
        Function("is_working_time", ("moment",), "bool",
                 msg("whether the calendar is open at that instant (working day and open "
                     "hours)")),
        Function("first_working_day", ("moment",), "date",
                 msg("the first working day of that month")),
        Function("last_working_day", ("moment",), "date",
                 msg("the last working day of that month")),
        Function("sla_status", ("sla",), "choice",
                 msg("an SLA's status: pending, running, paused, met or breached"), SLA_STATUSES),
        Function("earlier_cases", ("window",), "int",
                 msg("how many other cases of this flow sharing a `keys:` value with this "
"one were opened within the window before now (e.g. "
"`earlier_cases(30d)`)")),
        Function("last_case", ("window",), "text",
                 msg("the id of the latest of those cases (not set when there is none)")),
        Function("time_left", ("sla",), "duration",
                 msg("the time an SLA has left on its own clock (working time on a "
"working-hours SLA; zero once breached; not set before it starts)")),
    )
}  # fmt: skip

Evaluator = Callable[[Any], Any]  # a scope -> a value


@dataclass(frozen=True, slots=True)
class SlaInfo:
    """What `time_left` needs of an SLA: whether its clock counts open (working) time."""

    working: bool


@dataclass(frozen=True, slots=True)
class FlowInfo:
    """What the functions need of the flow: its calendar, SLAs, name and key fields."""

    calendar: Calendar
    slas: Mapping[str, SlaInfo]
    flow: str = ""
    keys: tuple[str, ...] = ()
    # the host's own index (an Engine's): one cell, set once the runtime is loaded; a host
    # that changes it per step (a Service, per transaction) uses `correlation.using` instead
    index: list[Related | None] = field(default_factory=lambda: [None])


def build(name: str, args: tuple[Evaluator | str, ...], flow: FlowInfo) -> Evaluator:
    """The closure computing `name(args)`: an SLA argument is its name, others evaluators.
    An argument that is not set gives not set (so a comparison with it is false)."""
    calendar, slas = flow.calendar, flow.slas
    if FUNCTIONS[name].params == ("window",):
        (window,) = args
        assert not isinstance(window, str)
        if name == "earlier_cases":
            return lambda s: len(_related(s, window(s), flow))
        return lambda s: _last(_related(s, window(s), flow))
    if FUNCTIONS[name].params == ("sla",):
        (sla,) = args
        assert isinstance(sla, str)
        if name == "sla_status":
            return lambda s: _status(s, sla)
        working = slas[sla].working
        return lambda s: _time_left(s, sla, working, calendar)
    (arg,) = args
    assert not isinstance(arg, str)
    of_moment = _MOMENT[name]
    return lambda s: _apply(of_moment, arg(s), calendar)


def _apply(fn: Callable[[datetime, Calendar], Any], value: Any, calendar: Calendar) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime):  # a date: its start on the calendar
        value = datetime.combine(value, time(), calendar.tz)
    return fn(value.astimezone(calendar.tz), calendar)


def _first_working_day(t: datetime, calendar: Calendar) -> date | None:
    return calendar.month_target(t.year, t.month, MonthlyWorkingDay(1))


def _last_working_day(t: datetime, calendar: Calendar) -> date | None:
    return calendar.month_target(t.year, t.month, MonthlyWorkingDay(-1))


_MOMENT: dict[str, Callable[[datetime, Calendar], Any]] = {
    "hour": lambda t, _: t.hour,
    "minute": lambda t, _: t.minute,
    "weekday": lambda t, _: t.isoweekday(),
    "day": lambda t, _: t.day,
    "month": lambda t, _: t.month,
    "date_of": lambda t, _: t.date(),
    "is_working_day": lambda t, c: c.is_working_day(t.date()),
    "is_working_time": lambda t, c: c.is_open(t),
    "first_working_day": _first_working_day,
    "last_working_day": _last_working_day,
}


def _related(scope: Any, window: Any, flow: FlowInfo) -> list[tuple[datetime, str]]:
    """The host's cases related to this one by a key value, opened within `window`."""
    index = CURRENT.get() or flow.index[0]
    if window is None or index is None or not flow.keys:
        return []  # no host index (a bare runtime): no other case is known
    if not isinstance(window, timedelta):
        raise FlowRuntimeError(msg("the window of `earlier_cases`/`last_case` must be elapsed "
                                   "time such as `30d`, not working time"))  # fmt: skip
    values = key_values(flow.keys, scope.fields)
    if not values:
        return []
    return index.earlier(flow.flow, values, scope.now - window, scope.now, scope.id)


def _last(related: list[tuple[datetime, str]]) -> str | None:
    return related[-1][1] if related else None


def _status(scope: Any, sla: str) -> str:
    for row in scope.sla_rows:
        if row[0] == sla:
            return str(row[SLA_STATUS_AT])
    return "pending"


def _time_left(scope: Any, sla: str, working: bool, calendar: Calendar) -> timedelta | None:
    for row in scope.sla_rows:
        if row[0] == sla:
            return time_left(SlaClock(*row), scope.now, working, calendar)
    return None  # not started


def time_left(clock: SlaClock, now: datetime, working: bool, calendar: Calendar) -> timedelta:
    """An SLA's time left at `now` on its own clock (open time when `working`); zero once
    breached."""
    if clock.status == "breached":
        return timedelta(0)
    used = clock.used
    if clock.status == "running" and clock.since is not None:
        since = clock.since
        span = calendar.working_time_between(since, now) if working else now - since
        used += span.total_seconds()
    return timedelta(seconds=max(0.0, clock.budget - used))
