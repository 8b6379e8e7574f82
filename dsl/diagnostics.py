"""Diagnostics as data, and the three ways to render them (full, concise, JSON).

Every check produces `Diagnostic` values; only the edge (the CLI) turns them into text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dsl.source import Source, Span, display_width


class Severity(StrEnum):
    """How bad a problem is: errors stop a flow from running, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a flow file: a stable kebab-case code, where, what, and what to do."""

    code: str
    severity: Severity
    message: str
    span: Span
    help: str | None = None
    path: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(code: str, message: str, span: Span, help: str | None = None) -> Diagnostic:
    """An error diagnostic (the flow cannot run)."""
    return Diagnostic(code, Severity.ERROR, message, span, help)


def warning(code: str, message: str, span: Span, help: str | None = None) -> Diagnostic:
    """A warning diagnostic (the flow runs, but a process owner should look)."""
    return Diagnostic(code, Severity.WARNING, message, span, help)


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """A `did you mean `x`?` hint when `name` is close to one of `known`."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.path, d.span.line, d.span.column, d.code)


def render_full(diagnostics: Sequence[Diagnostic], source: Source) -> str:
    """The rich form: `FILE:LINE:COL: error: message`, the source line, a caret, `help:`."""
    blocks = []
    for d in sorted(diagnostics, key=sort_key):
        line_text = source.line(d.span.line).replace("\t", " ")
        gutter = str(d.span.line)
        pad = " " * len(gutter)
        before = line_text[: d.span.column - 1]
        if d.span.end_line == d.span.line:
            underlined = line_text[d.span.column - 1 : d.span.end_column - 1]
        else:
            underlined = line_text[d.span.column - 1 :]
        carets = "^" * max(display_width(underlined), 1)
        parts = [f"{source.path}:{d.span.line}:{d.span.column}: {d.severity.value}: {d.message}"]
        if source.lines:  # no source to show when the file could not even be read
            parts += [
                f"{pad} |",
                f"{gutter} | {line_text}",
                f"{pad} | {' ' * display_width(before)}{carets}",
            ]
        if d.help:
            parts.append(f"{pad} = help: {d.help}")
        blocks.append("\n".join(parts))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def render_concise(diagnostics: Sequence[Diagnostic], path: str) -> str:
    """One line per problem, `FILE:LINE:COL: severity[code]: message`, for editors and grep."""
    return "".join(
        f"{path}:{d.span.line}:{d.span.column}: {d.severity.value}[{d.code}]: {d.message}\n"
        for d in sorted(diagnostics, key=sort_key)
    )


def to_json(d: Diagnostic, path: str) -> dict[str, object]:
    """A diagnostic as a plain JSON object (stable keys, for tools)."""
    return {
        "path": path,
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "help": d.help,
        "line": d.span.line,
        "column": d.span.column,
        "end_line": d.span.end_line,
        "end_column": d.span.end_column,
    }


def render_json(diagnostics: Sequence[Diagnostic], path: str) -> str:
    """All diagnostics of one file as a JSON array."""
    items = [to_json(d, path) for d in sorted(diagnostics, key=sort_key)]
    return json.dumps(items, ensure_ascii=False, indent=2)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """`2 errors, 1 warning` — the closing line of a check run."""
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
