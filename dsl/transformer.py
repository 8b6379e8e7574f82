"""Lark parse tree to the AST of `dsl.ast`: typed, frozen nodes with spans.

Problems that only show once a token is read (a weekday that is not one, `1.5 working days`)
are raised as `NodeProblem` and reported as diagnostics by `dsl.frontend`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from lark import Token

from dsl import ast
from dsl.bounds import bounded, check_number, check_year, whole_number
from dsl.diagnostics import NodeProblem, problem
from dsl.source import Span
from dsl.tokens import duration, name, span_of, text, tspan, unquote
from engine.i18n import msg

WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6, "周天": 6,
    "星期一": 0, "星期二": 1, "星期三": 2, "星期四": 3, "星期五": 4, "星期六": 5, "星期日": 6,
}  # fmt: skip


def _of(items: list[Any], kind: type) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


def _tokens(items: list[Any], type_: str) -> list[Token]:
    return [i for i in items if isinstance(i, Token) and i.type == type_]


def _first(items: list[Any], type_: str) -> Token | None:
    found = _tokens(items, type_)
    return found[0] if found else None


class _Body(tuple[ast.Action, ...]):
    """The actions of a block (a tuple subclass so it can be told apart from other children)."""


def _day_number(token: Token, most: int, said: Callable[[int], str], hint: str) -> int:
    """A day's number in a wall-clock rule, from 1 to `most` (else an `invalid-day` error)."""
    n = whole_number(token, tspan(token))
    if not 1 <= n <= most:
        raise NodeProblem(problem("invalid-day", said(n), tspan(token), hint))
    return n


class _WallRule(NamedTuple):
    """A wall-clock rule as the grammar reads it (`ast.WallClock` without the time)."""

    rule: ast.WallRuleKind
    weekday: int | None = None
    month_day: int | None = None
    shift: int = 0
    quarterly: bool = False


class _ScheduleMember(NamedTuple):
    kind: str  # open | summary | catch_up
    roles: tuple[ast.Name, ...] = ()
    title: ast.Text | None = None
    policy: str = "latest"


class _Roles(tuple[ast.Name, ...]):
    pass


class _Params(tuple[ast.Param, ...]):
    pass


class _Keys(tuple[ast.Name, ...]):
    pass


class _Openers(tuple[ast.Name, ...]):
    pass


class ToAst:
    """Builds `ast.Flow` bottom-up while the LALR parser reduces; one method per grammar rule.

    Passed to lark as `transformer=`. A plain class, so the rules it has no method for (lark's
    helpers for repetition, which the parent rule unpacks) become bare `Tree`s, built directly.
    """

    # ------------------------------------------------------------ file and headers
    def start(self, items: list[Any]) -> ast.Flow:
        headers = _of(items, ast.Header)
        roles: list[ast.Name] = [r for group in _of(items, _Roles) for r in group]
        fields = [f for group in items if isinstance(group, list) for f in group]
        return ast.Flow(
            headers=tuple(headers),
            roles=tuple(roles),
            fields=tuple(fields),
            states=tuple(_of(items, ast.State)),
            slas=tuple(_of(items, ast.Sla)),
            tables=tuple(_of(items, ast.Table)),
            openers=tuple(r for group in _of(items, _Openers) for r in group),
            schedules=tuple(_of(items, ast.Schedule)),
            keys=tuple(k for group in _of(items, _Keys) for k in group),
        )

    def flow_decl(self, items: list[Any]) -> ast.Header:
        label = _first(items, "STRING")
        return ast.Header(
            "flow", name(items[1]), text(label) if label else None, None, span_of(items)
        )

    def version_decl(self, items: list[Any]) -> ast.Header:
        return ast.Header(
            "version", None, None, whole_number(items[1], tspan(items[1])), span_of(items)
        )

    def calendar_decl(self, items: list[Any]) -> ast.Header:
        return ast.Header("calendar", name(items[1]), None, None, span_of(items))

    def roles_decl(self, items: list[Any]) -> _Roles:
        return _Roles(r for group in items[1:] for r in group)

    def opened_decl(self, items: list[Any]) -> _Openers:
        return _Openers(items[1])

    def keys_decl(self, items: list[Any]) -> _Keys:
        return _Keys(items[1])

    def name_list(self, items: list[Token]) -> tuple[ast.Name, ...]:
        return tuple([name(t) for t in items])

    def fields_decl(self, items: list[Any]) -> list[ast.Field]:
        return _of(items, ast.Field)

    def field_decl(self, items: list[Any]) -> ast.Field:
        type_name, choices = items[1]
        default = next((i[0] for i in items if isinstance(i, tuple) and len(i) == 1), None)
        label = _first(items[2:], "STRING")
        return ast.Field(
            name=name(items[0]),
            type=type_name,
            choices=choices,
            optional=bool(_first(items, "OPTIONAL")),
            default=default,
            label=text(label) if label else None,
            span=span_of(items),
        )

    def default(self, items: list[Any]) -> tuple[ast.Expr]:
        return (items[0],)

    def simple_type(self, items: list[Token]) -> tuple[ast.Name, tuple[()]]:
        return name(items[0]), ()

    def choice_type(self, items: list[Token]) -> tuple[ast.Name, tuple[ast.Name, ...]]:
        span = span_of(items)
        choices = tuple(
            text(t) if t.type == "STRING" else name(t) for t in items if isinstance(t, Token)
        )
        type_name = ast.Name("choice", Span(span.line, span.column, span.line, span.column + 6))
        return type_name, tuple(ast.Name(c.value, c.span) for c in choices)

    # ------------------------------------------------------------ states
    def state_decl(self, items: list[Any]) -> ast.State:
        label = _first(items, "STRING")
        members = tuple(i for i in items[2:] if not isinstance(i, Token))
        return ast.State(
            name(items[1]), text(label) if label else None, False, members, span_of(items)
        )

    def empty_state(self, items: list[Any]) -> ast.State:
        label = _first(items, "STRING")
        return ast.State(name(items[1]), text(label) if label else None, False, (), span_of(items))

    def final_decl(self, items: list[Any]) -> ast.State:
        label = _first(items, "STRING")
        members = tuple(i for i in items[2:] if not isinstance(i, Token))
        return ast.State(
            name(items[1]), text(label) if label else None, True, members, span_of(items)
        )

    def body(self, items: list[Any]) -> _Body:
        return _Body(items)

    def wait_decl(self, items: list[Any]) -> ast.Wait:
        return ast.Wait(text(items[1]), span_of(items))

    def enter_decl(self, items: list[Any]) -> ast.Hook:
        return ast.Hook("enter", tuple(items[1]), span_of(items))

    def exit_decl(self, items: list[Any]) -> ast.Hook:
        return ast.Hook("exit", tuple(items[1]), span_of(items))

    def on_decl(self, items: list[Any]) -> ast.Transition:
        # after ON NAME, each optional part at most once, told apart by its type
        parts = {type(i): i for i in items[2:]}
        guard = parts.get(tuple)  # ("when", expr)
        return ast.Transition(
            name(items[1]),
            tuple(parts.get(_Params, ())),
            guard[1] if guard else None,
            parts.get(ast.Name),
            tuple(parts.get(_Roles, ())),
            tuple(parts.get(_Body, ())),
            span_of(items),
        )

    def params(self, items: list[ast.Param]) -> _Params:
        return _Params(items)

    def param(self, items: list[Token]) -> ast.Param:
        return ast.Param(name(items[0]), _first(items, "OPTIONAL") is not None)

    def guard(self, items: list[Any]) -> tuple[str, ast.Expr]:
        return ("when", items[0])

    def target(self, items: list[Token]) -> ast.Name:
        return name(items[0])

    def roles(self, items: list[Any]) -> _Roles:
        return _Roles(items[0])

    def when_expr(self, items: list[Any]) -> ast.Automatic:
        return ast.Automatic(items[1], name(items[2]), span_of(items))

    def when_tasks_done(self, items: list[Any]) -> ast.Automatic:
        return ast.Automatic(None, name(items[1]), span_of(items))

    # ------------------------------------------------------------ timers and tasks
    def timer_end(self, items: list[Any]) -> tuple[ast.Name | None, _Body]:
        target = next((i for i in items if isinstance(i, ast.Name)), None)
        body = next((i for i in items if isinstance(i, _Body)), _Body())
        return target, body

    def _timer(
        self,
        kind: ast.TimerKind,
        items: list[Any],
        duration: ast.Duration | None = None,
        max_times: int | None = None,
        wall: ast.WallClock | None = None,
        at: ast.Expr | None = None,
    ) -> ast.Timer:
        target, body = items[-1]
        return ast.Timer(kind, duration, max_times, wall, at, target, tuple(body), span_of(items))

    def after_timer(self, items: list[Any]) -> ast.Timer:
        return self._timer("after", items, duration=duration(items[1]))

    def every_timer(self, items: list[Any]) -> ast.Timer:
        times = next((i for i in items if isinstance(i, int) and not isinstance(i, Token)), None)
        return self._timer("every", items, duration=duration(items[1]), max_times=times)

    def max_times(self, items: list[Token]) -> int:
        count = whole_number(items[0], tspan(items[0]))
        if count < 1:
            raise NodeProblem(
                problem(
                    "invalid-repeat",
                    msg("`at most 0 times` never fires"),
                    tspan(items[0]),
                    msg("use a count of 1 or more, or remove the timer"),
                )
            )
        return count

    def wall_timer(self, items: list[Any]) -> ast.Timer:
        times = next((i for i in items if isinstance(i, int) and not isinstance(i, Token)), None)
        wall = self._wall_clock(items, span_of(items))
        return self._timer("wall", items, max_times=times, wall=wall)

    def _wall_clock(self, items: list[Any], span: Span) -> ast.WallClock:
        """The `every RULE at HH:MM` among a rule's children."""
        rule = next(i for i in items if isinstance(i, _WallRule))
        clock = _first(items, "TIME")
        assert clock is not None
        hour, minute = (int(p) for p in str(clock).split(":"))
        if hour > 23 or minute > 59:
            raise NodeProblem(
                problem(
                    "invalid-time",
                    msg("`{clock}` is not a clock time", clock=clock),
                    tspan(clock),
                    msg("write a time between 00:00 and 23:59"),
                )
            )
        return ast.WallClock(*rule, hour, minute, span)

    def every_day(self, items: list[Any]) -> _WallRule:
        return _WallRule("day")

    def every_working_day(self, items: list[Any]) -> _WallRule:
        return _WallRule("working_day")

    def every_weekday(self, items: list[Token]) -> _WallRule:
        token = items[0]
        weekday = WEEKDAYS.get(str(token).lower())
        if weekday is None:
            raise NodeProblem(
                problem(
                    "invalid-weekday",
                    msg("`{token}` is not a day of the week", token=token),
                    tspan(token),
                    msg(
                        "write `every day`, `every working day`, `every monday` … `every "
                        "sunday`, or `every month on day N`"
                    ),
                )
            )
        return _WallRule("weekday", weekday)

    def every_month_day(self, items: list[Any]) -> _WallRule:
        quarterly, number = items[0], items[1]
        day = _day_number(
            number,
            31,
            lambda n: msg("day {n} is not a day of a month", n=n),
            msg("use a day from 1 to 31"),
        )
        shift = items[2] if len(items) > 2 else 0
        return _WallRule("month_day", None, day, shift, quarterly)

    def every_nth_working_day(self, items: list[Any]) -> _WallRule:
        quarterly, number = items[0], items[1]
        n = _day_number(number, 23, lambda n: msg("a month has no working day {n}", n=n),
                        msg("use a working day from 1 to 23, or `last working day`"))  # fmt: skip
        return _WallRule("working_day_of_month", None, n, 0, quarterly)

    def every_last_working_day(self, items: list[Any]) -> _WallRule:
        return _WallRule("working_day_of_month", None, -1, 0, items[0])

    def month_period(self, items: list[Any]) -> bool:
        return False  # not quarterly

    def quarter_period(self, items: list[Any]) -> bool:
        return True

    def shift_before(self, items: list[Any]) -> int:
        return -1

    def shift_after(self, items: list[Any]) -> int:
        return 1

    def at_timer(self, items: list[Any]) -> ast.Timer:
        return self._timer("at", items, at=items[1])

    def task_decl(self, items: list[Any]) -> ast.Task:
        label = _first(items, "STRING")
        roles = next((i for i in items if isinstance(i, _Roles)), _Roles())
        within = next((i for i in items if isinstance(i, ast.Duration)), None)
        overdue = next((i for i in items if isinstance(i, _Body)), _Body())
        after = next((i for i in items if isinstance(i, ast.Name)), None)
        return ast.Task(
            name(items[1]), text(label) if label else None, tuple(roles), after, within,
            tuple(overdue), span_of(items),
        )  # fmt: skip

    def task_after(self, items: list[Token]) -> ast.Name:
        return name(items[1])

    def within(self, items: list[Token]) -> ast.Duration:
        return duration(items[0])

    def overdue_decl(self, items: list[Any]) -> _Body:
        return _Body(items[0])

    # ------------------------------------------------------------ SLAs
    def schedule_decl(self, items: list[Any]) -> ast.Schedule:
        label = _first(items, "STRING")
        every, clock = _first(items, "EVERY"), _first(items, "TIME")
        wall = self._wall_clock(items, span_of([every, clock]))
        members = [i for i in items if isinstance(i, _ScheduleMember)]
        opens = any(m.kind == "open" for m in members)
        summary = next((m for m in members if m.kind == "summary"), None)
        catch_up = next((m for m in members if m.kind == "catch_up"), None)
        return ast.Schedule(
            name=name(items[1]),
            label=text(label) if label else None,
            wall=wall,
            opens=opens,
            summary_to=summary.roles if summary else (),
            summary_title=summary.title if summary else None,
            catch_up=catch_up.policy if catch_up else "latest",
            span=span_of(items),
        )

    def schedule_open(self, items: list[Any]) -> _ScheduleMember:
        return _ScheduleMember("open")

    def schedule_summary(self, items: list[Any]) -> _ScheduleMember:
        title = _first(items, "STRING")
        return _ScheduleMember("summary", tuple(items[0]), text(title) if title else None)

    def schedule_catch_up(self, items: list[Any]) -> _ScheduleMember:
        token = items[0]
        if str(token) not in ast.CATCH_UP:
            raise NodeProblem(
                problem(
                    "invalid-catch-up",
                    msg("`catch up {token}` is not a catch-up policy", token=token),
                    tspan(token),
                    msg(
                        "write `catch up latest` (the default: the latest missed occurrence "
                        "once), `catch up all` or `catch up none`"
                    ),
                )
            )
        return _ScheduleMember("catch_up", policy=str(token))

    def sla_decl(self, items: list[Any]) -> ast.Sla:
        label = _first(items, "STRING")
        names = _tokens(items, "NAME")
        lists = [i for i in items if isinstance(i, tuple) and not isinstance(i, _Body)]
        members = items[-1]
        return ast.Sla(
            name=name(names[0]),
            label=text(label) if label else None,
            within=duration(_tokens(items, "DURATION")[0]),
            start=name(names[1]),
            until=lists[0],
            pause=lists[1] if len(lists) > 1 else (),
            warnings=tuple(m for m in members if isinstance(m, ast.SlaWarning)),
            breach=next((tuple(m) for m in members if isinstance(m, _Body)), ()),
            span=span_of(items),
        )

    def pause(self, items: list[Any]) -> tuple[ast.Name, ...]:
        return tuple(items[0])

    def sla_end(self, items: list[Any]) -> list[Any]:
        return items

    def warn_percent(self, items: list[Any]) -> ast.SlaWarning:
        percent = Decimal(str(items[0]).rstrip("%"))
        if not 0 < percent < 100:
            raise NodeProblem(
                problem(
                    "invalid-percent",
                    msg("a warning at {items} never comes before the breach", items=items[0]),
                    tspan(items[0]),
                    msg("use a percentage between 0% and 100%, e.g. `warn at 75%`"),
                )
            )
        return ast.SlaWarning(percent, None, tuple(items[1]), span_of(items))

    def warn_before(self, items: list[Any]) -> ast.SlaWarning:
        return ast.SlaWarning(None, duration(items[0]), tuple(items[1]), span_of(items))

    def breach(self, items: list[Any]) -> _Body:
        return _Body(items[0])

    # ------------------------------------------------------------ tables
    def table_decl(self, items: list[Any]) -> ast.Table:
        label = _first(items, "STRING")
        rows = tuple(i for i in items if isinstance(i, ast.TableRow))
        return ast.Table(
            name(items[1]), tuple(items[2]), text(label) if label else None, rows, span_of(items)
        )

    def table_row(self, items: list[Any]) -> ast.TableRow:
        return ast.TableRow(tuple(items[:-1]), items[-1], False, span_of(items))

    def else_row(self, items: list[Any]) -> ast.TableRow:
        return ast.TableRow((), items[-1], True, span_of(items))

    def wildcard(self, items: list[Any]) -> ast.Pattern:
        return ast.Pattern((), span_of(items))

    def alternatives(self, items: list[Any]) -> ast.Pattern:
        return ast.Pattern(tuple(items), span_of(items))

    # ------------------------------------------------------------ actions
    def set_action(self, items: list[Any]) -> ast.Set:
        return ast.Set(name(items[0]), items[1], span_of(items))

    def notify_action(self, items: list[Any]) -> ast.Notify:
        return ast.Notify(tuple(items[:-1]), text(items[-1]), span_of(items))

    def assign_action(self, items: list[Any]) -> ast.Assign:
        return ast.Assign(items[0], span_of(items))

    def escalate_action(self, items: list[Any]) -> ast.Escalate:
        reason = _first(items, "STRING")
        return ast.Escalate(name(items[0]), text(reason) if reason else None, span_of(items))

    def callback_action(self, items: list[Any]) -> ast.Callback:
        within = items[2] if len(items) > 2 else None
        return ast.Callback(text(items[0]), name(items[1]), within, span_of(items))

    def record_action(self, items: list[Any]) -> ast.Record:
        return ast.Record(text(items[0]), span_of(items))

    def emit_action(self, items: list[Any]) -> ast.Emit:
        return ast.Emit(name(items[0]), span_of(items))

    def if_action(self, items: list[Any]) -> ast.If:
        bodies = [i for i in items if isinstance(i, _Body)]
        otherwise = tuple(bodies[1]) if len(bodies) > 1 else ()
        return ast.If(items[1], tuple(bodies[0]), otherwise, span_of(items))

    def hook_action(self, items: list[Any]) -> ast.HookCall:
        args = tuple(i for i in items[1:] if i is not None)
        return ast.HookCall(name(items[0]), args, span_of(items))

    # ------------------------------------------------------------ expressions
    def ref(self, items: list[Token]) -> ast.Ref:
        return ast.Ref(str(items[0]), tspan(items[0]))

    def call(self, items: list[Any]) -> ast.Call:
        args = tuple(i for i in items[1:] if i is not None)
        span = span_of(items)
        return bounded(ast.Call(name(items[0]), args, span), span, *args)

    def list_expr(self, items: list[Any]) -> ast.ListExpr:
        span = span_of(items)
        values = tuple(i for i in items if i is not None)
        return bounded(ast.ListExpr(values, span), span, *values)

    def binary(self, items: list[Any]) -> ast.Binary:
        left, op, right = items
        span = span_of(items)
        return bounded(ast.Binary(str(op), left, right, span, tspan(op)), span, left, right)

    def not_in(self, items: list[Any]) -> ast.Binary:
        left, op, _in, right = items
        span = span_of(items)
        return bounded(ast.Binary("not in", left, right, span, tspan(op)), span, left, right)

    def unary(self, items: list[Any]) -> ast.Unary:
        span = span_of(items)
        negated = str(items[0]) == "not"
        return bounded(ast.Unary("not" if negated else "-", items[1], span), span, items[1])

    def is_set(self, items: list[Any]) -> ast.IsSet:
        span = span_of(items)
        return bounded(ast.IsSet(items[0], False, span), span, items[0])

    def is_not_set(self, items: list[Any]) -> ast.IsSet:
        span = span_of(items)
        return bounded(ast.IsSet(items[0], True, span), span, items[0])

    def literal(self, items: list[Token]) -> ast.Expr:
        token = items[0]
        span = tspan(token)
        kind = token.type
        raw = str(token)
        if kind == "STRING":
            return ast.Literal(unquote(raw), "text", span)
        if kind == "INT":
            return ast.Literal(whole_number(raw, span), "int", span)
        if kind == "DECIMAL":
            check_number(raw, span)
            return ast.Literal(Decimal(raw), "decimal", span)
        if kind == "DURATION":
            return ast.DurationLiteral(duration(token), span)
        if kind in ("TRUE", "FALSE"):
            return ast.Literal(kind == "TRUE", "bool", span)
        if kind == "NULL":
            return ast.Literal(None, "null", span)
        try:
            value: date = (
                date.fromisoformat(raw) if kind == "DATE"
                else datetime.strptime(raw.replace("T", " "), "%Y-%m-%d %H:%M")
            )  # fmt: skip
        except ValueError:
            raise NodeProblem(
                problem("invalid-date", msg("`{raw}` is not a real date", raw=raw), span,
                      msg("write dates as YYYY-MM-DD and times as HH:MM, e.g. 2026-03-06 16:30"))
            ) from None  # fmt: skip
        check_year(value, span)
        return ast.Literal(value, "date" if kind == "DATE" else "datetime", span)
