"""Type inference over every expression of a flow; misfits reported where a value is used."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dsl import ast
from dsl.checks.domain import PARAM_NAMES
from dsl.checks.scope import Scope
from dsl.checks.types import (
    ARITH_HELP,
    BOOL,
    BUILTINS,
    LIST,
    MOMENTS,
    NUMBERS,
    STRINGS,
    UNKNOWN,
    Type,
    arith_type,
    bool_help,
    can_compare,
    compare_help,
    described,
    example_of,
    fits_into,
    is_constant,
    join_types,
    shown_as,
)
from dsl.checks.walk import counted, hint_or, keyword_span, with_article
from dsl.diagnostics import Diagnostic, problem
from dsl.source import Span
from engine.functions import FUNCTIONS, Function
from engine.i18n import Listing, msg, msgn

# ================================================================ types


def type_pass(flow: ast.Flow, scope: Scope) -> list[Diagnostic]:
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

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.out: list[Diagnostic] = []
        self._tables: dict[str, Type] = {}
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
                    e=described(e, t),
                ),
                e.span,
                bool_help(e, t),
            )

    def moment(self, e: ast.Expr) -> None:
        t = self.infer(e)
        if t.kind not in (*MOMENTS, "unknown"):
            self._report(
                "type-mismatch",
                msg("`at` needs a date-time, but {e} is not one", e=described(e, t)),
                e.span,
                msg("use a datetime field, maybe shifted: `at appointment - 10m`"),
            )

    def who_call(self, e: ast.Expr, line: int) -> None:
        """A table call as a notify/assign target: it must give text, ideally role names."""
        t = self.infer(e)
        if t.kind not in (*STRINGS, "unknown"):
            self._report(
                "type-mismatch",
                msg("{e} cannot name whom to notify or assign", e=described(e, t)),
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
                        hint_or(
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
        if not is_constant(f.default):
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

    def fit(self, f: ast.Field, e: ast.Expr, value: Type, verb: str) -> None:
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
        if fits_into(target, value):
            return
        self._report(
            "type-mismatch",
            msg(
                "`{name}` is {target} field, but {e} is not {target}",
                name=name,
                target=with_article(target),
                e=described(e, value),
            ),
            e.span,
            msg(
                "give `{name}` a {target} value, like {target2}",
                name=name,
                target=target,
                target2=example_of(target),
            ),
        )

    def choice_value(self, choice: Type, lit: ast.Literal) -> None:
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
                hint_or(
                    f'"{lit.value}"', quoted, msg("compare `state` with one of the state names")
                ),
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
            hint_or(f'"{lit.value}"', quoted, msg("use one of {quoted}", quoted=Listing(quoted))),
        )

    # ------------------------------------------------------------ inference
    def infer(self, e: ast.Expr) -> Type:
        """The type of an expression; UNKNOWN after a reported error (no cascades)."""
        if isinstance(e, ast.Literal):
            return Type(e.type)
        if isinstance(e, ast.DurationLiteral):
            return Type("duration", working=e.duration.working)
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

    def ref(self, e: ast.Ref) -> Type:
        if e.name == "state" and self.scope.states:
            return Type("choice", tuple(self.scope.states), "state")  # checks "state names"
        if e.name in BUILTINS:
            return BUILTINS[e.name]
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
        return hint_or(
            name,
            [*scope.fields, *BUILTINS],
            msg("declare it under `fields:` (e.g. `{name}: text?`)", name=name),
        )

    def call(self, e: ast.Call) -> Type:
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
                hint_or(
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
                    params=counted(len(table.params), "input"),
                    inputs=inputs,
                ),
                e.func.span,
                msg("call it as `{name}({inputs})`", name=name, inputs=inputs),
            )
        else:
            self.patterns(table, e.args, args)
        return self.table_type(name, e.func.span)

    def function(self, fn: Function, e: ast.Call) -> Type:
        """A built-in's call: its arity, an SLA's name or a moment for each argument."""
        usage = f"{fn.name}({', '.join(PARAM_NAMES[p] for p in fn.params)})"
        if len(e.args) != len(fn.params):
            self._report(
                "wrong-arity",
                msgn(
                    "`{fn}` takes {params}, but {count} is given",
                    "`{fn}` takes {params}, but {count} are given",
                    len(e.args),
                    fn=fn.name,
                    params=counted(len(fn.params), "argument"),
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
                            arg=described(arg, t),
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
                        hint_or(
                            shown_as(arg) or "",
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
            if t.kind not in (*MOMENTS, "null", "unknown"):
                self._report(
                    "type-mismatch",
                    msg(
                        "`{fn}` takes a date or date-time, but {arg} is given",
                        fn=fn.name,
                        arg=described(arg, t),
                    ),
                    arg.span,
                    msg("call it as `{usage}`, e.g. `{fn}(now)`", usage=usage, fn=fn.name),
                )
        if fn.result == "choice":
            return Type("choice", fn.choices, fn.name)
        return Type(fn.result)

    def table_type(self, name: str, call: Span | None) -> Type:
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

    def _rows_type(self, table: ast.Table) -> Type:
        common: Type | None = None
        for row in table.rows:
            t = self.infer(row.result)
            joined = t if common is None else join_types(common, t)
            if joined is None and common is not None:
                self._report(
                    "type-mismatch",
                    msg(
                        "this row gives {result}, but the rows above give {common}",
                        result=described(row.result, t),
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

    def patterns(self, table: ast.Table, args: Sequence[ast.Expr], types: list[Type]) -> None:
        """Row patterns must be able to match the call's inputs (choice values checked)."""
        for row in table.rows:
            if len(row.patterns) != len(types):
                continue
            for pattern, arg, t in zip(row.patterns, args, types, strict=True):
                for lit in pattern.alternatives:
                    self._pattern(lit, arg, t)

    def _pattern(self, lit: ast.Literal, arg: ast.Expr, t: Type) -> None:
        if t.kind == "choice" and lit.type == "text":
            self.choice_value(t, lit)
        elif not can_compare(t, Type(lit.type), ordered=False):
            self._report(
                "type-mismatch",
                msg(
                    "the pattern {lit} can never match the input {arg}",
                    lit=described(lit, Type(lit.type)),
                    arg=described(arg, t),
                ),
                lit.span,
                msg("write patterns of the input's type, like {t}", t=example_of(t)),
            )

    def unary(self, e: ast.Unary) -> Type:
        t = self.infer(e.operand)
        if t.kind == "unknown":
            return BOOL if e.op == "not" else UNKNOWN
        if e.op == "not":
            if t.kind != "bool":
                self._report(
                    "type-mismatch",
                    msg(
                        "`not` needs true or false, but {operand} is not",
                        operand=described(e.operand, t),
                    ),
                    e.operand.span,
                    bool_help(e.operand, t),
                )
            return BOOL
        if t.kind in NUMBERS or (t.kind == "duration" and not t.working):
            return t
        self._report(
            "type-mismatch",
            msg("cannot use `-` on {operand}", operand=described(e.operand, t)),
            keyword_span(e.span, "-"),
            msg("`-` in front of a value negates a number or an elapsed duration"),
        )
        return UNKNOWN

    def binary(self, e: ast.Binary) -> Type:
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
                            side=described(side, t),
                        ),
                        side.span,
                        bool_help(side, t),
                    )
            return BOOL
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            self.compare(e.op, e.left, left, e.right, right, e.op_span)
            return BOOL
        return self.arithmetic(e, left, right)

    def compare(self, op: str, le: ast.Expr, lt: Type, re_: ast.Expr, rt: Type, at: Span) -> None:
        """`==`-like and ordering comparisons need comparable types; choices need their values."""
        if "unknown" in (lt.kind, rt.kind):
            return
        ordered = op in ("<", "<=", ">", ">=")
        for choice, other in ((lt, re_), (rt, le)):
            if choice.kind == "choice" and isinstance(other, ast.Literal) and other.type == "text":
                self.choice_value(choice, other)
                if not ordered:
                    return
        if can_compare(lt, rt, ordered):
            return
        if op == "in":
            message = msg(
                "the list holds {re}, which can never equal {le}",
                re=described(re_, rt),
                le=described(le, lt),
            )
        else:
            message = msg(
                "cannot compare {le} with {re} using `{op}`",
                le=described(le, lt),
                re=described(re_, rt),
                op=op,
            )
        self._report("type-mismatch", message, at, compare_help(lt, rt, ordered))

    def membership(self, e: ast.Binary) -> Type:
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
                    right=described(e.right, right),
                ),
                e.right.span,
                msg('write the values in brackets: `category in ["fee", "facility"]`'),
            )
        return BOOL

    def arithmetic(self, e: ast.Binary, left: Type, right: Type) -> Type:
        if "unknown" in (left.kind, right.kind):
            return UNKNOWN
        result = arith_type(e.op, left, right)
        if result is not None:
            return result
        working = left.working or right.working
        self._report(
            "type-mismatch",
            msg(
                "cannot use `{op}` on {left} and {right}",
                op=e.op,
                left=described(e.left, left),
                right=described(e.right, right),
            ),
            e.op_span,
            msg("working time can only be added to a date-time, e.g. `now + 2 working days`")
            if working
            else ARITH_HELP.get(e.op, "check the operator and the values on both sides"),
        )
        return UNKNOWN

    # ------------------------------------------------------------ reporting
    def _report(self, code: str, message: str, span: Span, help: str) -> None:
        self.out.append(problem(code, message, span, help))
