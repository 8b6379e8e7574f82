"""Where each name of a flow is declared and used: states, fields, roles, tables, SLAs.

Built from the AST of the last text that parsed (pure: no editor, no protocol), it answers
what the language server asks — the symbol under the cursor, its declaration, its uses,
what to say about it on hover, and the names to offer in completion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from dsl import ast
from dsl.checks.walk import placeholders_of
from dsl.source import Span
from engine.functions import FUNCTIONS
from engine.i18n import Listing, msg

KINDS = ("state", "field", "role", "table", "sla", "task", "schedule")

# (AST class, attribute) → the kind of name found there, and whether it declares it
_PLACES: dict[tuple[type, str], tuple[str, bool]] = {
    (ast.State, "name"): ("state", True),
    (ast.Transition, "target"): ("state", False),
    (ast.Automatic, "target"): ("state", False),
    (ast.Timer, "target"): ("state", False),
    (ast.Sla, "start"): ("state", False),
    (ast.Sla, "until"): ("state", False),
    (ast.Sla, "pause"): ("state", False),
    (ast.Field, "name"): ("field", True),
    (ast.Set, "field"): ("field", False),
    (ast.Param, "name"): ("field", False),
    (ast.Flow, "keys"): ("field", False),
    (ast.Flow, "roles"): ("role", True),
    (ast.Flow, "openers"): ("role", False),
    (ast.Transition, "roles"): ("role", False),
    (ast.Task, "roles"): ("role", False),
    (ast.Escalate, "role"): ("role", False),
    (ast.Callback, "role"): ("role", False),
    (ast.Schedule, "summary_to"): ("role", False),
    (ast.Table, "name"): ("table", True),
    (ast.Call, "func"): ("table", False),
    (ast.Sla, "name"): ("sla", True),
    (ast.Task, "name"): ("task", True),
    (ast.Task, "after"): ("task", False),
    (ast.Schedule, "name"): ("schedule", True),
}


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One place a name stands: its kind, the name, where, and whether it declares it."""

    kind: str
    name: str
    span: Span
    declares: bool


@dataclass
class Symbols:
    """The names of one flow and every place they stand."""

    flow: ast.Flow
    occurrences: list[Occurrence] = field(default_factory=list)

    @classmethod
    def of(cls, flow: ast.Flow) -> Symbols:
        found = cls(flow)
        every = list(_walk(flow))
        declared = {(o.kind, o.name) for o in every if o.declares}
        resolved = (_resolve(o, declared) for o in every)
        found.occurrences = [o for o in resolved if o is not None]
        return found

    def at(self, line: int, column: int) -> Occurrence | None:
        """The name covering a 1-based position, if any."""
        for o in self.occurrences:
            s = o.span
            if s.line == line and s.column <= column <= s.end_column:
                return o
        return None

    def declaration(self, kind: str, name: str) -> Occurrence | None:
        return next(
            (o for o in self.occurrences if o.declares and (o.kind, o.name) == (kind, name)), None
        )

    def uses(self, kind: str, name: str) -> list[Occurrence]:
        """Every place of the name, its declaration first."""
        found = [o for o in self.occurrences if (o.kind, o.name) == (kind, name)]
        return sorted(found, key=lambda o: (not o.declares, o.span.line, o.span.column))

    def names(self, kind: str) -> list[str]:
        """The declared names of a kind, in the order of the file."""
        seen: dict[str, None] = {}
        for o in self.occurrences:
            if o.declares and o.kind == kind:
                seen.setdefault(o.name, None)
        return list(seen)

    def describe(self, o: Occurrence) -> str:
        """What hover says about a name (a `Text`: the reader's language at the edge)."""
        flow = self.flow
        if o.kind == "state":
            state = next((s for s in flow.states if s.name.value == o.name), None)
            return _describe_state(flow, state) if state else o.name
        if o.kind == "field":
            f = next((f for f in flow.fields if f.name.value == o.name), None)
            if f is None:
                return o.name
            kind = f.type.value + "?" * f.optional
            if f.choices:
                kind = f"choice({', '.join(c.value for c in f.choices)})" + "?" * f.optional
            label = f" “{f.label.value}”" if f.label else ""
            return msg("field `{name}`{label}: {type}", name=o.name, label=label, type=kind)
        if o.kind == "role":
            events = sorted({t.event.value for s in flow.states for t in s.of(ast.Transition)
                             if o.name in {r.value for r in t.roles}})  # fmt: skip
            return msg(
                "role `{name}`; may fire: {events}",
                name=o.name,
                events=Listing(f"`{e}`" for e in events) if events else msg("none"),
            )
        if o.kind == "sla":
            sla = next((s for s in flow.slas if s.name.value == o.name), None)
            if sla is None:
                return o.name
            until = Listing(f"`{u.value}`" for u in sla.until)
            return msg(
                "SLA `{name}`: within {within} from `{start}` until {until}",
                name=o.name,
                within=sla.within.text,
                start=sla.start.value,
                until=until,
            )
        if o.kind == "table":
            table = next((t for t in flow.tables if t.name.value == o.name), None)
            if table is None and o.name in FUNCTIONS:
                return f"`{o.name}`: {FUNCTIONS[o.name].summary}"
            inputs = ", ".join(p.value for p in table.params) if table else ""
            return msg("decision table `{name}({inputs})`", name=o.name, inputs=inputs)
        return f"{o.kind} `{o.name}`"


def _describe_state(flow: ast.Flow, state: ast.State) -> str:
    label = f" “{state.label.value}”" if state.label else ""
    events = list(dict.fromkeys(t.event.value for t in state.of(ast.Transition)))
    timers = [t for t in state.of(ast.Timer)]
    covering = [s.name.value for s in flow.slas
                if s.start.value == state.name.value
                or state.name.value in {p.value for p in s.pause}]  # fmt: skip
    kind = msg("final state") if state.final else msg("state")
    return msg(
        "{kind} `{name}`{label}; events: {events}; timers: {timers}; SLAs from or paused "
        "here: {slas}", kind=kind, name=state.name.value, label=label,
        events=Listing(f"`{e}`" for e in events) if events else msg("none"),
        timers=len(timers), slas=Listing(f"`{s}`" for s in covering) if covering else msg("none"),
    )  # fmt: skip


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _walk(node: object) -> Iterator[Occurrence]:
    """Every name in the AST below `node`, with the kind its place gives it."""
    if isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
        return
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return
    if isinstance(node, ast.Ref):
        yield Occurrence("ref", node.name, node.span, False)
        return
    if isinstance(node, ast.Text):  # `{field}` placeholders, where they can be pointed at
        for name, span in placeholders_of(node):
            if span.line == span.end_line and span.end_column - span.column == len(name):
                yield Occurrence("ref", name, span, False)
        return
    for name in _field_names(type(node)):
        value = getattr(node, name)
        place = _PLACES.get((type(node), name))
        if place is not None:
            for n in value if isinstance(value, tuple) else (value,):
                if isinstance(n, ast.Name):
                    yield Occurrence(place[0], n.value, n.span, place[1])
        elif not isinstance(value, Span):
            yield from _walk(value)


def _resolve(o: Occurrence, declared: set[tuple[str, str]]) -> Occurrence | None:
    """A bare reference in an expression or a placeholder (`category`, `客服`, `reply`) as
    the kind declared under its name — a field first, then a role, an SLA, a state — or
    None when nothing declares it (`now`, `id`, a typo the checker reports)."""
    if o.kind != "ref":
        return o
    for kind in ("field", "role", "sla", "state", "table"):
        if (kind, o.name) in declared:
            return dataclasses.replace(o, kind=kind)
    return None
