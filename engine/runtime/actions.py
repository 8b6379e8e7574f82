"""Actions: each `set`, `notify`, `escalate`, `assign`, `callback`, `emit` line, compiled
once into a closure that a step runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import definition as d
from engine.errors import (
    FlowRuntimeError,
    InvalidData,
)
from engine.expressions import (
    Evaluator,
    Scope,
    add_duration,
    format_value,
)
from engine.i18n import msg
from engine.runtime.context import _Ctx
from engine.runtime.plans import (
    Parts,
)


class Actions(Parts):
    """The actions of a flow, compiled."""

    def _set_field(self, ctx: _Ctx, name: str, value: Any, line: int) -> None:
        try:
            value = self.schema.validate_one(name, value)
        except InvalidData as exc:
            raise FlowRuntimeError(
                msg("`set {name}`: {problems}", name=name, problems=exc.problems[name]), line
            ) from None
        ctx.put(ctx.case.fields, name, value)

    def _role_of(self, value: Any, what: str, line: int) -> str:
        role = format_value(value)
        if role not in self.roles:
            shown = role or msg("(not set)")
            raise FlowRuntimeError(
                msg(
                    "{what}: `{shown}` is not a role of this flow ({roles})",
                    what=what,
                    shown=shown,
                    roles=", ".join(sorted(self.roles)),
                ),
                line,
            )
        return role

    def _target(self, target: d.Expr, line: int) -> str | Evaluator:
        """A `notify` target: the role itself when it is a literal role (the usual kind,
        checked once here), else its expression, checked when it is evaluated."""
        if isinstance(target, d.Lit):
            role = format_value(self._exprs.literal(target))
            if role in self.roles:
                return role
        return self._exprs.compile(target, line)

    def _notify(self, ctx: _Ctx, targets: list[str | Evaluator],
                message: Callable[[Scope], str], line: int) -> None:  # fmt: skip
        text = message(ctx)
        for target in targets:
            role = target if isinstance(target, str) else self._role_of(target(ctx), "notify", line)
            self._send(ctx, role, text, "notify")

    def _send(self, ctx: _Ctx, role: str, text: str, kind: str) -> None:
        # a Notification; its id names the `notify` record written next: stable everywhere
        seq = ctx.audit_mark + len(ctx.new_rows) + 1
        case_id = ctx.case.id
        ctx.notifications += ((case_id, role, text, ctx.now, kind, f"{case_id}#{seq}"),)
        ctx.case.notified += (role,)
        ctx.system("notify", f"{role}: {text}")

    def _assign(self, ctx: _Ctx, value: Any, line: int) -> None:
        assignee = format_value(value)
        if not assignee:
            raise FlowRuntimeError(msg("`assign to`: the value is not set"), line)
        ctx.case.assignee = assignee
        ctx.system("assign", assignee)

    def _escalate(self, ctx: _Ctx, role: str, reason: str | None) -> None:
        level = ctx.case.escalation_level + 1
        ctx.case.escalation_level = level
        ctx.case.escalation_rows += ((level, role, reason, ctx.now),)  # an Escalation, as a row
        ctx.record("escalate", f"level {level} → {role}" + (f": {reason}" if reason else ""),
                   actor=False)  # fmt: skip
        self._send(ctx, role, reason or f"{self.definition.label or self.definition.name} "
                   f"{ctx.case.id} 已升级", "escalation")  # fmt: skip

    def _open_callback(self, ctx: _Ctx, label: str, a: d.OpenCallback) -> None:
        due = add_duration(self.calendar, ctx.now, a.within) if a.within else None
        ctx.case.callback_rows += ((label, a.role, ctx.now, due, None),)  # a Callback, as a row
        ctx.system("callback", f"opened: {label} → {a.role}")
