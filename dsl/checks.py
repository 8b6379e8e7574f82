"""Semantic checks of a parsed flow (language reference §10).

`check` builds one symbol table (`_Scope`) and runs small passes over the AST — headers,
declarations, references, types, the state graph, domain warnings — each returning
diagnostics that point at the offending name or token and say what to do about it.
The checker is total: any AST the transformer can build gives diagnostics, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from dsl import ast
from dsl.diagnostics import Diagnostic, did_you_mean, problem
from dsl.source import Span
from engine.definition import CALLBACK_DONE, PLACEHOLDER
from engine.functions import FUNCTIONS, Function
from engine.i18n import Listing, msg, msgn
from engine.i18n.formats import Moment

_T = TypeVar("_T")
DATA_ENDING_DAYS = 60
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_FIELD_TYPES = ("text", "int", "decimal", "bool", "date", "datetime", "duration", "choice")
_MONTHS = (msg("January"), msg("February"), msg("March"), msg("April"), msg("May"),
           msg("June"), msg("July"), msg("August"), msg("September"), msg("October"),
           msg("November"), msg("December"))  # fmt: skip
_RESERVED = {
    "now": msg("the current time"),
    "state": msg("the current state"),
    "id": msg("the case id"),
}


def check(
    flow: ast.Flow,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> list[Diagnostic]:
    """Every semantic problem of a parsed flow, as diagnostics sorted by position.

    `calendars` maps each known calendar name to the last day its official holiday data
    covers (None: no official data needed); None skips the unknown-calendar check.
    """
    scope = _Scope.build(flow)
    found = [
        *_header_pass(flow, calendars, today),
        *_declaration_pass(flow, scope),
        *_reference_pass(flow, scope),
        *_type_pass(flow, scope),
        *_graph_pass(flow, scope),
        *_domain_pass(flow, scope),
    ]
    return _unique_sorted(found)


def _unique_sorted(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple[str, Span, str], Diagnostic] = {}
    for d in found:
        seen.setdefault((d.code, d.span, d.message), d)
    return sorted(seen.values(), key=lambda d: (d.span.line, d.span.column, d.code, d.message))


# ================================================================ symbol table


@dataclass(frozen=True, slots=True)
class _Type:
    """The type of an expression; `choices`/`field` for choice values, `working` for durations."""

    kind: str  # text int decimal bool date datetime duration choice null list unknown
    choices: tuple[str, ...] = ()
    field: str | None = None
    working: bool = False

    def __str__(self) -> str:
        return "text" if self.field == "state" else self.kind


UNKNOWN = _Type("unknown")
TEXT, INT, DECIMAL, BOOL = _Type("text"), _Type("int"), _Type("decimal"), _Type("bool")
DATE, DATETIME, DURATION, LIST = _Type("date"), _Type("datetime"), _Type("duration"), _Type("list")
_BUILTINS = {"now": DATETIME, "state": TEXT, "id": TEXT}
_NUMBERS = ("int", "decimal")
_STRINGS = ("text", "choice")
_MOMENTS = ("date", "datetime")


@dataclass(frozen=True)
class _Scope:
    """Names declared once (first declaration wins) and the state graph, built once per check."""

    flow: ast.Flow
    roles: dict[str, ast.Name]
    fields: dict[str, ast.Field]
    states: dict[str, ast.State]
    tables: dict[str, ast.Table]
    slas: dict[str, ast.Sla]
    calendar: str
    edges: dict[str, set[str]]  # known targets of each (first-declared) non-final state
    auto_edges: dict[str, set[str]]  # the same, through timers and automatic steps only
    actions: tuple[ast.Action, ...]  # every action of the flow (`_flow_actions`), read by passes
    exits: dict[str, list[tuple[ast.Name, bool]]]  # `_exits` of each first-declared state

    @staticmethod
    def build(flow: ast.Flow) -> _Scope:
        """Index the flow's declarations and its graph."""
        states = _first_by_name((s.name, s) for s in flow.states)
        edges: dict[str, set[str]] = {}
        auto_edges: dict[str, set[str]] = {}
        all_exits = {name: _exits(state) for name, state in states.items()}
        for state in states.values():
            exits = [] if state.final else all_exits[state.name.value]
            edges[state.name.value] = {t.value for t, _ in exits if t.value in states}
            auto_edges[state.name.value] = {t.value for t, a in exits if a and t.value in states}
        calendar = flow.header("calendar")
        return _Scope(
            flow=flow,
            roles=_first_by_name((r, r) for r in flow.roles),
            fields=_first_by_name((f.name, f) for f in flow.fields),
            states=states,
            tables=_first_by_name((t.name, t) for t in flow.tables),
            slas=_first_by_name((s.name, s) for s in flow.slas),
            calendar=calendar.name.value if calendar and calendar.name else "always",
            edges=edges,
            auto_edges=auto_edges,
            actions=tuple(_flow_actions(flow)),
            exits=all_exits,
        )

    @property
    def initial(self) -> ast.State | None:
        return self.flow.states[0] if self.flow.states else None

    def is_first(self, state: ast.State) -> bool:
        """False for a repeated declaration of a state name (reported as a duplicate)."""
        return self.states.get(state.name.value) is state

    def field_type(self, name: str) -> _Type | None:
        """The declared type of a field, UNKNOWN if its type is wrong, None if no such field."""
        f = self.fields.get(name)
        if f is None:
            return None
        kind = f.type.value
        if kind == "choice":
            values = tuple(c.value for c in f.choices)
            return _Type("choice", values, name) if values else UNKNOWN
        return _Type(kind) if kind in _FIELD_TYPES else UNKNOWN

    def dead_end(self, state: ast.State) -> bool:
        """A non-final state with no transition, automatic step or timer to another state."""
        exits = self.exits[state.name.value] if self.is_first(state) else _exits(state)
        return not state.final and all(t.value == state.name.value for t, _ in exits)


def _first_by_name(pairs: Iterable[tuple[ast.Name, _T]]) -> dict[str, _T]:
    found: dict[str, _T] = {}
    for name, item in pairs:
        found.setdefault(name.value, item)
    return found


def _exits(state: ast.State) -> list[tuple[ast.Name, bool]]:
    """Every target written in a state, with True when no person acts (timer, automatic)."""
    exits: list[tuple[ast.Name, bool]] = []
    for m in state.members:
        if isinstance(m, ast.Transition) and m.target is not None:
            exits.append((m.target, False))
        elif isinstance(m, ast.Automatic | ast.Timer) and m.target is not None:
            exits.append((m.target, True))
    return exits


def _reach(
    start: Iterable[str], edges: Mapping[str, set[str]], stop: Iterable[str] = ()
) -> set[str]:
    """States reachable from `start` (included) without entering a `stop` state."""
    blocked = set(stop)
    todo = [s for s in start if s not in blocked]
    seen = set(todo)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen and nxt not in blocked:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _cycles(edges: Mapping[str, set[str]]) -> dict[str, frozenset[str]]:
    """Each state on a cycle of `edges`, with the states of its cycle (its strongly connected
    component). One pass (Tarjan's algorithm): a search from every state is quadratic."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    path: list[str] = []  # visited states whose component is still open
    open_: set[str] = set()
    found: dict[str, frozenset[str]] = {}
    for root in edges:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        path.append(root)
        open_.add(root)
        work = [(root, iter(edges.get(root, ())))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    path.append(nxt)
                    open_.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, ()))))
                    break
                if nxt in open_:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] != index[node]:
                    continue
                members: list[str] = []
                while not members or members[-1] != node:
                    members.append(path.pop())
                    open_.discard(members[-1])
                if len(members) > 1 or node in edges.get(node, ()):
                    component = frozenset(members)
                    found.update(dict.fromkeys(members, component))
    return found


# ================================================================ walking the AST


def _flat(actions: Iterable[ast.Action]) -> Iterator[ast.Action]:
    """The actions, and those inside each `if` (after it, in order)."""
    for a in actions:
        yield a
        if isinstance(a, ast.If):
            yield from _flat(a.then)
            yield from _flat(a.otherwise)


def _state_actions(state: ast.State) -> Iterator[ast.Action]:
    for m in state.members:
        if isinstance(m, ast.Task):
            yield from _flat(m.overdue)
        elif not isinstance(m, ast.Automatic | ast.Wait):
            yield from _flat(m.actions)


def _flow_actions(flow: ast.Flow) -> Iterator[ast.Action]:
    """Every action of the flow, those inside `if` too: state members, task overdue blocks,
    SLA warnings and breaches."""
    for state in flow.states:
        yield from _state_actions(state)
    for sla in flow.slas:
        for w in sla.warnings:
            yield from _flat(w.actions)
        yield from _flat(sla.breach)


def _action_exprs(action: ast.Action) -> tuple[ast.Expr, ...]:
    if isinstance(action, ast.Set):
        return (action.value,)
    if isinstance(action, ast.Notify):
        return action.targets
    if isinstance(action, ast.Assign):
        return (action.target,)
    if isinstance(action, ast.HookCall):
        return action.args
    if isinstance(action, ast.If):
        return (action.condition,)
    return ()


def _action_texts(action: ast.Action) -> tuple[ast.Text, ...]:
    """The messages of an action that may hold `{field}` placeholders."""
    if isinstance(action, ast.Notify):
        return (action.message,)
    if isinstance(action, ast.Record):
        return (action.text,)
    if isinstance(action, ast.Callback):
        return (action.label,)
    if isinstance(action, ast.Escalate) and action.reason is not None:
        return (action.reason,)
    return ()


def _flow_exprs(flow: ast.Flow, scope: _Scope) -> Iterator[tuple[ast.Expr, ast.Table | None]]:
    """Every top-level expression, with the table whose row holds it (if any)."""
    for f in flow.fields:
        if f.default is not None:
            yield f.default, None
    for state in flow.states:
        for m in state.members:
            if isinstance(m, ast.Transition | ast.Automatic) and m.guard is not None:
                yield m.guard, None
            if isinstance(m, ast.Timer) and m.at is not None:
                yield m.at, None
    for table in flow.tables:
        for row in table.rows:
            yield row.result, table
    for action in scope.actions:
        for e in _action_exprs(action):
            yield e, None


def _walk(e: ast.Expr) -> Iterator[ast.Expr]:
    """An expression and all its sub-expressions."""
    todo = [e]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.Call):
            todo.extend(node.args)
        elif isinstance(node, ast.Unary | ast.IsSet):
            todo.append(node.operand)
        elif isinstance(node, ast.Binary):
            todo.extend((node.left, node.right))
        elif isinstance(node, ast.ListExpr):
            todo.extend(node.items)


def _placeholders(message: ast.Text) -> Iterator[tuple[str, Span]]:
    """The `{name}` placeholders of a message, each with the span of the name in the file."""
    raw_width = message.span.end_column - message.span.column - 2
    exact = message.span.line == message.span.end_line and raw_width == len(_escaped(message.value))
    for match in PLACEHOLDER.finditer(message.value):
        name = match.group(1).strip()
        if not exact:
            yield name, message.span
            continue
        start = match.start(1) + match.group(1).index(name[:1]) if name else match.start(1)
        column = message.span.column + 1 + len(_escaped(message.value[:start]))
        yield name, Span.point(message.span.line, column, len(_escaped(name)))


def _placeholder_names(message: ast.Text) -> list[str]:
    """The names of a message's `{name}` placeholders (`_placeholders` without the spans)."""
    if "{" not in message.value:
        return []
    return [match.group(1).strip() for match in PLACEHOLDER.finditer(message.value)]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _keyword(span: Span, word: str) -> Span:
    """The span of the keyword a member or header starts with."""
    return Span.point(span.line, span.column, len(word))


def _member_keyword(m: ast.StateMember) -> str:
    if isinstance(m, ast.Hook):
        return m.kind
    if isinstance(m, ast.Transition):
        return "on"
    if isinstance(m, ast.Automatic):
        return "when"
    if isinstance(m, ast.Task):
        return "task"
    if isinstance(m, ast.Wait):
        return "wait"
    return {"after": "after", "every": "every", "wall": "every", "at": "at"}[m.kind]


def _hint(name: str, known: Iterable[str], otherwise: str) -> str:
    """`did you mean …?` when a known name is close, else the fallback advice."""
    return did_you_mean(name, known) or otherwise


_LISTED = 8  # a help line names at most this many choices; a long list helps nobody


def _listing(names: Iterable[str], none: str = msg("none yet")) -> str:
    shown = [f"`{n}`" for n in names]
    if len(shown) > _LISTED:
        return msg("{names} … ({count} in all)", names=Listing(shown[:_LISTED]), count=len(shown))
    return Listing(shown) if shown else none


# ================================================================ headers


def _header_pass(
    flow: ast.Flow, calendars: Mapping[str, date | None] | None, today: date | None
) -> list[Diagnostic]:
    """The `flow`, `version` and `calendar` lines: present once, valid, calendar known."""
    out: list[Diagnostic] = []
    if flow.header("flow") is None:
        out.append(
            problem(
                "missing-flow-header",
                msg("the file does not start with `flow NAME`"),
                Span.point(1, 1),
                msg('add a first line like `flow complaint "业主投诉处理"` (a name, then a label)'),
            )
        )
    first: dict[str, ast.Header] = {}
    for h in flow.headers:
        earlier = first.setdefault(h.keyword, h)
        if earlier is not h:
            out.append(
                problem(
                    "duplicate-header",
                    msg(
                        "`{keyword}` is given twice (first on line {line})",
                        keyword=h.keyword,
                        line=earlier.span.line,
                    ),
                    _keyword(h.span, h.keyword),
                    msg("keep one `{keyword}` line and delete the other", keyword=h.keyword),
                )
            )
    version = flow.header("version")
    if version is not None and version.number is not None and version.number < 1:
        out.append(
            problem(
                "invalid-version",
                msg("version {number} is not a version number", number=version.number),
                _keyword(version.span, "version"),
                msg("versions count from 1: write `version 1`, `version 2`, …"),
            )
        )
    return out + _calendar_checks(flow, calendars, today)


def _calendar_checks(
    flow: ast.Flow, calendars: Mapping[str, date | None] | None, today: date | None
) -> list[Diagnostic]:
    header = flow.header("calendar")
    if header is None or header.name is None or calendars is None:
        return []
    name = header.name
    if name.value not in calendars:
        if name.value == "always":
            return []
        known = sorted({*calendars, "always"})
        return [
            problem(
                "unknown-calendar",
                msg("unknown calendar `{name}`", name=name.value),
                name.span,
                _hint(
                    name.value,
                    known,
                    msg(
                        "use one of {known}, or add `{name}:` to calendars.yaml",
                        known=_listing(known),
                        name=name.value,
                    ),
                ),
            )
        ]
    ends = calendars[name.value]
    if ends is None:
        return []
    return _data_ending(name, ends, today or date.today())


def _data_ending(name: ast.Name, ends: date, today: date) -> list[Diagnostic]:
    advice = msg(
        "import the State Council's holiday notice for the next year with "
        "`flow calendar import NOTICE.txt` (it fills "
        "extra_holidays/extra_workdays), or upgrade the holiday package"
    )
    if ends < today:
        return [
            problem(
                "calendar-data-ending",
                msg(
                    "the official holiday data of calendar `{name}` ended on {ends}, "
                    "before today ({today})",
                    name=name.value,
                    ends=Moment(ends),
                    today=Moment(today),
                ),
                name.span,
                msg(
                    "working-day deadlines are now estimated from weekdays; {advice}", advice=advice
                ),
            )
        ]
    if (ends - today).days <= DATA_ENDING_DAYS:
        return [
            problem(
                "calendar-data-ending",
                msg(
                    "the official holiday data of calendar `{name}` ends on {ends}",
                    name=name.value,
                    ends=Moment(ends),
                ),
                name.span,
                msg(
                    "after that date working-day deadlines are estimated from weekdays; {advice}",
                    advice=advice,
                ),
            )
        ]
    return []


# ================================================================ declarations


def _declaration_pass(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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


def _field_declaration(f: ast.Field, scope: _Scope) -> list[Diagnostic]:
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
    if kind not in _FIELD_TYPES:
        out.append(
            problem(
                "unknown-type",
                msg("`{kind}` is not a field type", kind=kind),
                f.type.span,
                _hint(
                    kind,
                    _FIELD_TYPES,
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
                    _keyword(hook.span, hook.kind),
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
                    patterns=_count(len(row.patterns), "column"),
                    table=table.name.value,
                    width=_count(width, "input"),
                    value=Listing(p.value for p in table.params),
                ),
                Span(first.line, first.column, last.end_line, last.end_column),
                msg("give one pattern per input, separated by commas (`_` matches anything)"),
            )
        )
    return out


def _a(t: _Type | str) -> str:
    """`an int`, `a text`: the type with its article."""
    return msg("an {type}", type=str(t)) if str(t)[:1] in "aeiou" else msg("a {type}", type=str(t))


def _count(n: int, noun: str) -> str:
    """`1 input`, `3 columns`: a number of table inputs, row columns or function arguments."""
    if noun == "column":
        return msgn("{count} column", "{count} columns", n)
    if noun == "argument":
        return msgn("{count} argument", "{count} arguments", n)
    return msgn("{count} input", "{count} inputs", n)


# ================================================================ references outside expressions


def _reference_pass(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    """State, role, field and parameter names used outside expressions must be declared."""
    out: list[Diagnostic] = []
    for state in flow.states:
        for m in state.members:
            out += _member_references(m, scope)
        out += _task_order(state)
    for sla in flow.slas:
        for n in (sla.start, *sla.until, *sla.pause):
            out += _state_ref(n, scope)
    for action in scope.actions:
        out += _action_references(action, scope)
    for role in flow.openers:
        out += _role_ref(role, scope)
    for schedule in flow.schedules:
        for role in schedule.summary_to:
            out += _role_ref(role, scope)
    for key in flow.keys:
        if key.value not in scope.fields:
            out.append(_unknown_field(key.value, key.span, scope))
    return out


def _member_references(m: ast.StateMember, scope: _Scope) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if isinstance(m, ast.Transition | ast.Automatic | ast.Timer) and m.target is not None:
        out += _state_ref(m.target, scope)
    if isinstance(m, ast.Task):
        for role in m.roles:
            out += _role_ref(role, scope)
    if isinstance(m, ast.Transition):
        for role in m.roles:
            held = role.value in scope.fields
            out += _holder_ref(role, scope) if held else _role_ref(role, scope)
    if isinstance(m, ast.Transition):
        for p in m.params:
            if p.name.value not in scope.fields:
                out.append(
                    problem(
                        "unknown-param",
                        msg(
                            "unknown event parameter `{p}`: event data can only set declared "
                            "fields",
                            p=p.name.value,
                        ),
                        p.name.span,
                        _hint(
                            p.name.value,
                            scope.fields,
                            msg("declare `{p}` under `fields:` or fix the name", p=p.name.value),
                        ),
                    )
                )
    return out


def _task_order(state: ast.State) -> list[Diagnostic]:
    """`task B … after A`: A must be another task of the same state."""
    tasks = {t.name.value for t in state.of(ast.Task)}
    out: list[Diagnostic] = []
    for t in state.of(ast.Task):
        if t.after is None or (t.after.value in tasks and t.after.value != t.name.value):
            continue
        others = sorted(tasks - {t.name.value})
        out.append(
            problem(
                "unknown-task",
                msg(
                    "task `{t}` waits for `{after}`, which is not another task of state `{state}`",
                    t=t.name.value,
                    after=t.after.value,
                    state=state.name.value,
                ),
                t.after.span,
                _hint(
                    t.after.value,
                    others,
                    msg("name one of {others}", others=_listing(others))
                    if others
                    else msg("declare the task it waits for in the same state"),
                ),
            )
        )
    return out


def _state_ref(n: ast.Name, scope: _Scope) -> list[Diagnostic]:
    if n.value in scope.states:
        return []
    return [
        problem(
            "unknown-state",
            msg("unknown state `{n}`", n=n.value),
            n.span,
            _hint(
                n.value,
                scope.states,
                msg(
                    "declare it with `state {n}:` or `final {n}`, or use one of {states}",
                    n=n.value,
                    states=_listing(scope.states),
                ),
            ),
        )
    ]


def _holder_ref(n: ast.Name, scope: _Scope) -> list[Diagnostic]:
    """`by FIELD`: the field must hold a text (a role's or a person's name)."""
    field = scope.fields[n.value]
    if n.value in scope.roles or field.type.value in _STRINGS:
        return []
    return [
        problem(
            "type-mismatch",
            msg(
                "`by {n}`: `{n}` is a field of type {type}, but it must hold the name "
                "of a role or a person",
                n=n.value,
                type=field.type.value,
            ),
            n.span,
            msg("declare `{n}: text?` (set it to who owns the case), or name a role", n=n.value),
        )
    ]


def _role_ref(n: ast.Name, scope: _Scope) -> list[Diagnostic]:
    if n.value in scope.roles:
        return []
    return [
        problem(
            "unknown-role",
            msg("unknown role `{n}`", n=n.value),
            n.span,
            _hint(
                n.value,
                scope.roles,
                msg(
                    "add `{n}` to the `roles:` line (roles so far: {roles})",
                    n=n.value,
                    roles=_listing(scope.roles),
                ),
            ),
        )
    ]


def _action_references(action: ast.Action, scope: _Scope) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if isinstance(action, ast.Set) and action.field.value not in scope.fields:
        out.append(_unknown_field(action.field.value, action.field.span, scope))
    if isinstance(action, ast.Escalate | ast.Callback):
        out += _role_ref(action.role, scope)
    if isinstance(action, ast.Notify | ast.Assign):
        targets = action.targets if isinstance(action, ast.Notify) else (action.target,)
        for target in targets:
            if isinstance(target, ast.Ref):
                out += _who_ref(target, scope)
    for message in _action_texts(action):
        if all(n in scope.fields or n in _BUILTINS for n in _placeholder_names(message)):
            continue  # (placing each placeholder in the file is the costly part)
        for name, span in _placeholders(message):
            if name not in scope.fields and name not in _BUILTINS:
                out.append(_unknown_placeholder(name, span, scope))
    return out


def _unknown_field(name: str, span: Span, scope: _Scope) -> Diagnostic:
    return problem(
        "unknown-field",
        msg("unknown field `{name}`", name=name),
        span,
        _hint(
            name, scope.fields, msg("declare it under `fields:` (e.g. `{name}: text?`)", name=name)
        ),
    )


def _unknown_placeholder(name: str, span: Span, scope: _Scope) -> Diagnostic:
    if not _IDENTIFIER.fullmatch(name):
        return problem(
            "unknown-field",
            msg("a `{{…}}` placeholder holds one field name, not `{name}`", name=name),
            span,
            msg("store the value in a field first (`set FIELD = …`), then write `{FIELD}`"),
        )
    return problem(
        "unknown-field",
        msg("unknown field `{name}` in a `{{…}}` placeholder", name=name),
        span,
        _hint(
            name,
            [*scope.fields, *_BUILTINS],
            msg(
                "a placeholder names a field, `id`, `state` or `now`; declare the "
                "field under `fields:` or fix the name"
            ),
        ),
    )


def _who_ref(target: ast.Ref, scope: _Scope) -> list[Diagnostic]:
    """A bare `notify`/`assign to` target: a role, or a text/choice field holding one."""
    name = target.name
    field_type = scope.field_type(name)
    if name in scope.roles or (
        field_type is not None and field_type.kind in (*_STRINGS, "unknown")
    ):
        return []
    if field_type is not None:
        return [
            problem(
                "type-mismatch",
                msg(
                    "`{name}` is {field_type} field, so it cannot name whom to notify or assign",
                    name=name,
                    field_type=_a(field_type),
                ),
                target.span,
                msg("use a role, or a text or choice field that holds a role's name"),
            )
        ]
    text_fields = [n for n in scope.fields if (scope.field_type(n) or UNKNOWN).kind in _STRINGS]
    return [
        problem(
            "unknown-role",
            msg("unknown role `{name}`: it is neither a role nor a field", name=name),
            target.span,
            _hint(
                name,
                [*scope.roles, *text_fields],
                msg(
                    "add `{name}` to the `roles:` line, or use a text field that holds a "
                    "role's name",
                    name=name,
                ),
            ),
        )
    ]


# ================================================================ types


def _type_pass(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    """Infer a type for every expression; report misfits where the value is used."""
    typer = _Typer(scope)
    for f in flow.fields:
        typer.field_default(f)
    for table in flow.tables:
        typer.table_type(table.name.value, None)
    for state in flow.states:
        for m in state.members:
            typer.member(m)
    for sla in flow.slas:
        for w in sla.warnings:
            typer.actions(w.actions)
        typer.actions(sla.breach)
    return typer.out


class _Typer:
    """Type inference over expressions; collects diagnostics in `out`."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.out: list[Diagnostic] = []
        self._tables: dict[str, _Type] = {}
        self._busy: set[str] = set()

    # ------------------------------------------------------------ contexts
    def member(self, m: ast.StateMember) -> None:
        """Guards are conditions, `at` gives a moment, actions are typed one by one."""
        if isinstance(m, ast.Transition | ast.Automatic) and m.guard is not None:
            self.condition(m.guard)
        if isinstance(m, ast.Timer) and m.at is not None:
            self.moment(m.at)
        if isinstance(m, ast.Task):
            self.actions(m.overdue)
        elif not isinstance(m, ast.Automatic | ast.Wait):
            self.actions(m.actions)

    def actions(self, actions: Iterable[ast.Action]) -> None:
        for a in actions:
            self.action(a)

    def action(self, a: ast.Action) -> None:
        if isinstance(a, ast.Set):
            value = self.infer(a.value)
            f = self.scope.fields.get(a.field.value)
            if f is not None:
                self.fit(f, a.value, value, msg("be set to"))
        elif isinstance(a, ast.Notify | ast.Assign):
            targets = a.targets if isinstance(a, ast.Notify) else (a.target,)
            for t in targets:
                if not isinstance(t, ast.Ref):
                    self.who_call(t, a.span.line)
        elif isinstance(a, ast.HookCall):
            for arg in a.args:
                self.infer(arg)
        elif isinstance(a, ast.If):
            self.condition(a.condition, "if")
            self.actions(a.then)
            self.actions(a.otherwise)

    def condition(self, e: ast.Expr, keyword: str = "when") -> None:
        t = self.infer(e)
        if t.kind not in ("bool", "unknown"):
            self._report(
                "type-mismatch",
                msg(
                    "the condition after `{keyword}` must be true or false, but {e} is not",
                    keyword=keyword,
                    e=_desc(e, t),
                ),
                e.span,
                _bool_help(e, t),
            )

    def moment(self, e: ast.Expr) -> None:
        t = self.infer(e)
        if t.kind not in (*_MOMENTS, "unknown"):
            self._report(
                "type-mismatch",
                msg("`at` needs a date-time, but {e} is not one", e=_desc(e, t)),
                e.span,
                msg("use a datetime field, maybe shifted: `at appointment - 10m`"),
            )

    def who_call(self, e: ast.Expr, line: int) -> None:
        """A table call as a notify/assign target: it must give text, ideally role names."""
        t = self.infer(e)
        if t.kind not in (*_STRINGS, "unknown"):
            self._report(
                "type-mismatch",
                msg("{e} cannot name whom to notify or assign", e=_desc(e, t)),
                e.span,
                msg('use a table whose rows give role names as texts, like `"工程部"`'),
            )
        elif isinstance(e, ast.Call) and e.func.value in self.scope.tables:
            self._role_results(self.scope.tables[e.func.value], line)

    def _role_results(self, table: ast.Table, line: int) -> None:
        for row in table.rows:
            r = row.result
            if isinstance(r, ast.Literal) and r.type == "text" and r.value not in self.scope.roles:
                self.out.append(
                    problem(
                        "table-result-not-role",
                        msg(
                            '`"{r}"` is not a role, but table `{table}` is used on line {line} to '
                            "name whom to notify or assign",
                            r=r.value,
                            table=table.name.value,
                            line=line,
                        ),
                        r.span,
                        _hint(
                            str(r.value),
                            self.scope.roles,
                            msg("give a role from the `roles:` line"),
                        ),
                    )
                )

    def field_default(self, f: ast.Field) -> None:
        """A default is a plain value of the field's type."""
        if f.default is None:
            return
        value = self.infer(f.default)
        if value.kind == "unknown":
            return  # already reported (e.g. `= fee` written without quotes)
        if not _constant(f.default):
            self._report(
                "non-constant-default",
                msg(
                    "the default of `{f}` must be a plain value, not a computation", f=f.name.value
                ),
                f.default.span,
                msg(
                    'write a value like `0`, `false` or `"fee"`; compute values in the '
                    "first state's `enter:` block instead (`set …`)"
                ),
            )
            return
        self.fit(f, f.default, value, msg("default to"))

    def fit(self, f: ast.Field, e: ast.Expr, value: _Type, verb: str) -> None:
        """A value stored in a field must fit its type (int fits decimal, null needs `?`)."""
        target = self.scope.field_type(f.name.value) or UNKNOWN
        name = f.name.value
        if "unknown" in (target.kind, value.kind):
            return
        if value.kind == "null":
            if not f.optional:
                self._report(
                    "type-mismatch",
                    msg("`{name}` is not optional, so it cannot {verb} null", name=name, verb=verb),
                    e.span,
                    msg(
                        "declare it optional (`{name}: {type}?`) or give a value",
                        name=name,
                        type=f.type.value,
                    ),
                )
            return
        if target.kind == "choice" and isinstance(e, ast.Literal) and e.type == "text":
            self.choice_value(target, e)
            return
        if _fits(target, value):
            return
        self._report(
            "type-mismatch",
            msg(
                "`{name}` is {target} field, but {e} is not {target}",
                name=name,
                target=_a(target),
                e=_desc(e, value),
            ),
            e.span,
            msg(
                "give `{name}` a {target} value, like {target2}",
                name=name,
                target=target,
                target2=_example(target),
            ),
        )

    def choice_value(self, choice: _Type, lit: ast.Literal) -> None:
        """A string literal compared with or stored in a choice must be one of its values."""
        if str(lit.value) in choice.choices:
            return
        quoted = [f'"{c}"' for c in choice.choices]
        if choice.field == "state":
            self._report(
                "unknown-state",
                msg(
                    '`"{lit}"` is not a state of this flow ({choices})',
                    lit=lit.value,
                    choices=", ".join(choice.choices),
                ),
                lit.span,
                _hint(f'"{lit.value}"', quoted, msg("compare `state` with one of the state names")),
            )
            return
        self._report(
            "unknown-choice-value",
            msg(
                '`"{lit}"` is not a value of `{field}` ({choices})',
                lit=lit.value,
                field=choice.field,
                choices=", ".join(choice.choices),
            ),
            lit.span,
            _hint(f'"{lit.value}"', quoted, msg("use one of {quoted}", quoted=Listing(quoted))),
        )

    # ------------------------------------------------------------ inference
    def infer(self, e: ast.Expr) -> _Type:
        """The type of an expression; UNKNOWN after a reported error (no cascades)."""
        if isinstance(e, ast.Literal):
            return _Type(e.type)
        if isinstance(e, ast.DurationLiteral):
            return _Type("duration", working=e.duration.working)
        if isinstance(e, ast.Ref):
            return self.ref(e)
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.Unary):
            return self.unary(e)
        if isinstance(e, ast.Binary):
            return self.binary(e)
        if isinstance(e, ast.ListExpr):
            for item in e.items:
                self.infer(item)
            return LIST
        self.infer(e.operand)
        return BOOL

    def ref(self, e: ast.Ref) -> _Type:
        if e.name == "state" and self.scope.states:
            return _Type("choice", tuple(self.scope.states), "state")  # checks "state names"
        if e.name in _BUILTINS:
            return _BUILTINS[e.name]
        known = self.scope.field_type(e.name)
        if known is not None:
            return known
        self._report(
            "unknown-field", msg("unknown field `{e}`", e=e.name), e.span, self._ref_help(e.name)
        )
        return UNKNOWN

    def _ref_help(self, name: str) -> str:
        scope = self.scope
        if name in scope.states:
            return msg('state names are texts in conditions: write `state == "{name}"`', name=name)
        if any(name in (c.value for c in f.choices) for f in scope.fields.values()):
            return msg('choice values are written in quotes: `"{name}"`', name=name)
        if name in scope.tables:
            return msg("`{name}` is a table: call it with its inputs, `{name}(…)`", name=name)
        if name in scope.roles:
            return msg(
                "`{name}` is a role; conditions can read fields, `now`, `state` and `id`", name=name
            )
        return _hint(
            name,
            [*scope.fields, *_BUILTINS],
            msg("declare it under `fields:` (e.g. `{name}: text?`)", name=name),
        )

    def call(self, e: ast.Call) -> _Type:
        name = e.func.value
        table = self.scope.tables.get(name)
        if table is None and name in FUNCTIONS:
            return self.function(FUNCTIONS[name], e)
        args = [self.infer(a) for a in e.args]
        if table is None:
            self._report(
                "unknown-table",
                msg("unknown table `{name}`", name=name),
                e.func.span,
                _hint(
                    name,
                    [*self.scope.tables, *FUNCTIONS],
                    msg("declare it with `table {name}(INPUT):` and rows", name=name),
                ),
            )
            return UNKNOWN
        if len(args) != len(table.params):
            inputs = ", ".join(p.value for p in table.params)
            self._report(
                "wrong-arity",
                msgn(
                    "table `{name}` takes {params} ({inputs}), but {count} is given",
                    "table `{name}` takes {params} ({inputs}), but {count} are given",
                    len(args),
                    name=name,
                    params=_count(len(table.params), "input"),
                    inputs=inputs,
                ),
                e.func.span,
                msg("call it as `{name}({inputs})`", name=name, inputs=inputs),
            )
        else:
            self.patterns(table, e.args, args)
        return self.table_type(name, e.func.span)

    def function(self, fn: Function, e: ast.Call) -> _Type:
        """A built-in's call: its arity, an SLA's name or a moment for each argument."""
        usage = f"{fn.name}({', '.join(_PARAM_NAMES[p] for p in fn.params)})"
        if len(e.args) != len(fn.params):
            self._report(
                "wrong-arity",
                msgn(
                    "`{fn}` takes {params}, but {count} is given",
                    "`{fn}` takes {params}, but {count} are given",
                    len(e.args),
                    fn=fn.name,
                    params=_count(len(fn.params), "argument"),
                ),
                e.func.span,
                msg("call it as `{usage}`: {summary}", usage=usage, summary=fn.summary),
            )
            return UNKNOWN
        if "window" in fn.params and not self.scope.flow.keys:
            self._report(
                "missing-keys",
                msg(
                    "`{fn}` relates cases by their key fields, but the flow has no `keys:`",
                    fn=fn.name,
                ),
                e.func.span,
                msg(
                    "declare the fields that identify who or what a case is about, e.g. "
                    "`keys: unit, phone` under the `roles:` line"
                ),
            )
        for param, arg in zip(fn.params, e.args, strict=True):
            if param == "window":
                t = self.infer(arg)
                if t.kind not in ("duration", "unknown") or t.working:
                    self._report(
                        "type-mismatch",
                        msg(
                            "`{fn}` takes a window of elapsed time, but {arg} is given",
                            fn=fn.name,
                            arg=_desc(arg, t),
                        ),
                        arg.span,
                        msg(
                            "write it like `{fn}(30d)` (days, hours or weeks; not working time)",
                            fn=fn.name,
                        ),
                    )
                continue
            if param == "sla":
                if not (isinstance(arg, ast.Ref) and arg.name in self.scope.slas):
                    self._report(
                        "unknown-sla",
                        msg("`{fn}` takes the name of one of the flow's SLAs", fn=fn.name),
                        arg.span,
                        _hint(
                            _show(arg) or "",
                            self.scope.slas,
                            msg(
                                "declare it with `sla NAME within … from … until …`, or call "
                                "`{usage}`",
                                usage=usage,
                            ),
                        ),
                    )
                continue
            t = self.infer(arg)
            if t.kind not in (*_MOMENTS, "null", "unknown"):
                self._report(
                    "type-mismatch",
                    msg(
                        "`{fn}` takes a date or date-time, but {arg} is given",
                        fn=fn.name,
                        arg=_desc(arg, t),
                    ),
                    arg.span,
                    msg("call it as `{usage}`, e.g. `{fn}(now)`", usage=usage, fn=fn.name),
                )
        if fn.result == "choice":
            return _Type("choice", fn.choices, fn.name)
        return _Type(fn.result)

    def table_type(self, name: str, call: Span | None) -> _Type:
        """The common type of a table's row results (its rows are typed once)."""
        if name in self._tables:
            return self._tables[name]
        if name in self._busy:
            if call is not None:
                self._report(
                    "recursive-table",
                    msg(
                        "table `{name}` calls itself through its rows, so it would never finish",
                        name=name,
                    ),
                    call,
                    msg("give the rows plain values, or compute the value in an action"),
                )
            return UNKNOWN
        self._busy.add(name)
        result = self._rows_type(self.scope.tables[name])
        self._busy.discard(name)
        self._tables[name] = result
        return result

    def _rows_type(self, table: ast.Table) -> _Type:
        common: _Type | None = None
        for row in table.rows:
            t = self.infer(row.result)
            joined = t if common is None else _join(common, t)
            if joined is None and common is not None:
                self._report(
                    "type-mismatch",
                    msg(
                        "this row gives {result}, but the rows above give {common}",
                        result=_desc(row.result, t),
                        common=common,
                    ),
                    row.result.span,
                    msg(
                        "make every row of table `{table}` give the same kind of value",
                        table=table.name.value,
                    ),
                )
                continue
            common = joined
        return common if common is not None and common.kind != "null" else UNKNOWN

    def patterns(self, table: ast.Table, args: Sequence[ast.Expr], types: list[_Type]) -> None:
        """Row patterns must be able to match the call's inputs (choice values checked)."""
        for row in table.rows:
            if len(row.patterns) != len(types):
                continue
            for pattern, arg, t in zip(row.patterns, args, types, strict=True):
                for lit in pattern.alternatives:
                    self._pattern(lit, arg, t)

    def _pattern(self, lit: ast.Literal, arg: ast.Expr, t: _Type) -> None:
        if t.kind == "choice" and lit.type == "text":
            self.choice_value(t, lit)
        elif not _comparable(t, _Type(lit.type), ordered=False):
            self._report(
                "type-mismatch",
                msg(
                    "the pattern {lit} can never match the input {arg}",
                    lit=_desc(lit, _Type(lit.type)),
                    arg=_desc(arg, t),
                ),
                lit.span,
                msg("write patterns of the input's type, like {t}", t=_example(t)),
            )

    def unary(self, e: ast.Unary) -> _Type:
        t = self.infer(e.operand)
        if t.kind == "unknown":
            return BOOL if e.op == "not" else UNKNOWN
        if e.op == "not":
            if t.kind != "bool":
                self._report(
                    "type-mismatch",
                    msg(
                        "`not` needs true or false, but {operand} is not",
                        operand=_desc(e.operand, t),
                    ),
                    e.operand.span,
                    _bool_help(e.operand, t),
                )
            return BOOL
        if t.kind in _NUMBERS or (t.kind == "duration" and not t.working):
            return t
        self._report(
            "type-mismatch",
            msg("cannot use `-` on {operand}", operand=_desc(e.operand, t)),
            _keyword(e.span, "-"),
            msg("`-` in front of a value negates a number or an elapsed duration"),
        )
        return UNKNOWN

    def binary(self, e: ast.Binary) -> _Type:
        if e.op in ("in", "not in"):
            return self.membership(e)
        left, right = self.infer(e.left), self.infer(e.right)
        if e.op in ("and", "or"):
            for side, t in ((e.left, left), (e.right, right)):
                if t.kind not in ("bool", "unknown"):
                    self._report(
                        "type-mismatch",
                        msg(
                            "`{op}` needs true or false on both sides, but {side} is not",
                            op=e.op,
                            side=_desc(side, t),
                        ),
                        side.span,
                        _bool_help(side, t),
                    )
            return BOOL
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            self.compare(e.op, e.left, left, e.right, right, e.op_span)
            return BOOL
        return self.arithmetic(e, left, right)

    def compare(self, op: str, le: ast.Expr, lt: _Type, re_: ast.Expr, rt: _Type, at: Span) -> None:
        """`==`-like and ordering comparisons need comparable types; choices need their values."""
        if "unknown" in (lt.kind, rt.kind):
            return
        ordered = op in ("<", "<=", ">", ">=")
        for choice, other in ((lt, re_), (rt, le)):
            if choice.kind == "choice" and isinstance(other, ast.Literal) and other.type == "text":
                self.choice_value(choice, other)
                if not ordered:
                    return
        if _comparable(lt, rt, ordered):
            return
        if op == "in":
            message = msg(
                "the list holds {re}, which can never equal {le}",
                re=_desc(re_, rt),
                le=_desc(le, lt),
            )
        else:
            message = msg(
                "cannot compare {le} with {re} using `{op}`",
                le=_desc(le, lt),
                re=_desc(re_, rt),
                op=op,
            )
        self._report("type-mismatch", message, at, _compare_help(lt, rt, ordered))

    def membership(self, e: ast.Binary) -> _Type:
        left = self.infer(e.left)
        if isinstance(e.right, ast.ListExpr):
            for item in e.right.items:
                self.compare("in", e.left, left, item, self.infer(item), item.span)
            return BOOL
        right = self.infer(e.right)
        if right.kind not in ("list", "unknown"):
            self._report(
                "type-mismatch",
                msg(
                    "`{op}` needs a list on its right, but {right} is not one",
                    op=e.op,
                    right=_desc(e.right, right),
                ),
                e.right.span,
                msg('write the values in brackets: `category in ["fee", "facility"]`'),
            )
        return BOOL

    def arithmetic(self, e: ast.Binary, left: _Type, right: _Type) -> _Type:
        if "unknown" in (left.kind, right.kind):
            return UNKNOWN
        result = _arith(e.op, left, right)
        if result is not None:
            return result
        working = left.working or right.working
        self._report(
            "type-mismatch",
            msg(
                "cannot use `{op}` on {left} and {right}",
                op=e.op,
                left=_desc(e.left, left),
                right=_desc(e.right, right),
            ),
            e.op_span,
            msg("working time can only be added to a date-time, e.g. `now + 2 working days`")
            if working
            else _ARITH_HELP.get(e.op, "check the operator and the values on both sides"),
        )
        return UNKNOWN

    # ------------------------------------------------------------ reporting
    def _report(self, code: str, message: str, span: Span, help: str) -> None:
        self.out.append(problem(code, message, span, help))


_ARITH_HELP = {
    "+": msg("`+` adds numbers, joins texts, or adds a duration to a date or date-time"),
    "-": msg(
        "`-` subtracts numbers, a duration from a date or date-time, or two "
        "date-times (giving a duration)"
    ),
    "*": msg("`*` multiplies numbers, or an elapsed duration by a whole number"),
    "/": msg("`/` divides numbers, or an elapsed duration by a whole number"),
}


def _arith(op: str, a: _Type, b: _Type) -> _Type | None:
    """The result type of `a op b`, or None when the operator does not apply."""
    kinds = (a.kind, b.kind)
    if a.kind in _NUMBERS and b.kind in _NUMBERS:
        return DECIMAL if op == "/" or "decimal" in kinds else INT
    if a.working or b.working:
        return DATETIME if op == "+" and "datetime" in kinds and "duration" in kinds else None
    if op == "+" and a.kind in _STRINGS and b.kind in _STRINGS:
        return TEXT
    return _ARITH_RESULTS.get((op, a.kind, b.kind))


_ARITH_RESULTS: dict[tuple[str, str, str], _Type] = {
    ("+", "datetime", "duration"): DATETIME,
    ("+", "duration", "datetime"): DATETIME,
    ("+", "date", "duration"): DATE,
    ("+", "duration", "date"): DATE,
    ("+", "duration", "duration"): DURATION,
    ("-", "datetime", "duration"): DATETIME,
    ("-", "date", "duration"): DATE,
    ("-", "datetime", "datetime"): DURATION,
    ("-", "date", "date"): DURATION,
    ("-", "duration", "duration"): DURATION,
    ("*", "duration", "int"): DURATION,
    ("*", "int", "duration"): DURATION,
    ("/", "duration", "int"): DURATION,
}


def _comparable(a: _Type, b: _Type, ordered: bool) -> bool:
    """Whether `a` and `b` can be compared (with `<`… when `ordered`, else with `==`)."""
    kinds = {a.kind, b.kind}
    if "unknown" in kinds:
        return True
    if "null" in kinds:
        return not ordered
    if kinds <= set(_NUMBERS) or kinds <= set(_MOMENTS):
        return True
    if ordered:
        return len(kinds) == 1 and a.kind in ("text", "duration")
    return kinds <= set(_STRINGS) or len(kinds) == 1


def _fits(target: _Type, value: _Type) -> bool:
    if target.kind == "duration" and value.working:
        return False
    if target.kind == value.kind:
        return True
    return (target.kind, value.kind) in {
        ("decimal", "int"),
        ("text", "choice"),
        ("choice", "text"),
    }


def _join(a: _Type, b: _Type) -> _Type | None:
    """The common type of two table results, or None when they do not mix."""
    if a.kind in ("unknown", "null"):
        return b
    if b.kind in ("unknown", "null") or a == b:
        return a
    kinds = {a.kind, b.kind}
    if kinds <= set(_NUMBERS):
        return DECIMAL
    if kinds <= set(_STRINGS):
        return TEXT
    if a.kind == b.kind:
        return _Type(a.kind)
    return None


def _constant(e: ast.Expr) -> bool:
    if isinstance(e, ast.Literal | ast.DurationLiteral):
        return True
    return (
        isinstance(e, ast.Unary)
        and e.op == "-"
        and isinstance(e.operand, ast.Literal)
        and e.operand.type in _NUMBERS
    )


def _show(e: ast.Expr) -> str | None:
    """How an expression was (roughly) written, for messages; None when it is too big."""
    if isinstance(e, ast.Ref):
        return e.name
    if isinstance(e, ast.DurationLiteral):
        return e.duration.text
    if isinstance(e, ast.Call):
        return f"{e.func.value}(…)"
    if not isinstance(e, ast.Literal):
        return None
    if e.type == "text":
        return f'"{e.value}"'
    if e.type == "null" or e.value is None:
        return "null"
    if isinstance(e.value, bool):
        return "true" if e.value else "false"
    if isinstance(e.value, date) and e.type == "datetime":
        return e.value.strftime("%Y-%m-%d %H:%M")
    return str(e.value)


def _desc(e: ast.Expr, t: _Type) -> str:
    """`major` (bool), `"fee"` (text), or just the type when the expression is too big."""
    shown = _show(e)
    return f"`{shown}` ({t})" if shown is not None else msg("this {t} value", t=t)


def _example(t: _Type) -> str:
    if t.kind == "choice" and t.choices:
        return f'`"{t.choices[0]}"`'
    examples = {
        "text": '`"…"`',
        "int": "`0`",
        "decimal": "`1.5`",
        "bool": "`true`",
        "date": "`2026-03-06`",
        "datetime": msg("`2026-03-06 16:30` or `now`"),
        "duration": "`24h`",
    }
    return examples.get(t.kind, "a plain value")


def _bool_help(e: ast.Expr, t: _Type) -> str:
    shown = _show(e) if isinstance(e, ast.Ref) else None
    if shown and t.kind in _NUMBERS:
        return msg("compare it, e.g. `{shown} > 0`", shown=shown)
    if shown and t.kind in _STRINGS:
        return msg('compare it, e.g. `{shown} == "…"`, or test `{shown} is set`', shown=shown)
    if shown and t.kind in _MOMENTS:
        return msg("compare it, e.g. `{shown} < now`", shown=shown)
    return msg("write a comparison like `x == y`, or a test like `x is set`")


def _compare_help(a: _Type, b: _Type, ordered: bool) -> str:
    kinds = {a.kind, b.kind}
    if ordered and "null" in kinds:
        return msg("an unset value has no order; test it with `is set` / `is not set`")
    if ordered and kinds & {"choice", "bool"}:
        return msg(
            "choices and true/false have no order; compare them with `==`, `!=` or `in [...]`"
        )
    return msg(
        "compare values of the same kind: numbers with numbers, texts with texts, dates with dates"
    )


# ================================================================ the state graph


def _graph_pass(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    """Final states are final, every state has a way out and on to a final state, …"""
    return [
        *_final_members(flow),
        *_dead_ends(flow, scope),
        *_no_path_to_final(flow, scope),
        *_unreachable(flow, scope),
        *_transition_order(flow),
        *_task_checks(flow),
    ]


def _final_members(flow: ast.Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for state in flow.states:
        if not state.final:
            continue
        for m in state.members:
            if isinstance(m, ast.Hook) and m.kind == "enter":
                continue
            word = _member_keyword(m)
            out.append(
                problem(
                    "final-state-member",
                    msg(
                        "final state `{state}` cannot have `{word}`: final states take no "
                        "transitions, timers or tasks (only `enter:`)",
                        state=state.name.value,
                        word=word,
                    ),
                    _keyword(m.span, word),
                    msg(
                        "move it to a non-final state, or make `{state}` a normal `state` if "
                        "cases go on from it",
                        state=state.name.value,
                    ),
                )
            )
    return out


def _dead_ends(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    return [
        problem(
            "dead-end-state",
            msg("state `{s}` is not final and has no way out", s=s.name.value),
            s.name.span,
            msg(
                "add a transition (`on EVENT -> STATE`), a timer (`after 24h -> "
                "STATE`) or make it `final`"
            ),
        )
        for s in flow.states
        if scope.is_first(s) and scope.dead_end(s)
    ]


def _no_path_to_final(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    """States from which no final state can be reached (dead ends and broken targets aside)."""
    if not any(s.final for s in flow.states):
        return []
    reverse: dict[str, set[str]] = {}
    for source, targets in scope.edges.items():
        for target in targets:
            reverse.setdefault(target, set()).add(source)
    settled = {
        s.name.value
        for s in scope.states.values()
        if s.final
        or scope.dead_end(s)
        or any(t.value not in scope.states for t, _ in scope.exits[s.name.value])
    }
    good = _reach(settled, reverse)
    return [
        problem(
            "no-path-to-final",
            msg(
                "no final state can be reached from state `{s}`: its cases go round without end",
                s=s.name.value,
            ),
            s.name.span,
            msg(
                "add a way from `{s}` (or a state it leads to) to a final state, e.g. "
                "`on close -> closed`",
                s=s.name.value,
            ),
        )
        for s in flow.states
        if scope.is_first(s) and s.name.value not in good
    ]


def _unreachable(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    initial = scope.initial
    if initial is None:
        return []
    reached = _reach([initial.name.value], scope.edges)
    return [
        problem(
            "unreachable-state",
            msg(
                "state `{s}` can never be reached from the first state `{initial}`",
                s=s.name.value,
                initial=initial.name.value,
            ),
            s.name.span,
            msg("add a transition to it (e.g. `on EVENT -> {s}`) or delete it", s=s.name.value),
        )
        for s in flow.states
        if scope.is_first(s) and s.name.value not in reached
    ]


def _transition_order(flow: ast.Flow) -> list[Diagnostic]:
    """An `on E` without `when` hides every later `on E` for the same roles."""
    out: list[Diagnostic] = []
    for state in flow.states:
        transitions = state.of(ast.Transition)
        for j, later in enumerate(transitions):
            for earlier in transitions[:j]:
                found = _hidden_by(earlier, later)
                if found is not None:
                    out.append(found)
                    break
    return out


def _hidden_by(earlier: ast.Transition, later: ast.Transition) -> Diagnostic | None:
    if earlier.event.value != later.event.value or earlier.guard is not None:
        return None
    event, line = later.event.value, earlier.span.line
    first, second = {r.value for r in earlier.roles}, {r.value for r in later.roles}
    if later.guard is None and (not first or not second or first & second):
        shared = sorted(first & second) if first and second else sorted(first or second)
        who = (
            msg("for {roles}", roles=Listing(f"`{r}`" for r in shared))
            if shared
            else msg("for any role")
        )
        never = msg("never taken") if _covers(first, second) else msg("never taken for them")
        return problem(
            "overlapping-transitions",
            msg(
                "`on {event}` is already handled {who} without `when` on line {line}, "
                "so this line is {never}",
                event=event,
                who=who,
                line=line,
                never=never,
            ),
            later.event.span,
            msg(
                "add a `when …` condition to tell them apart, give them different `by` "
                "roles, or delete one"
            ),
        )
    if later.guard is not None and _covers(first, second):
        return problem(
            "shadowed-transition",
            msg(
                "this `on {event}` is never taken: the `on {event}` on line {line} has "
                "no `when` and comes first",
                event=event,
                line=line,
            ),
            later.event.span,
            msg(
                "move this line above line {line}, or give line {line} a `when` condition",
                line=line,
            ),
        )
    return None


def _covers(first: set[str], second: set[str]) -> bool:
    """Whether roles `first` include all of `second` (an empty set is every role)."""
    return not first or (bool(second) and second <= first)


def _task_checks(flow: ast.Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for state in flow.states:
        tasks = state.of(ast.Task)
        events = {t.event.value: t for t in state.of(ast.Transition)}
        for auto in state.of(ast.Automatic):
            if auto.guard is None and not tasks:
                out.append(
                    problem(
                        "tasks-done-without-tasks",
                        msg(
                            "`when all tasks done` in state `{state}`, which has no tasks",
                            state=state.name.value,
                        ),
                        _keyword(auto.span, "when"),
                        msg(
                            "add `task NAME by ROLE` lines to the state, or use `when CONDITION -> "
                            "STATE`"
                        ),
                    )
                )
        for task in tasks:
            clash = events.get(task.name.value)
            if clash is not None:
                out.append(
                    problem(
                        "task-event-clash",
                        msg(
                            "task `{task}` can never be completed: `on {task}` on line {line} "
                            "takes its event first",
                            task=task.name.value,
                            line=clash.span.line,
                        ),
                        task.name.span,
                        msg(
                            "rename the task or the event (a task is completed by the event with "
                            "its name)"
                        ),
                    )
                )
    return out


# ================================================================ domain checks


def _domain_pass(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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
    for action in _flow_actions(flow):
        if isinstance(action, ast.Callback) and action.within is not None:
            yield action.within


def _durations(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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
                            _keyword(t.span, "every"),
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


_PARAM_NAMES = {"sla": "SLA", "moment": "DATE_TIME", "window": "DURATION"}
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


def _usage(flow: ast.Flow, scope: _Scope) -> tuple[set[str], set[str], set[str]]:
    """Fields read (expressions, placeholders, params), fields set, and tables called."""
    reads: set[str] = {k.value for k in flow.keys}  # a key relates cases: it is read
    tables: set[str] = set()
    for top, owner in _flow_exprs(flow, scope):
        for e in _walk(top):
            if isinstance(e, ast.Ref):
                reads.add(e.name)
            elif isinstance(e, ast.Call) and (owner is None or e.func.value != owner.name.value):
                tables.add(e.func.value)
    for action in scope.actions:
        for message in _action_texts(action):
            reads.update(_placeholder_names(message))
    for state in flow.states:
        for t in state.of(ast.Transition):
            reads.update(p.name.value for p in t.params)
            reads.update(r.value for r in t.roles)  # `by FIELD` reads the field
    sets = {a.field.value for a in scope.actions if isinstance(a, ast.Set)}
    return reads, sets, tables


def _unused(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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


def _sla_covered(flow: ast.Flow, scope: _Scope) -> set[str]:
    """States some SLA clock runs in: reachable from `from` before an `until`, not paused."""
    covered: set[str] = set()
    for sla in flow.slas:
        stop = [n.value for n in sla.until]
        running = _reach([sla.start.value], scope.edges, stop) & set(scope.states)
        covered |= running - {n.value for n in sla.pause}
    return covered


def _always_true(guard: ast.Expr | None) -> bool:
    return isinstance(guard, ast.Literal) and guard.value is True


def _unchased(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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
    return any(isinstance(a, ast.Escalate) for a in _flat(actions))


def _unbounded_escalation(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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
                        _keyword(t.span, "every"),
                        msg("{bound}, or notify instead of escalating", bound=bound),
                    )
                )
    return out + _escalation_loops(flow, scope)


def _escalation_loops(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    reported: set[str] = set()
    cycles = _cycles(scope.auto_edges)
    for s in flow.states:
        name = s.name.value
        if s.final or not scope.is_first(s) or name in reported:
            continue
        cycle = cycles.get(name)
        if cycle is None:
            continue
        loop = [x for x in scope.states if x in cycle]
        reported.update(loop)
        if not any(_escalates(_state_actions(scope.states[x])) for x in loop):
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


def _emitted_events(flow: ast.Flow, scope: _Scope) -> list[Diagnostic]:
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
            _hint(
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
