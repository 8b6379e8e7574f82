"""Declarations: states present, names declared once, fields and tables well formed."""

from __future__ import annotations

from collections.abc import Sequence

from dsl import ast
from dsl.checks.scope import Scope
from dsl.checks.types import FIELD_TYPES
from dsl.checks.walk import counted, hint_or, keyword_span
from dsl.diagnostics import Diagnostic, problem
from dsl.source import Span
from engine.i18n import Listing, msg

_RESERVED = {
    "now": msg("the current time"),
    "state": msg("the current state"),
    "id": msg("the case id"),
}

# ================================================================ declarations


def declaration_pass(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    """Each name declared once, field types valid, states present and well placed."""
    out = [
        *_duplicates(msg("role"), flow.roles),
        *_duplicates(msg("field"), [f.name for f in flow.fields]),
        *_duplicates(msg("state"), [s.name for s in flow.states]),
        *_duplicates(msg("table"), [t.name for t in flow.tables]),
        *_duplicates(msg("SLA"), [s.name for s in flow.slas]),
        *_duplicates(msg("schedule"), [s.name for s in flow.schedules]),
        *_duplicates(msg("key"), list(flow.keys)),
        *_state_presence(flow),
    ]
    for f in flow.fields:
        out += _field_declaration(f, scope)
    for state in flow.states:
        out += _state_declarations(state)
    for table in flow.tables:
        out += _duplicates(
            msg("input"), table.params, msg(" of table `{table}`", table=table.name.value)
        )
        out += _row_widths(table)
    return out


def _duplicates(kind: str, names: Sequence[ast.Name], where: str = "") -> list[Diagnostic]:
    out: list[Diagnostic] = []
    first: dict[str, ast.Name] = {}
    for n in names:
        earlier = first.setdefault(n.value, n)
        if earlier is not n:
            out.append(
                problem(
                    "duplicate-name",
                    msg(
                        "{kind} `{n}`{where} is declared twice (first on line {line})",
                        kind=kind,
                        n=n.value,
                        where=where,
                        line=earlier.span.line,
                    ),
                    n.span,
                    msg("each {kind} name may be used once: rename or delete this one", kind=kind),
                )
            )
    return out


def _state_presence(flow: ast.Flow) -> list[Diagnostic]:
    header = flow.header("flow")
    at = header.name.span if header and header.name else Span.point(1, 1)
    if not flow.states:
        return [
            problem(
                "no-states",
                msg("the flow declares no states"),
                at,
                msg(
                    "add the state cases start in, e.g. `state received:` with a line `on "
                    "close -> closed`, and a `final closed`"
                ),
            )
        ]
    out: list[Diagnostic] = []
    if not any(s.final for s in flow.states):
        out.append(
            problem(
                "no-final-state",
                msg("the flow has no final state, so no case can ever be finished"),
                at,
                msg("add a `final NAME` line (e.g. `final closed`) and a transition to it"),
            )
        )
    first = flow.states[0]
    if first.final:
        out.append(
            problem(
                "initial-state-final",
                msg(
                    "the first state `{first}` is final, so every case is finished the "
                    "moment it opens",
                    first=first.name.value,
                ),
                first.name.span,
                msg("put the state where cases start first; `final` states come after it"),
            )
        )
    return out


def _field_declaration(f: ast.Field, scope: Scope) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    name = f.name.value
    if name in _RESERVED:
        out.append(
            problem(
                "reserved-name",
                msg(
                    "`{name}` is a built-in name ({meaning}) and cannot be a field",
                    name=name,
                    meaning=_RESERVED[name],
                ),
                f.name.span,
                msg("rename the field, e.g. `{name}_note`", name=name),
            )
        )
    if name in scope.roles:
        out.append(
            problem(
                "ambiguous-name",
                msg(
                    "`{name}` is both a role and a field; in `notify` and `assign to` it "
                    "means the field",
                    name=name,
                ),
                f.name.span,
                msg("rename the field or the role so that each name means one thing"),
            )
        )
    kind = f.type.value
    if kind not in FIELD_TYPES:
        out.append(
            problem(
                "unknown-type",
                msg("`{kind}` is not a field type", kind=kind),
                f.type.span,
                hint_or(
                    kind,
                    FIELD_TYPES,
                    msg(
                        "use one of text, int, decimal, bool, date, datetime, duration, or "
                        "choice(a, b, …)"
                    ),
                ),
            )
        )
    return out + _duplicates(msg("value"), f.choices, msg(" in the choices of `{name}`", name=name))


def _state_declarations(state: ast.State) -> list[Diagnostic]:
    where = msg(" in state `{state}`", state=state.name.value)
    out = _duplicates(msg("task"), [t.name for t in state.of(ast.Task)], where)
    for t in state.of(ast.Transition):
        out += _duplicates(
            msg("parameter"),
            [p.name for p in t.params],
            msg(" of `on {event}`", event=t.event.value),
        )
    first: dict[str, ast.Hook] = {}
    for hook in state.of(ast.Hook):
        earlier = first.setdefault(hook.kind, hook)
        if earlier is not hook:
            out.append(
                problem(
                    "duplicate-block",
                    msg(
                        "state `{state}` has a second `{kind}:` block (the first is on line "
                        "{line})",
                        state=state.name.value,
                        kind=hook.kind,
                        line=earlier.span.line,
                    ),
                    keyword_span(hook.span, hook.kind),
                    msg("merge the actions of both into one `{kind}:` block", kind=hook.kind),
                )
            )
    return out


def _row_widths(table: ast.Table) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    width = len(table.params)
    for row in table.rows:
        if row.is_else or len(row.patterns) == width or not row.patterns:
            continue
        first, last = row.patterns[0].span, row.patterns[-1].span
        out.append(
            problem(
                "table-row-width",
                msg(
                    "this row has {patterns} but table `{table}` takes {width} ({value})",
                    patterns=counted(len(row.patterns), "column"),
                    table=table.name.value,
                    width=counted(width, "input"),
                    value=Listing(p.value for p in table.params),
                ),
                Span(first.line, first.column, last.end_line, last.end_column),
                msg("give one pattern per input, separated by commas (`_` matches anything)"),
            )
        )
    return out
