"""Checked AST to the engine's transition table (`engine.definition.FlowDefinition`).

Only called when the checker found no error, so names resolve and types fit; the compiler
just changes representation (and resolves which bare names in `notify`/`assign` are roles).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, cast

from dsl import ast
from engine import definition as d

_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_M = TypeVar("_M")


def compile_duration(duration: ast.Duration) -> d.Duration:
    """`30m` → 1800 elapsed seconds; `4 working hours` → 14400 open seconds; days stay days."""
    if duration.unit == "working_days":
        return d.Duration(unit="working_days", amount=int(duration.amount), text=duration.text)
    if duration.unit == "working_hours":
        seconds = int(duration.amount * 3600)
        return d.Duration(unit="working_seconds", amount=seconds, text=duration.text)
    seconds = int(duration.amount * _SECONDS[duration.unit])
    return d.Duration(unit="seconds", amount=seconds, text=duration.text)


class _Compiler:
    def __init__(self, flow: ast.Flow) -> None:
        self.flow = flow
        self.roles = {r.value for r in flow.roles}
        self.fields = {f.name.value for f in flow.fields}
        self.tables = {t.name.value for t in flow.tables}
        self.hooks: list[str] = []
        # The same literals, names and durations recur all over a flow, and the table's models
        # are frozen: each distinct leaf is built (and validated) once and shared.
        self.leaves: dict[tuple[object, ...], Any] = {}

    def leaf(self, key: tuple[object, ...], make: Callable[[], _M]) -> _M:
        """The model `make` builds, shared by every leaf with the same `key`."""
        found = self.leaves.get(key)
        if found is None:
            found = self.leaves[key] = make()
        return cast(_M, found)

    # ------------------------------------------------------------ expressions
    def literal(self, lit: ast.Literal) -> d.Lit:
        value = lit.value
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):  # date or datetime
            value = value.isoformat()
        assert value is None or isinstance(value, str | int | float | bool)
        key = ("lit", lit.type, type(value), value)  # the type keeps True apart from 1
        return self.leaf(key, lambda: d.Lit(type=lit.type, value=value))

    def duration(self, duration: ast.Duration) -> d.Duration:
        key = ("duration", duration.unit, duration.amount, duration.text)
        return self.leaf(key, lambda: compile_duration(duration))

    def expr(self, e: ast.Expr) -> d.Expr:
        if isinstance(e, ast.Literal):
            return self.literal(e)
        if isinstance(e, ast.DurationLiteral):
            duration = self.duration(e.duration)
            key = ("duration-lit", duration.unit, duration.amount, duration.text)
            return self.leaf(key, lambda: d.DurationLit(duration=duration))
        if isinstance(e, ast.Ref):
            name = e.name
            return self.leaf(("var", name), lambda: d.Var(name=name))
        if isinstance(e, ast.Call) and e.func.value not in self.tables:
            return d.FuncCall(func=e.func.value, args=tuple(self.expr(a) for a in e.args))
        if isinstance(e, ast.Call):
            return d.TableCall(table=e.func.value, args=tuple(self.expr(a) for a in e.args))
        if isinstance(e, ast.Unary):
            arg = self.expr(e.operand)
            return d.Not(arg=arg) if e.op == "not" else d.Neg(arg=arg)
        if isinstance(e, ast.Binary):
            return d.BinOp(op=e.op, left=self.expr(e.left), right=self.expr(e.right))
        if isinstance(e, ast.ListExpr):
            return d.ListOf(items=tuple(self.expr(i) for i in e.items))
        return d.IsSet(op="is not set" if e.negated else "is set", arg=self.expr(e.operand))

    def who(self, e: ast.Expr) -> d.Expr:
        """A notify/assign target: a declared role is a constant; a field or call is evaluated."""
        if isinstance(e, ast.Ref) and e.name in self.roles and e.name not in self.fields:
            name = e.name
            return self.leaf(("lit", "text", str, name), lambda: d.Lit(type="text", value=name))
        return self.expr(e)

    # ------------------------------------------------------------ actions
    def action(self, a: ast.Action) -> d.Action:
        line = a.span.line
        if isinstance(a, ast.Set):
            return d.SetField(field=a.field.value, value=self.expr(a.value), line=line)
        if isinstance(a, ast.Notify):
            targets = tuple(self.who(t) for t in a.targets)
            return d.Notify(targets=targets, message=a.message.value, line=line)
        if isinstance(a, ast.Assign):
            return d.Assign(target=self.who(a.target), line=line)
        if isinstance(a, ast.Escalate):
            reason = a.reason.value if a.reason else None
            return d.Escalate(role=a.role.value, reason=reason, line=line)
        if isinstance(a, ast.Callback):
            within = self.duration(a.within) if a.within else None
            return d.OpenCallback(label=a.label.value, role=a.role.value, within=within, line=line)
        if isinstance(a, ast.Record):
            return d.Record(text=a.text.value, line=line)
        if isinstance(a, ast.Emit):
            return d.Emit(event=a.event.value, line=line)
        if isinstance(a, ast.If):
            return d.IfAction(condition=self.expr(a.condition), then=self.actions(a.then),
                              otherwise=self.actions(a.otherwise), line=line)  # fmt: skip
        if a.name.value not in self.hooks:
            self.hooks.append(a.name.value)
        args = tuple(self.expr(x) for x in a.args)
        return d.CallHook(hook=a.name.value, args=args, line=line)

    def actions(self, actions: tuple[ast.Action, ...]) -> tuple[d.Action, ...]:
        return tuple(self.action(a) for a in actions)

    # ------------------------------------------------------------ states
    def transition(self, t: ast.Transition) -> d.TransitionDef:
        return d.TransitionDef(
            event=t.event.value,
            params=tuple(self.param(p) for p in t.params),
            guard=self.expr(t.guard) if t.guard is not None else None,
            target=t.target.value if t.target else None,
            roles=tuple(r.value for r in t.roles if not self._holder(r.value)),
            actions=self.actions(t.actions),
            holders=tuple(r.value for r in t.roles if self._holder(r.value)),
            line=t.span.line,
        )

    def _holder(self, name: str) -> bool:
        """`by NAME` names a field holding a role or a person when NAME is a field, not a role."""
        return name in self.fields and name not in self.roles

    def param(self, p: ast.Param) -> d.Param:
        name, optional = p.name.value, p.optional
        return self.leaf(("param", name, optional), lambda: d.Param(name=name, optional=optional))

    def wall(self, w: ast.WallClock) -> d.WallRule:
        key = ("wall", w.rule, w.weekday, w.month_day, w.hour, w.minute, w.shift, w.quarterly)
        return self.leaf(key, lambda: d.WallRule(
            rule=w.rule, weekday=w.weekday, month_day=w.month_day, hour=w.hour, minute=w.minute,
            shift=w.shift, quarterly=w.quarterly,
        ))  # fmt: skip

    def timer(self, state: str, index: int, t: ast.Timer) -> d.TimerDef:
        wall = None
        if t.wall is not None:
            w = t.wall
            wall = self.wall(w)
        return d.TimerDef(
            id=f"{state}#{index}",
            kind=t.kind,
            duration=self.duration(t.duration) if t.duration else None,
            max_times=t.max_times,
            wall=wall,
            at=self.expr(t.at) if t.at is not None else None,
            target=t.target.value if t.target else None,
            actions=self.actions(t.actions),
            line=t.span.line,
        )

    def state(self, s: ast.State) -> d.StateDef:
        name = s.name.value
        hooks = s.of(ast.Hook)
        return d.StateDef(
            name=name,
            label=s.label.value if s.label else None,
            final=s.final,
            enter=tuple(x for h in hooks if h.kind == "enter" for x in self.actions(h.actions)),
            exit=tuple(x for h in hooks if h.kind == "exit" for x in self.actions(h.actions)),
            transitions=tuple(self.transition(t) for t in s.of(ast.Transition)),
            automatic=tuple(
                d.AutomaticDef(
                    guard=self.expr(a.guard) if a.guard is not None else None,
                    all_tasks_done=a.guard is None,
                    target=a.target.value,
                    line=a.span.line,
                )
                for a in s.of(ast.Automatic)
            ),
            timers=tuple(self.timer(name, i, t) for i, t in enumerate(s.of(ast.Timer), 1)),
            tasks=tuple(
                d.TaskDef(
                    name=t.name.value,
                    label=t.label.value if t.label else None,
                    roles=tuple(r.value for r in t.roles),
                    within=self.duration(t.within) if t.within else None,
                    overdue=self.actions(t.overdue),
                    after_task=t.after.value if t.after else None,
                    line=t.span.line,
                )
                for t in s.of(ast.Task)
            ),
            line=s.name.span.line,
        )

    # ------------------------------------------------------------ flow-level
    def field(self, f: ast.Field) -> d.FieldDef:
        default = _constant(f.default) if f.default is not None else None
        return d.FieldDef(
            name=f.name.value,
            type=f.type.value,
            choices=tuple(c.value for c in f.choices),
            optional=f.optional,
            default=default,
            has_default=f.default is not None,
            label=f.label.value if f.label else None,
        )

    def sla(self, s: ast.Sla) -> d.SlaDef:
        return d.SlaDef(
            name=s.name.value,
            label=s.label.value if s.label else None,
            within=self.duration(s.within),
            start=s.start.value,
            stop=tuple(n.value for n in s.until),
            pause=tuple(n.value for n in s.pause),
            warnings=tuple(
                d.SlaWarningDef(
                    percent=float(w.percent) if w.percent is not None else None,
                    before=self.duration(w.before) if w.before else None,
                    actions=self.actions(w.actions),
                    line=w.span.line,
                )
                for w in s.warnings
            ),
            breach=self.actions(s.breach),
            line=s.name.span.line,
        )

    def table(self, t: ast.Table) -> d.TableDef:
        rows = tuple(
            d.TableRowDef(
                patterns=tuple(
                    None if p.wildcard else tuple(self.literal(lit) for lit in p.alternatives)
                    for p in row.patterns
                ),
                result=self.expr(row.result),
                is_else=row.is_else,
                line=row.span.line,
            )
            for row in t.rows
        )
        return d.TableDef(
            name=t.name.value,
            params=tuple(p.value for p in t.params),
            label=t.label.value if t.label else None,
            rows=rows,
            line=t.name.span.line,
        )

    def flow_definition(self) -> d.FlowDefinition:
        header = self.flow.header("flow")
        version = self.flow.header("version")
        calendar = self.flow.header("calendar")
        states = tuple(self.state(s) for s in self.flow.states)
        slas = tuple(self.sla(s) for s in self.flow.slas)
        definition = d.FlowDefinition(
            name=header.name.value if header and header.name else "flow",
            label=header.label.value if header and header.label else None,
            version=version.number if version and version.number is not None else 1,
            calendar=calendar.name.value if calendar and calendar.name else "always",
            roles=tuple(r.value for r in self.flow.roles),
            fields=tuple(self.field(f) for f in self.flow.fields),
            states=states,
            slas=slas,
            tables=tuple(self.table(t) for t in self.flow.tables),
            hooks=tuple(self.hooks),
            openers=tuple(dict.fromkeys(r.value for r in self.flow.openers)),
            schedules=tuple(self.schedule(x) for x in self.flow.schedules),
            keys=tuple(dict.fromkeys(k.value for k in self.flow.keys)),
        )
        return definition.with_hash()

    def schedule(self, x: ast.Schedule) -> d.ScheduleDef:
        return d.ScheduleDef(
            name=x.name.value,
            label=x.label.value if x.label else None,
            wall=self.wall(x.wall),
            opens=x.opens,
            summary_to=tuple(r.value for r in x.summary_to),
            summary_title=x.summary_title.value if x.summary_title else None,
            catch_up=x.catch_up,  # the transformer checked it
            line=x.span.line,
        )


def _constant(e: ast.Expr) -> d.JsonScalar:
    """A field default's value (the checker allows literals, negated numbers, durations)."""
    if isinstance(e, ast.Unary) and e.op == "-":
        value = _constant(e.operand)
        return -value if isinstance(value, int | float) else f"-{value}"
    if isinstance(e, ast.DurationLiteral):
        return compile_duration(e.duration).amount  # seconds; working units are elapsed here
    if isinstance(e, ast.Literal):
        literal = e.value
        if isinstance(literal, Decimal):
            return str(literal)
        if isinstance(literal, date):
            return literal.isoformat()
        if literal is None or isinstance(literal, str | int | float | bool):
            return literal
    return None


def compile_flow(flow: ast.Flow) -> d.FlowDefinition:
    """The transition table of a flow that passed `dsl.checks.check` without errors."""
    return _Compiler(flow).flow_definition()
