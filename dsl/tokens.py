"""A token of a flow read into an AST leaf: its span, a name, a quoted text, a duration
(`30m`, `4 working hours`, `2个工作日`), and the span of a rule's children."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lark import Token

from dsl import ast
from dsl.bounds import check_duration, check_number
from dsl.diagnostics import NodeProblem, problem
from dsl.source import Span
from engine.i18n import msg

_UNITS: dict[str, ast.DurationUnit] = {
    "m": "m", "minute": "m", "minutes": "m", "分钟": "m",
    "h": "h", "hour": "h", "hours": "h", "小时": "h", "个小时": "h",
    "d": "d", "day": "d", "days": "d", "天": "d",
    "w": "w", "week": "w", "weeks": "w", "周": "w",
    "working hour": "working_hours", "working hours": "working_hours",
    "工作小时": "working_hours", "个工作小时": "working_hours",
    "working day": "working_days", "working days": "working_days",
    "工作日": "working_days", "个工作日": "working_days",
}  # fmt: skip

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(.+)")
_ESCAPE = re.compile(r"\\(.)")
_BLANKS = re.compile(r"\s+")


def tspan(token: Token) -> Span:
    """The span of one token."""
    line = token.line or 1
    column = token.column or 1
    return Span(line, column, token.end_line or line, token.end_column or column + len(token))


def _start(item: Any) -> tuple[int, int] | None:
    """Line and column of the first positioned token or node in `item`."""
    if isinstance(item, Token):
        return (item.line, item.column or 1) if item.line else None
    span = getattr(item, "span", None)
    if isinstance(span, Span):
        return span.line, span.column
    if isinstance(item, tuple | list):
        for child in item:
            found = _start(child)
            if found is not None:
                return found
    return None


def _end(item: Any) -> tuple[int, int] | None:
    """End line and end column of the last positioned token or node in `item`."""
    if isinstance(item, Token):
        if not item.line:
            return None
        return item.end_line or item.line, item.end_column or (item.column or 1) + len(item)
    span = getattr(item, "span", None)
    if isinstance(span, Span):
        return span.end_line, span.end_column
    if isinstance(item, tuple | list):
        for child in reversed(item):
            found = _end(child)
            if found is not None:
                return found
    return None


def span_of(items: list[Any]) -> Span:
    """The span from the first to the last token of a rule's children."""
    for item in items:
        first = _start(item)
        if first is not None:
            break
    else:
        return Span(1, 1, 1, 2)
    for item in reversed(items):
        last = _end(item)
        if last is not None:
            return Span(first[0], first[1], last[0], last[1])
    raise AssertionError("a first positioned item but no last one")


def name(token: Token) -> ast.Name:
    return ast.Name(str(token), tspan(token))


def text(token: Token) -> ast.Text:
    return ast.Text(unquote(str(token)), tspan(token))


def unquote(written: str) -> str:
    """The value of a quoted text as written: quotes off, `\\x` read as `x`."""
    inner = written[1:-1]
    return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def duration(token: Token) -> ast.Duration:
    """Read `30m`, `4 working hours`, `2个工作日`, … into an amount and a unit."""
    written = str(token)
    match = _DURATION.fullmatch(written)
    assert match is not None  # the DURATION terminal guarantees the shape
    unit = _UNITS[_BLANKS.sub(" ", match.group(2).strip())]
    span = tspan(token)
    check_number(match.group(1), span)
    amount = Decimal(match.group(1))
    check_duration(amount, unit, written, span)
    if unit == "working_days" and amount != amount.to_integral_value():
        raise NodeProblem(
            problem(
                "invalid-duration",
                msg("`{token}`: working days must be a whole number", token=token),
                tspan(token),
                msg("use working hours for parts of a day, e.g. `4 working hours`"),
            )
        )
    return ast.Duration(amount, unit, written, tspan(token))
