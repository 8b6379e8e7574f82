"""The types of expressions, how they combine, and how messages describe them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dsl import ast
from engine.i18n import msg

# ================================================================ symbol table


@dataclass(frozen=True, slots=True)
class Type:
    """The type of an expression; `choices`/`field` for choice values, `working` for durations."""

    kind: str  # text int decimal bool date datetime duration choice null list unknown
    choices: tuple[str, ...] = ()
    field: str | None = None
    working: bool = False

    def __str__(self) -> str:
        return "text" if self.field == "state" else self.kind


FIELD_TYPES = ("text", "int", "decimal", "bool", "date", "datetime", "duration", "choice")
UNKNOWN = Type("unknown")
TEXT, INT, DECIMAL, BOOL = Type("text"), Type("int"), Type("decimal"), Type("bool")
DATE, DATETIME, DURATION, LIST = Type("date"), Type("datetime"), Type("duration"), Type("list")
BUILTINS = {"now": DATETIME, "state": TEXT, "id": TEXT}
NUMBERS = ("int", "decimal")
STRINGS = ("text", "choice")
MOMENTS = ("date", "datetime")


ARITH_HELP = {
    "+": msg("`+` adds numbers, joins texts, or adds a duration to a date or date-time"),
    "-": msg(
        "`-` subtracts numbers, a duration from a date or date-time, or two "
        "date-times (giving a duration)"
    ),
    "*": msg("`*` multiplies numbers, or an elapsed duration by a whole number"),
    "/": msg("`/` divides numbers, or an elapsed duration by a whole number"),
}


def arith_type(op: str, a: Type, b: Type) -> Type | None:
    """The result type of `a op b`, or None when the operator does not apply."""
    kinds = (a.kind, b.kind)
    if a.kind in NUMBERS and b.kind in NUMBERS:
        return DECIMAL if op == "/" or "decimal" in kinds else INT
    if a.working or b.working:
        return DATETIME if op == "+" and "datetime" in kinds and "duration" in kinds else None
    if op == "+" and a.kind in STRINGS and b.kind in STRINGS:
        return TEXT
    return _ARITH_RESULTS.get((op, a.kind, b.kind))


_ARITH_RESULTS: dict[tuple[str, str, str], Type] = {
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


def can_compare(a: Type, b: Type, ordered: bool) -> bool:
    """Whether `a` and `b` can be compared (with `<`… when `ordered`, else with `==`)."""
    kinds = {a.kind, b.kind}
    if "unknown" in kinds:
        return True
    if "null" in kinds:
        return not ordered
    if kinds <= set(NUMBERS) or kinds <= set(MOMENTS):
        return True
    if ordered:
        return len(kinds) == 1 and a.kind in ("text", "duration")
    return kinds <= set(STRINGS) or len(kinds) == 1


def fits_into(target: Type, value: Type) -> bool:
    if target.kind == "duration" and value.working:
        return False
    if target.kind == value.kind:
        return True
    return (target.kind, value.kind) in {
        ("decimal", "int"),
        ("text", "choice"),
        ("choice", "text"),
    }


def join_types(a: Type, b: Type) -> Type | None:
    """The common type of two table results, or None when they do not mix."""
    if a.kind in ("unknown", "null"):
        return b
    if b.kind in ("unknown", "null") or a == b:
        return a
    kinds = {a.kind, b.kind}
    if kinds <= set(NUMBERS):
        return DECIMAL
    if kinds <= set(STRINGS):
        return TEXT
    if a.kind == b.kind:
        return Type(a.kind)
    return None


def is_constant(e: ast.Expr) -> bool:
    if isinstance(e, ast.Literal | ast.DurationLiteral):
        return True
    return (
        isinstance(e, ast.Unary)
        and e.op == "-"
        and isinstance(e.operand, ast.Literal)
        and e.operand.type in NUMBERS
    )


def shown_as(e: ast.Expr) -> str | None:
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


def described(e: ast.Expr, t: Type) -> str:
    """`major` (bool), `"fee"` (text), or just the type when the expression is too big."""
    shown = shown_as(e)
    return f"`{shown}` ({t})" if shown is not None else msg("this {t} value", t=t)


def example_of(t: Type) -> str:
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


def bool_help(e: ast.Expr, t: Type) -> str:
    shown = shown_as(e) if isinstance(e, ast.Ref) else None
    if shown and t.kind in NUMBERS:
        return msg("compare it, e.g. `{shown} > 0`", shown=shown)
    if shown and t.kind in STRINGS:
        return msg('compare it, e.g. `{shown} == "…"`, or test `{shown} is set`', shown=shown)
    if shown and t.kind in MOMENTS:
        return msg("compare it, e.g. `{shown} < now`", shown=shown)
    return msg("write a comparison like `x == y`, or a test like `x is set`")


def compare_help(a: Type, b: Type, ordered: bool) -> str:
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
