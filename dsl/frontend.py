"""The front-end pipeline in one call: text → parse tree → AST → checks → compiled table.

Each stage is callable alone (see `dsl.parser`, `dsl.transformer`, `dsl.checks`,
`dsl.compiler`); this module strings them together and never raises on bad input:
problems come back as diagnostics.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dsl import ast
from dsl.checks import check
from dsl.diagnostics import Diagnostic, NodeProblem, problem
from dsl.parser import SyntaxProblem, parse_flow
from dsl.source import Source, Span
from engine import limits
from engine.definition import FlowDefinition
from engine.i18n import msg


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
    """Syntax only: the AST, or the one diagnostic that stopped the parser (or the first
    limit of size the text passes, checked before any parsing)."""
    too_big = size_problem(source)
    if too_big is not None:
        return None, [too_big]
    try:
        return parse_flow(source), []
    except (SyntaxProblem, NodeProblem) as problem:
        return None, [problem.diagnostic]


def compile_source(
    source: Source,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
    *,
    parse: Callable[[Source], tuple[ast.Flow | None, list[Diagnostic]]] = parse_source,
    build_table: bool = True,
) -> FrontendResult:
    """Parse, check and (when there is no error) compile one flow text.

    `calendars` maps each known calendar name to the last day its official holiday data
    covers (None: no official data needed); None skips the calendar-name check. The language
    server passes its block-reusing `parse` and, needing diagnostics only, no `build_table`.
    """
    from dsl.compiler import compile_flow

    result = FrontendResult(source)
    with _gc_paused():
        flow, diagnostics = parse(source)
        if flow is not None:
            diagnostics = check(flow, calendars=calendars, today=today)
            if build_table and not any(d.is_error for d in diagnostics):
                result.definition = compile_flow(flow)
    result.flow = flow
    result.diagnostics = [_with_path(d, source.path) for d in diagnostics]
    return result


def size_problem(source: Source) -> Diagnostic | None:
    """The file or one of its lines past `engine.limits` (parsing a 5 MB line would take
    hundreds of MB), as a diagnostic."""
    if len(source.text) > limits.MAX_FILE_BYTES:
        return problem(
            "file-too-large",
            msg(
                "this file has {size:,} characters; a flow may have at most {most:,}",
                size=len(source.text),
                most=limits.MAX_FILE_BYTES,
            ),
            Span.point(1, 1),
            msg("split the procedure into several flows"),
        )
    if not source.lines or max(map(len, source.lines)) <= limits.MAX_LINE_CHARS:
        return None
    for number, line in enumerate(source.lines, 1):
        if len(line) > limits.MAX_LINE_CHARS:
            return problem(
                "line-too-long",
                msg(
                    "this line has {length:,} characters; a line may have at most {most:,}",
                    length=len(line),
                    most=limits.MAX_LINE_CHARS,
                ),
                Span.point(number, limits.MAX_LINE_CHARS + 1),
                msg("break it into several lines, or shorten the text"),
            )
    return None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates many small acyclic objects, and
    collections triggered by them cost more than the parse (measured: 2× slower with it on).

    On the way out, everything the collector tracks moves to its oldest generation (freeze, then
    unfreeze: two list splices). Otherwise the first allocation after the pause runs a young
    collection over all ~160k objects the compile kept (AST, table), which are long-lived and
    acyclic: ~10% of a compile, for nothing. Skipped when the caller has frozen objects itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def compile_file(
    path: str | Path,
    calendars: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> FrontendResult:
    """`compile_source` on a file; an unreadable file is one `cannot-read` diagnostic."""
    try:
        text = limits.read_text(Path(path), msg("flow file"))
    except (OSError, UnicodeDecodeError, limits.LimitExceeded) as exc:
        source = Source(str(path), "")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        line = column = 1
        if isinstance(exc, UnicodeDecodeError):
            line, column, reason = limits.not_utf8(exc)
        diagnostic = problem(
            "cannot-read",
            msg("cannot read the file: {reason}", reason=reason),
            Span.point(line, column),
            msg("check the path, that it is a .flow file, and that it is saved as UTF-8"),
        )
        return FrontendResult(source, diagnostics=[_with_path(diagnostic, str(path))])
    return compile_source(Source(str(path), text), calendars=calendars, today=today)


def _with_path(d: Diagnostic, path: str) -> Diagnostic:
    return Diagnostic(d.code, d.severity, d.message, d.span, d.help, path)
