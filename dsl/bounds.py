"""Where the front-end holds a flow to `engine.limits`: numbers, durations, years and how
deep an expression nests, each checked as the parser builds the node, so a hostile file
ends in one located diagnostic and every later pass can recurse safely."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import TypeVar

from dsl import ast
from dsl.diagnostics import NodeProblem, problem
from dsl.source import Span
from engine import limits
from engine.i18n import msg

E = TypeVar("E", bound=ast.Expr)

# Days one unit counts as, for the duration limit (a working hour is at least an hour).
_DAYS_PER_UNIT: dict[str, Decimal] = {
    "m": Decimal(1) / 1440, "h": Decimal(1) / 24, "d": Decimal(1), "w": Decimal(7),
    "working_hours": Decimal(1) / 24, "working_days": Decimal(1),
}  # fmt: skip
_ALWAYS_FITS = limits.MAX_DURATION_DAYS // 7  # this many of any unit (weeks at most) fit


def check_number(written: str, span: Span) -> None:
    """A number as written, at most `limits.MAX_NUMBER_CHARS` long (Python will not even read
    an integer of more than 4,300 digits, and nothing a flow counts needs twenty)."""
    if len(written) > limits.MAX_NUMBER_CHARS:
        raise NodeProblem(
            problem(
                "number-too-long",
                msg(
                    "this number has {written:,} characters; Flowdesk reads numbers of at "
                    "most {most}",
                    written=len(written),
                    most=limits.MAX_NUMBER_CHARS,
                ),
                span,
                msg("check the number: no count, amount or duration a flow needs is that long"),
            )
        )


def whole_number(written: str, span: Span) -> int:
    """An INT token's value, within the number limit."""
    check_number(written, span)
    return int(written)


def check_duration(amount: Decimal, unit: str, written: str, span: Span) -> None:
    """A duration at most `limits.MAX_DURATION_DAYS` (100 years) long."""
    if amount < _ALWAYS_FITS:  # the common case, without Decimal arithmetic
        return
    if amount * _DAYS_PER_UNIT[unit] > limits.MAX_DURATION_DAYS:
        raise NodeProblem(
            problem(
                "duration-too-long",
                msg(
                    "`{written}` is longer than the longest duration Flowdesk takes "
                    "({days:,} days, 100 years)",
                    written=limits.shorten(written)[1:-1],
                    days=limits.MAX_DURATION_DAYS,
                ),
                span,
                msg("a deadline that far away never falls due; check the number and the unit"),
            )
        )


def check_year(value: date, span: Span) -> None:
    """A date or date-time literal within `limits.MIN_YEAR`–`limits.MAX_YEAR`."""
    if not limits.MIN_YEAR <= value.year <= limits.MAX_YEAR:
        raise NodeProblem(
            problem(
                "date-out-of-range",
                msg(
                    "the year {year} is outside what Flowdesk takes ({first}–{last})",
                    year=value.year,
                    first=limits.MIN_YEAR,
                    last=limits.MAX_YEAR,
                ),
                span,
                msg("check the year"),
            )
        )


# Expression nodes that have operands; leaves (names, literals) are depth 0.
_COMPOSITE = (ast.Binary, ast.Unary, ast.IsSet, ast.Call, ast.ListExpr)


class _Depths(threading.local):
    """The depth of every composite expression node built in the parse under way (one per
    thread: parses may run side by side), by `id`: a parent reads its children's, so the
    check costs one look-up per operand instead of a walk of the subtree."""

    def __init__(self) -> None:
        self.of: dict[int, int] = {}


_depths = _Depths()


@contextmanager
def parse_scope() -> Iterator[None]:
    """Wrap one parse: the depths it records are dropped when it ends (ids are only unique
    among live objects, and every node of a parse is live until it ends)."""
    _depths.of.clear()
    try:
        yield
    finally:
        _depths.of.clear()


def bounded(node: E, span: Span, *operands: ast.Expr) -> E:
    """`node`, built from `operands`, if operators, calls and lists nest in it at most
    `limits.MAX_EXPRESSION_DEPTH` deep; checked as each node is built (inside
    `parse_scope`), so checks and compiler may recurse over expressions safely."""
    of = _depths.of
    depth = 0
    for operand in operands:
        if isinstance(operand, _COMPOSITE):
            below = of.get(id(operand), 0)
            if below > depth:
                depth = below
    depth += 1
    if depth > limits.MAX_EXPRESSION_DEPTH:
        raise NodeProblem(
            problem(
                "expression-too-deep",
                msg(
                    "this expression nests operators, calls or lists more than {depth} deep",
                    depth=limits.MAX_EXPRESSION_DEPTH,
                ),
                span,
                msg("split it: compute parts into fields with `set`, or use a decision table"),
            )
        )
    of[id(node)] = depth
    return node
