"""The symbol table of one flow (names declared once, the state graph), built per check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from dsl import ast
from dsl.checks.types import FIELD_TYPES, UNKNOWN, Type
from dsl.checks.walk import flow_actions

_T = TypeVar("_T")


@dataclass(frozen=True)
class Scope:
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
    actions: tuple[ast.Action, ...]  # every action of the flow (`flow_actions`), read by passes
    exits: dict[str, list[tuple[ast.Name, bool]]]  # `_exits` of each first-declared state

    @staticmethod
    def build(flow: ast.Flow) -> Scope:
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
        return Scope(
            flow=flow,
            roles=_first_by_name((r, r) for r in flow.roles),
            fields=_first_by_name((f.name, f) for f in flow.fields),
            states=states,
            tables=_first_by_name((t.name, t) for t in flow.tables),
            slas=_first_by_name((s.name, s) for s in flow.slas),
            calendar=calendar.name.value if calendar and calendar.name else "always",
            edges=edges,
            auto_edges=auto_edges,
            actions=tuple(flow_actions(flow)),
            exits=all_exits,
        )

    @property
    def initial(self) -> ast.State | None:
        return self.flow.states[0] if self.flow.states else None

    def is_first(self, state: ast.State) -> bool:
        """False for a repeated declaration of a state name (reported as a duplicate)."""
        return self.states.get(state.name.value) is state

    def field_type(self, name: str) -> Type | None:
        """The declared type of a field, UNKNOWN if its type is wrong, None if no such field."""
        f = self.fields.get(name)
        if f is None:
            return None
        kind = f.type.value
        if kind == "choice":
            values = tuple(c.value for c in f.choices)
            return Type("choice", values, name) if values else UNKNOWN
        return Type(kind) if kind in FIELD_TYPES else UNKNOWN

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


def reach_from(
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


def cycles_of(edges: Mapping[str, set[str]]) -> dict[str, frozenset[str]]:
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
