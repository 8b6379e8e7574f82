"""The state graph: dead ends, states that cannot finish or be reached, overlapping
transitions, what final states and tasks may hold."""

from __future__ import annotations

from dsl import ast
from dsl.checks.scope import Scope, reach_from
from dsl.checks.walk import keyword_span, member_keyword
from dsl.diagnostics import Diagnostic, problem
from engine.i18n import Listing, msg

# ================================================================ the state graph


def graph_pass(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
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
            word = member_keyword(m)
            out.append(
                problem(
                    "final-state-member",
                    msg(
                        "final state `{state}` cannot have `{word}`: final states take no "
                        "transitions, timers or tasks (only `enter:`)",
                        state=state.name.value,
                        word=word,
                    ),
                    keyword_span(m.span, word),
                    msg(
                        "move it to a non-final state, or make `{state}` a normal `state` if "
                        "cases go on from it",
                        state=state.name.value,
                    ),
                )
            )
    return out


def _dead_ends(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
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


def _no_path_to_final(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
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
    good = reach_from(settled, reverse)
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


def _unreachable(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
    initial = scope.initial
    if initial is None:
        return []
    reached = reach_from([initial.name.value], scope.edges)
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
                        keyword_span(auto.span, "when"),
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
