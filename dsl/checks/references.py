"""Names used outside expressions (states, roles, fields, parameters, tasks) are declared."""

from __future__ import annotations

import re

from dsl import ast
from dsl.checks.scope import Scope
from dsl.checks.types import BUILTINS, STRINGS, UNKNOWN
from dsl.checks.walk import (
    action_texts,
    hint_or,
    listed,
    placeholder_names,
    placeholders_of,
    with_article,
)
from dsl.diagnostics import Diagnostic, problem
from dsl.source import Span
from engine.i18n import msg

_IDENTIFIER = re.compile(r"[^\W\d]\w*")

# ================================================================ references outside expressions


def reference_pass(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
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


def _member_references(m: ast.StateMember, scope: Scope) -> list[Diagnostic]:
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
                        hint_or(
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
                hint_or(
                    t.after.value,
                    others,
                    msg("name one of {others}", others=listed(others))
                    if others
                    else msg("declare the task it waits for in the same state"),
                ),
            )
        )
    return out


def _state_ref(n: ast.Name, scope: Scope) -> list[Diagnostic]:
    if n.value in scope.states:
        return []
    return [
        problem(
            "unknown-state",
            msg("unknown state `{n}`", n=n.value),
            n.span,
            hint_or(
                n.value,
                scope.states,
                msg(
                    "declare it with `state {n}:` or `final {n}`, or use one of {states}",
                    n=n.value,
                    states=listed(scope.states),
                ),
            ),
        )
    ]


def _holder_ref(n: ast.Name, scope: Scope) -> list[Diagnostic]:
    """`by FIELD`: the field must hold a text (a role's or a person's name)."""
    field = scope.fields[n.value]
    if n.value in scope.roles or field.type.value in STRINGS:
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


def _role_ref(n: ast.Name, scope: Scope) -> list[Diagnostic]:
    if n.value in scope.roles:
        return []
    return [
        problem(
            "unknown-role",
            msg("unknown role `{n}`", n=n.value),
            n.span,
            hint_or(
                n.value,
                scope.roles,
                msg(
                    "add `{n}` to the `roles:` line (roles so far: {roles})",
                    n=n.value,
                    roles=listed(scope.roles),
                ),
            ),
        )
    ]


def _action_references(action: ast.Action, scope: Scope) -> list[Diagnostic]:
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
    for message in action_texts(action):
        if all(n in scope.fields or n in BUILTINS for n in placeholder_names(message)):
            continue  # (placing each placeholder in the file is the costly part)
        for name, span in placeholders_of(message):
            if name not in scope.fields and name not in BUILTINS:
                out.append(_unknown_placeholder(name, span, scope))
    return out


def _unknown_field(name: str, span: Span, scope: Scope) -> Diagnostic:
    return problem(
        "unknown-field",
        msg("unknown field `{name}`", name=name),
        span,
        hint_or(
            name, scope.fields, msg("declare it under `fields:` (e.g. `{name}: text?`)", name=name)
        ),
    )


def _unknown_placeholder(name: str, span: Span, scope: Scope) -> Diagnostic:
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
        hint_or(
            name,
            [*scope.fields, *BUILTINS],
            msg(
                "a placeholder names a field, `id`, `state` or `now`; declare the "
                "field under `fields:` or fix the name"
            ),
        ),
    )


def _who_ref(target: ast.Ref, scope: Scope) -> list[Diagnostic]:
    """A bare `notify`/`assign to` target: a role, or a text/choice field holding one."""
    name = target.name
    field_type = scope.field_type(name)
    if name in scope.roles or (field_type is not None and field_type.kind in (*STRINGS, "unknown")):
        return []
    if field_type is not None:
        return [
            problem(
                "type-mismatch",
                msg(
                    "`{name}` is {field_type} field, so it cannot name whom to notify or assign",
                    name=name,
                    field_type=with_article(field_type),
                ),
                target.span,
                msg("use a role, or a text or choice field that holds a role's name"),
            )
        ]
    text_fields = [n for n in scope.fields if (scope.field_type(n) or UNKNOWN).kind in STRINGS]
    return [
        problem(
            "unknown-role",
            msg("unknown role `{name}`: it is neither a role nor a field", name=name),
            target.span,
            hint_or(
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
