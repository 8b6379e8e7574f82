"""Semantic checks of a parsed flow (language reference §11; the rules: dsl/rules.py).

`check` builds one symbol table (`scope.Scope`) and runs one pass per concern, each in
its module — headers, declarations, references, types (`inference`), the state graph,
domain warnings — each returning diagnostics that point at the offending name or token
and say what to do about it. The checker is total: any AST the transformer can build
gives diagnostics, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from dsl import ast
from dsl.checks.declarations import declaration_pass
from dsl.checks.domain import domain_pass
from dsl.checks.graph import graph_pass
from dsl.checks.headers import header_pass
from dsl.checks.inference import type_pass
from dsl.checks.references import reference_pass
from dsl.checks.scope import Scope
from dsl.diagnostics import Diagnostic
from dsl.source import Span


def check(
    flow: ast.Flow,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> list[Diagnostic]:
    """Every semantic problem of a parsed flow, as diagnostics sorted by position.

    `calendars` maps each known calendar name to the last day its official holiday data
    covers (None: no official data needed); None skips the unknown-calendar check.
    """
    scope = Scope.build(flow)
    found = [
        *header_pass(flow, calendars, today),
        *declaration_pass(flow, scope),
        *reference_pass(flow, scope),
        *type_pass(flow, scope),
        *graph_pass(flow, scope),
        *domain_pass(flow, scope),
    ]
    return _unique_sorted(found)


def _unique_sorted(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple[str, Span, str], Diagnostic] = {}
    for d in found:
        seen.setdefault((d.code, d.span, d.message), d)
    return sorted(seen.values(), key=lambda d: (d.span.line, d.span.column, d.code, d.message))
