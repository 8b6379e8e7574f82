"""The front-end pipeline in one call: text → parse tree → AST → checks → compiled table.

Each stage is callable alone (see `dsl.parser`, `dsl.transformer`, `dsl.checks`,
`dsl.compiler`); this module strings them together and never raises on bad input:
problems come back as diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dsl import ast
from dsl.checks import check
from dsl.diagnostics import Diagnostic, error
from dsl.parser import SyntaxProblem, parse_tree
from dsl.source import Source, Span
from dsl.transformer import NodeProblem, to_ast
from engine.definition import FlowDefinition


@dataclass
class FrontendResult:
    """What the front-end made of one file: the AST and table when it could, and diagnostics."""

    source: Source
    flow: ast.Flow | None = None
    definition: FlowDefinition | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.definition is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def parse_source(source: Source) -> tuple[ast.Flow | None, list[Diagnostic]]:
    """Syntax only: the AST, or the one diagnostic that stopped the parser."""
    try:
        return to_ast(parse_tree(source)), []
    except (SyntaxProblem, NodeProblem) as problem:
        return None, [problem.diagnostic]


def compile_source(
    source: Source,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> FrontendResult:
    """Parse, check and (when there is no error) compile one flow text.

    `calendars` maps each known calendar name to the last day its official holiday data
    covers (None: no official data needed); None skips the calendar-name check.
    """
    from dsl.compiler import compile_flow

    result = FrontendResult(source)
    flow, diagnostics = parse_source(source)
    result.flow = flow
    if flow is not None:
        diagnostics = check(flow, calendars=calendars, today=today)
        if not any(d.is_error for d in diagnostics):
            result.definition = compile_flow(flow)
    result.diagnostics = [_with_path(d, source.path) for d in diagnostics]
    return result


def compile_file(
    path: str | Path,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> FrontendResult:
    """`compile_source` on a file; an unreadable file is one `cannot-read` diagnostic."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        source = Source(str(path), "")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        diagnostic = error(
            "cannot-read",
            f"cannot read the file: {reason}",
            Span.point(1, 1),
            "check the path and that the file is saved as UTF-8",
        )
        return FrontendResult(source, diagnostics=[_with_path(diagnostic, str(path))])
    return compile_source(Source(str(path), text), calendars=calendars, today=today)


def _with_path(d: Diagnostic, path: str) -> Diagnostic:
    return Diagnostic(d.code, d.severity, d.message, d.span, d.help, path)
