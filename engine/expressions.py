"""The safe evaluator: compiled expression trees become Python closures, once per flow.

No `eval`/`exec`, no attribute access, no names beyond fields, `now`, `state`, `id` and the
flow's own decision tables: nothing a flow says can run Python.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from engine import definition as d
from engine.calendar import Calendar
from engine.definition import PLACEHOLDER
from engine.errors import FlowRuntimeError
from engine.functions import FUNCTIONS, FlowInfo, build
from engine.i18n import msg

SLA_FUNCTIONS = frozenset(f.name for f in FUNCTIONS.values() if f.params == ("sla",))


class Scope(Protocol):
    """What an expression can see while it runs (the runtime's step context is one)."""

    fields: Mapping[str, Any]
    now: datetime
    state: str
    id: str

    @property
    def sla_rows(self) -> tuple[tuple[Any, ...], ...]:
        """The case's SLA clocks (`SlaClock` rows): what `sla_status`/`time_left` read."""


@dataclass(slots=True)
class Values:
    """A `Scope` made of plain values."""

    fields: Mapping[str, Any]
    now: datetime
    state: str
    id: str
    sla_rows: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class WorkingDuration:
    """`2 working days` as a value: only meaningful added to a date-time on a calendar."""

    duration: d.Duration


Evaluator = Callable[[Scope], Any]
TableFn = Callable[[tuple[Any, ...], Scope], Any]  # (inputs, the caller's scope)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def to_timedelta(duration: d.Duration) -> timedelta:
    return timedelta(seconds=duration.amount)


def add_duration(calendar: Calendar, start: datetime, duration: d.Duration) -> datetime:
    """`start + duration` with working units on the calendar (§5)."""
    if duration.unit == "working_days":
        return calendar.add_working_days(start, duration.amount)
    if duration.unit == "working_seconds":
        return calendar.add_working_time(start, timedelta(seconds=duration.amount))
    return start + timedelta(seconds=duration.amount)


class ExpressionCompiler:
    """Turns `definition.Expr` trees into closures over a `Scope`."""

    def __init__(self, calendar: Calendar, tables: Mapping[str, TableFn],
                 flow: FlowInfo | None = None) -> None:  # fmt: skip
        self.calendar = calendar
        self.tables = tables
        self.flow = flow or FlowInfo(calendar, {})

    def literal(self, lit: d.Lit) -> Any:
        if lit.type == "decimal":
            return Decimal(str(lit.value))
        if lit.type == "date":
            return date.fromisoformat(str(lit.value))
        if lit.type == "datetime":
            return datetime.fromisoformat(str(lit.value)).replace(tzinfo=self.calendar.tz)
        return lit.value

    def compile(self, e: d.Expr, line: int = 0) -> Evaluator:
        """A closure computing `e`; runtime type problems raise FlowRuntimeError at `line`."""
        if isinstance(e, d.Lit):
            value = self.literal(e)
            return lambda s: value
        if isinstance(e, d.DurationLit):
            dur = e.duration
            value = to_timedelta(dur) if dur.unit == "seconds" else WorkingDuration(dur)
            return lambda s: value
        if isinstance(e, d.Var):
            return self._var(e.name, line)
        if isinstance(e, d.TableCall):
            table = self.tables[e.table]
            args = tuple(self.compile(a, line) for a in e.args)
            if len(args) == 1:
                (only,) = args
                return lambda s: table((only(s),), s)
            return lambda s: table(tuple(a(s) for a in args), s)
        if isinstance(e, d.FuncCall):
            fargs = tuple(a.name if isinstance(a, d.Var) and e.func in SLA_FUNCTIONS
                          else self.compile(a, line) for a in e.args)  # fmt: skip
            return build(e.func, fargs, self.flow)
        if isinstance(e, d.Not):
            arg = self.compile(e.arg, line)
            return lambda s: not arg(s)
        if isinstance(e, d.Neg):
            arg = self.compile(e.arg, line)
            return lambda s: _checked(operator.neg, "-", arg(s), None, line)
        if isinstance(e, d.IsSet):
            arg = self.compile(e.arg, line)
            if e.op == "is set":
                return lambda s: arg(s) is not None
            return lambda s: arg(s) is None
        if isinstance(e, d.ListOf):
            items = tuple(self.compile(i, line) for i in e.items)
            return lambda s: [i(s) for i in items]
        return self._binary(e, line)

    def _var(self, name: str, line: int) -> Evaluator:
        if name == "now":
            return lambda s: s.now
        if name == "state":
            return lambda s: s.state
        if name == "id":
            return lambda s: s.id
        return lambda s: s.fields.get(name)

    def _binary(self, e: d.BinOp, line: int) -> Evaluator:
        left, right = self.compile(e.left, line), self.compile(e.right, line)
        op = e.op
        if op == "and":
            return lambda s: bool(left(s)) and bool(right(s))
        if op == "or":
            return lambda s: bool(left(s)) or bool(right(s))
        if op == "==":
            return lambda s: _equal(left(s), right(s))
        if op == "!=":
            return lambda s: not _equal(left(s), right(s))
        if op in ("in", "not in"):
            negate = op == "not in"
            return lambda s: _contains(right(s), left(s)) != negate
        if op in _COMPARE:
            compare = _COMPARE[op]
            return lambda s: _ordered(compare, op, left(s), right(s), line)
        calendar = self.calendar
        if op == "+":
            return lambda s: _plus(calendar, left(s), right(s), line)
        if op == "-":
            return lambda s: _minus(left(s), right(s), line)
        fn = operator.mul if op == "*" else operator.truediv
        return lambda s: _checked(fn, op, left(s), right(s), line)

    def message(self, template: str) -> Callable[[Scope], str]:
        """A `{field}` message template as a function of the scope."""
        parts = PLACEHOLDER.split(template)
        if len(parts) == 1:
            return lambda s: template
        getters = [self._var(name.strip(), 0) for name in parts[1::2]]
        texts = parts[0::2]

        pairs = list(zip(getters, texts[1:], strict=True))

        def render(s: Scope) -> str:
            out = [texts[0]]
            for getter, tail in pairs:
                value = getter(s)
                out.append(value if type(value) is str else format_value(value))
                out.append(tail)
            return "".join(out)

        return render


def format_value(value: Any) -> str:
    """A value as a process owner reads it in a message."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # a third of what strftime costs
        v = value
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _equal(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, Decimal | int | float) and isinstance(b, Decimal | int | float):
        return bool(Decimal(str(a)) == Decimal(str(b)))
    return bool(a == b)


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    return any(_equal(item, x) for x in container)


def _ordered(compare: Callable[[Any, Any], bool], op: str, a: Any, b: Any, line: int) -> bool:
    if a is None or b is None:
        return False  # an unset value is neither before nor after anything
    if isinstance(a, datetime) and isinstance(b, date) and not isinstance(b, datetime):
        b = datetime.combine(b, time(), a.tzinfo)
    elif isinstance(b, datetime) and isinstance(a, date) and not isinstance(a, datetime):
        a = datetime.combine(a, time(), b.tzinfo)
    return _checked(compare, op, a, b, line)  # type: ignore[no-any-return]


def _plus(calendar: Calendar, a: Any, b: Any, line: int) -> Any:
    if isinstance(b, WorkingDuration) and isinstance(a, datetime):
        return add_duration(calendar, a, b.duration)
    if isinstance(a, WorkingDuration) and isinstance(b, datetime):
        return add_duration(calendar, b, a.duration)
    return _checked(operator.add, "+", a, b, line)


def _minus(a: Any, b: Any, line: int) -> Any:
    if isinstance(b, WorkingDuration):
        raise FlowRuntimeError(msg("working time can only be added, not subtracted"), line)
    return _checked(operator.sub, "-", a, b, line)


def _checked(fn: Callable[..., Any], op: str, a: Any, b: Any, line: int) -> Any:
    if a is None or (b is None and op != "-" and fn is not operator.neg):
        raise FlowRuntimeError(msg("`{op}` on a value that is not set", op=op), line)
    try:
        if isinstance(a, Decimal) and isinstance(b, float):
            b = Decimal(str(b))
        return fn(a) if b is None else fn(a, b)
    except (TypeError, ArithmeticError) as exc:
        raise FlowRuntimeError(msg("cannot compute `{op}`: {exc}", op=op, exc=exc), line) from None


def compile_table(table: d.TableDef, compiler: ExpressionCompiler) -> TableFn:
    """A decision table as a function of its inputs: first matching row wins."""
    rows: list[tuple[tuple[tuple[Any, ...] | None, ...], Evaluator | Any, bool]] = []
    for row in table.rows:
        patterns = tuple(
            None if p is None else tuple(compiler.literal(lit) for lit in p) for p in row.patterns
        )
        rows.append((patterns, compiler.compile(row.result, row.line), row.is_else))
    scope = Values({}, datetime.min, "", "")
    # results are constant in practice; evaluate them once when they do not read the case
    constant = [isinstance(row.result, d.Lit) for row in table.rows]
    results = [ev(scope) if const else ev for (_, ev, _), const in zip(rows, constant, strict=True)]
    name, line = table.name, table.line
    # the row a table picks depends on its inputs alone: remember it per (type, value) of
    # each input (typed, as `true` is not 1 here), for the first few thousand inputs
    chosen: dict[tuple[Any, ...], int] = {}

    def first_row(args: tuple[Any, ...]) -> int:
        for i, (patterns, _, is_else) in enumerate(rows):
            if is_else or all(
                p is None or any(_equal(arg, alt) for alt in p)
                for p, arg in zip(patterns, args, strict=False)
            ):
                return i
        shown = ", ".join(format_value(a) or msg("(not set)") for a in args)
        raise FlowRuntimeError(
            msg("table `{name}` has no row for ({shown}) and no `else`", name=name, shown=shown),
            line,
        )

    def lookup(args: tuple[Any, ...], caller: Scope) -> Any:
        key = tuple([(type(a), a) for a in args])
        try:
            i = chosen.get(key)
        except TypeError:  # an input that cannot be a key (a list): no memory
            i = first_row(args)
        else:
            if i is None:
                i = first_row(args)
                if len(chosen) < 4096:
                    chosen[key] = i
        result = results[i]
        return result if constant[i] else result(caller)  # reads the case's fields, now

    return lookup
