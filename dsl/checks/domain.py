"""Domain checks: durations and schedules that make sense, unused declarations, table
rows, unchased states, escalation loops, emitted events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from dsl import ast
from dsl.checks.scope import Scope, cycles_of, reach_from
from dsl.checks.walk import (
    action_texts,
    flat_actions,
    flow_actions,
    flow_exprs,
    hint_or,
    keyword_span,
    placeholder_names,
    state_actions,
    subexpressions,
)
from dsl.diagnostics import Diagnostic, problem
from dsl.source import Span
from engine.definition import CALLBACK_DONE
from engine.i18n import Listing, msg

_MONTHS = (msg("January"), msg("February"), msg("March"), msg("April"), msg("May"),
           msg("June"), msg("July"), msg("August"), msg("September"), msg("October"),
           msg("November"), msg("December"))  # fmt: skip

# ================================================================ domain checks


def domain_pass(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    """What runs but is probably not what the process owner meant."""
    return [
        *_durations(flow, scope),
        *_month_days(flow),
        *_schedules(flow),
        *_sla_warnings(flow),
        *_unused(flow, scope),
        *_table_rows(flow),
        *_unchased(flow, scope),
        *_unbounded_escalation(flow, scope),
        *_emitted_events(flow, scope),
    ]


def _all_durations(flow: ast.Flow) -> Iterator[ast.Duration]:
    for state in flow.states:
        for m in state.members:
            if isinstance(m, ast.Timer) and m.duration is not None:
                yield m.duration
            if isinstance(m, ast.Task) and m.within is not None:
                yield m.within
    for sla in flow.slas:
        yield sla.within
        yield from (w.before for w in sla.warnings if w.before is not None)
    for action in flow_actions(flow):
        if isinstance(action, ast.Callback) and action.within is not None:
            yield action.within


def _durations(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    """`working` units on the 24/7 calendar, and `every` with a zero interval."""
    out: list[Diagnostic] = []
    help = msg("add `calendar office` (see calendars.yaml) or write elapsed units like `24h`")
    message = msg("on the 24/7 calendar `always`, working time is elapsed time")
    if scope.calendar == "always":
        out += [problem("working-on-always", message, d.span, help)
                for d in _all_durations(flow) if d.working]  # fmt: skip
        for state in flow.states:
            for t in state.of(ast.Timer):
                if t.wall is not None and t.wall.rule == "working_day":
                    out.append(
                        problem(
                            "working-on-always",
                            msg("on the 24/7 calendar `always`, every day is a working day"),
                            keyword_span(t.span, "every"),
                            help,
                        )
                    )
    for state in flow.states:
        for t in state.of(ast.Timer):
            if t.kind == "every" and t.duration is not None and t.duration.amount <= 0:
                out.append(
                    problem(
                        "zero-interval",
                        msg(
                            "`every {duration}` would fire over and over without a pause",
                            duration=t.duration.text,
                        ),
                        t.duration.span,
                        msg("use a positive interval, e.g. `every 1h`"),
                    )
                )
    return out


def _walls(flow: ast.Flow) -> Iterator[ast.WallClock]:
    """Every wall-clock rule of the flow (timers and schedules)."""
    for state in flow.states:
        for t in state.of(ast.Timer):
            if t.wall is not None:
                yield t.wall
    for schedule in flow.schedules:
        yield schedule.wall


def _schedules(flow: ast.Flow) -> list[Diagnostic]:
    """A schedule must do something, and a case it opens needs no data."""
    out: list[Diagnostic] = []
    for x in flow.schedules:
        if not x.opens and not x.summary_to:
            out.append(
                problem(
                    "empty-schedule",
                    msg("schedule `{x}` does nothing", x=x.name.value),
                    x.name.span,
                    msg(
                        "give it `open case` (a new case of this flow each time) and/or "
                        '`summary to ROLE "title"` (the open cases, by state, to a role)'
                    ),
                )
            )
        if not x.opens:
            continue
        for f in flow.fields:
            if not f.optional and f.default is None:
                out.append(
                    problem(
                        "schedule-needs-data",
                        msg(
                            "schedule `{x}` opens cases, but field `{f}` has no default, so nobody "
                            "would give it",
                            x=x.name.value,
                            f=f.name.value,
                        ),
                        f.name.span,
                        msg(
                            "give `{f}` a default (`= …`), or make it optional (`?`) and set it in "
                            "the first state's `enter:` (e.g. `set … = date_of(now)`)",
                            f=f.name.value,
                        ),
                    )
                )
    return out


def _month_days(flow: ast.Flow) -> list[Diagnostic]:
    """`on day 29/30/31`: months without that day are skipped; say which and what to use."""
    out: list[Diagnostic] = []
    for w in _walls(flow):
        if w.rule != "month_day" or w.month_day is None or w.month_day < 29:
            continue
        months = (1, 4, 7, 10) if w.quarterly else range(1, 13)
        short = [m for m in months if w.month_day > _DAYS_IN_MONTH[m - 1]]
        if w.month_day == 29:
            short = [2] if 2 in months else []
            leap: str = msg(" (in a leap year it has one)")
        else:
            leap = ""
        if not short:
            continue
        names = Listing(_MONTHS[m - 1] for m in short)
        out.append(
            problem(
                "month-day-skipped",
                msg(
                    "day {month_day} does not exist in every month: it is skipped in {names}{leap}",
                    month_day=w.month_day,
                    names=names,
                    leap=leap,
                ),
                w.span,
                msg(
                    "for a month-end duty write `on last working day`; for a day that must "
                    "happen each month use a day up to 28 (`or the working day before` "
                    "moves it off days off)"
                ),
            )
        )
    return out


PARAM_NAMES = {"sla": "SLA", "moment": "DATE_TIME", "window": "DURATION"}
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _hours(d: ast.Duration) -> Decimal | None:
    """Elapsed or working hours of a duration; None for working days."""
    per_unit = {"m": Decimal(1) / 60, "h": Decimal(1), "d": Decimal(24), "w": Decimal(168)}
    per_unit["working_hours"] = Decimal(1)
    factor = per_unit.get(d.unit)
    return None if factor is None else d.amount * factor


def _sla_warnings(flow: ast.Flow) -> list[Diagnostic]:
    """`warn D before` must leave time before it: D shorter than the SLA itself."""
    out: list[Diagnostic] = []
    for sla in flow.slas:
        for w in sla.warnings:
            if w.before is None or not _not_shorter(w.before, sla.within):
                continue
            out.append(
                problem(
                    "warn-before-too-long",
                    msg(
                        "`warn {before} before` is not shorter than the SLA `{sla}` itself "
                        "({within}), so it would fire at once",
                        before=w.before.text,
                        sla=sla.name.value,
                        within=sla.within.text,
                    ),
                    w.before.span,
                    msg(
                        "use a duration shorter than {within}, or `warn at 75%`",
                        within=sla.within.text,
                    ),
                )
            )
    return out


def _not_shorter(before: ast.Duration, within: ast.Duration) -> bool:
    if within.unit == "working_days":
        return before.unit == "working_days" and before.amount >= within.amount
    if before.working and not within.working:
        return False  # working time against elapsed time: depends on the calendar
    b, w = _hours(before), _hours(within)
    return b is not None and w is not None and b >= w


def _usage(flow: ast.Flow, scope: Scope) -> tuple[set[str], set[str], set[str]]:
    """Fields read (expressions, placeholders, params), fields set, and tables called."""
    reads: set[str] = {k.value for k in flow.keys}  # a key relates cases: it is read
    tables: set[str] = set()
    for top, owner in flow_exprs(flow, scope):
        for e in subexpressions(top):
            if isinstance(e, ast.Ref):
                reads.add(e.name)
            elif isinstance(e, ast.Call) and (owner is None or e.func.value != owner.name.value):
                tables.add(e.func.value)
    for action in scope.actions:
        for message in action_texts(action):
            reads.update(placeholder_names(message))
    for state in flow.states:
        for t in state.of(ast.Transition):
            reads.update(p.name.value for p in t.params)
            reads.update(r.value for r in t.roles)  # `by FIELD` reads the field
    sets = {a.field.value for a in scope.actions if isinstance(a, ast.Set)}
    return reads, sets, tables


def _unused(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    reads, sets, called = _usage(flow, scope)
    out: list[Diagnostic] = []
    for f in scope.fields.values():
        name = f.name.value
        required = not f.optional and f.default is None
        if name in reads or (name in sets and not required):
            continue
        what = (
            msg(
                "field `{name}` must be given when a case is opened, but nothing in "
                "the flow reads it",
                name=name,
            )
            if required
            else msg("field `{name}` is never used", name=name)
        )
        out.append(
            problem(
                "unused-field",
                what,
                f.name.span,
                msg(
                    'use it in a condition, a table call or a message like "{{{name}}}", '
                    "or delete it",
                    name=name,
                ),
            )
        )
    for table in scope.tables.values():
        if table.name.value not in called:
            out.append(
                problem(
                    "unused-table",
                    msg("table `{table}` is never used", table=table.name.value),
                    table.name.span,
                    msg(
                        "call it, e.g. `set FIELD = {table}(…)`, or delete it",
                        table=table.name.value,
                    ),
                )
            )
    return out


def _catch_all(row: ast.TableRow) -> bool:
    return row.is_else or (bool(row.patterns) and all(p.wildcard for p in row.patterns))


def _table_rows(flow: ast.Flow) -> list[Diagnostic]:
    """Tables without `else`, and rows after a row that matches everything."""
    out: list[Diagnostic] = []
    for table in flow.tables:
        catch = next((r for r in table.rows if _catch_all(r)), None)
        if catch is None:
            out.append(
                problem(
                    "table-without-else",
                    msg(
                        "table `{table}` has no `else` row: a case that matches no row stops "
                        "with an error",
                        table=table.name.value,
                    ),
                    table.name.span,
                    msg("add a last row `else -> VALUE`"),
                )
            )
            continue
        for row in table.rows[table.rows.index(catch) + 1 :]:
            first = row.patterns[0].span if row.patterns else row.span
            out.append(
                problem(
                    "unreachable-row",
                    msg(
                        "this row is never used: the row on line {line} above matches everything",
                        line=catch.span.line,
                    ),
                    Span.point(first.line, first.column, 4 if row.is_else else 1),
                    msg("move it above line {line}, or delete it", line=catch.span.line),
                )
            )
    return out


def _sla_covered(flow: ast.Flow, scope: Scope) -> set[str]:
    """States some SLA clock runs in: reachable from `from` before an `until`, not paused."""
    covered: set[str] = set()
    for sla in flow.slas:
        stop = [n.value for n in sla.until]
        running = reach_from([sla.start.value], scope.edges, stop) & set(scope.states)
        covered |= running - {n.value for n in sla.pause}
    return covered


def _always_true(guard: ast.Expr | None) -> bool:
    return isinstance(guard, ast.Literal) and guard.value is True


def _unchased(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    """A non-final state where a case can wait forever without any timer, deadline or SLA."""
    covered = _sla_covered(flow, scope)
    out: list[Diagnostic] = []
    for s in flow.states:
        if s.final or not scope.is_first(s) or scope.dead_end(s) or s.name.value in covered:
            continue
        if s.of(ast.Timer) or any(t.within is not None for t in s.of(ast.Task)):
            continue
        if s.of(ast.Wait):
            continue  # `wait "reason"`: waiting here is what the procedure wants
        if any(_always_true(a.guard) for a in s.of(ast.Automatic)):
            continue  # `when true -> …`: a case never waits here
        out.append(
            problem(
                "unchased-state",
                msg(
                    "nothing chases state `{s}`: a case can wait here forever and nobody "
                    "is reminded",
                    s=s.name.value,
                ),
                s.name.span,
                msg(
                    'add a timer such as `after 24h: notify ROLE "…"`, or an `sla NAME '
                    "within 24h from {s} until STATE` that covers it; if the procedure "
                    'means the case to wait here, say why: `wait "reason"`',
                    s=s.name.value,
                ),
            )
        )
    return out


def _escalates(actions: Iterable[ast.Action]) -> bool:
    return any(isinstance(a, ast.Escalate) for a in flat_actions(actions))


def _unbounded_escalation(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    """Repeating timers that escalate without a bound; timer/automatic loops that escalate."""
    out: list[Diagnostic] = []
    for state in flow.states:
        for t in state.of(ast.Timer):
            if t.kind in ("every", "wall") and t.max_times is None and _escalates(t.actions):
                bound = (
                    msg("add `at most N times` (e.g. `every 1 working day at most 3 times: …`)")
                    if t.kind == "every"
                    else msg("escalate once with `after D: escalate …`")
                )
                out.append(
                    problem(
                        "unbounded-escalation",
                        msg("this repeating timer escalates every time it fires, without a limit"),
                        keyword_span(t.span, "every"),
                        msg("{bound}, or notify instead of escalating", bound=bound),
                    )
                )
    return out + _escalation_loops(flow, scope)


def _escalation_loops(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    reported: set[str] = set()
    cycles = cycles_of(scope.auto_edges)
    for s in flow.states:
        name = s.name.value
        if s.final or not scope.is_first(s) or name in reported:
            continue
        cycle = cycles.get(name)
        if cycle is None:
            continue
        loop = [x for x in scope.states if x in cycle]
        reported.update(loop)
        if not any(_escalates(state_actions(scope.states[x])) for x in loop):
            continue
        names = ", ".join(f"`{x}`" for x in loop)
        out.append(
            problem(
                "unbounded-escalation",
                msg(
                    "states {names} loop through timers and automatic steps, escalating "
                    "each time round with nobody acting",
                    names=names,
                )
                if len(loop) > 1
                else msg(
                    "state `{name}` re-enters itself through a timer and escalates each "
                    "time, with nobody acting",
                    name=name,
                ),
                s.name.span,
                msg(
                    "bound it (`every D at most N times: escalate …`), or leave the loop "
                    "to a final state or a step a person takes"
                ),
            )
        )
    return out


def _emitted_events(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    handled = {t.event.value for s in flow.states for t in s.of(ast.Transition)}
    handled |= {t.name.value for s in flow.states for t in s.of(ast.Task)}
    actions = scope.actions
    if any(isinstance(a, ast.Callback) for a in actions):
        handled.add(CALLBACK_DONE)
    return [
        problem(
            "unknown-emitted-event",
            msg(
                "no state handles the event `{event}`, so `emit {event}` does nothing",
                event=a.event.value,
            ),
            a.event.span,
            hint_or(
                a.event.value,
                handled,
                msg(
                    "add `on {event} -> STATE` to the state that should react, or fix the name",
                    event=a.event.value,
                ),
            ),
        )
        for a in actions
        if isinstance(a, ast.Emit) and a.event.value not in handled
    ]
