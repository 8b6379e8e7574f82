"""Parsing a text again after an edit, re-reading only the top-level blocks that changed.

A flow is a list of independent top-level items (`start: _NL? item*` in grammar.lark): a
header line, `fields:`, a `state` with its indented body, an `sla`, a `table`… Each block,
parsed alone, gives the AST nodes the whole text gives for it, so the language server keeps
the nodes of the blocks an edit did not touch and parses the one the cursor is in: a
keystroke in a 1,000-line flow re-reads a few lines, not the file.

A block is keyed by its text and its first line (spans carry line numbers), so an edit that
adds or removes lines re-reads the blocks below it. A block starts at a line that begins with
a letter at column 0, outside brackets and after a line that does not continue (`\\`). When
any block has a syntax error, the whole text is parsed as `flow check` parses it, so the
diagnostic is exactly the one `flow check` gives.
"""

from __future__ import annotations

from dsl import ast
from dsl.diagnostics import Diagnostic
from dsl.frontend import parse_source, size_problem
from dsl.source import Source

_OPEN, _CLOSE = "([", ")]"


def blocks(text: str) -> list[tuple[int, str]]:
    """The text's top-level blocks as (first line, text), in order."""
    lines = text.split("\n")  # the lexer's line ends only (not \u2028 and the like)
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    found: list[tuple[int, str]] = []
    start, depth, continued = 0, 0, False
    for number, line in enumerate(lines):
        if number and depth == 0 and not continued and line[:1].isalpha():
            found.append((start + 1, "".join(lines[start:number])))
            start = number
        depth = max(0, depth + _nesting(line))
        continued = line.rstrip().endswith("\\")
    if lines:
        found.append((start + 1, "".join(lines[start:])))
    return found


def _nesting(line: str) -> int:
    """How much a line opens ( and [ (negative: closes), outside texts and comments."""
    if "(" not in line and "[" not in line and ")" not in line and "]" not in line:
        return 0  # most lines: no need to read them character by character
    change, quoted, escaped = 0, False, False
    for char in line:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "#":
            break
        elif char in _OPEN:
            change += 1
        elif char in _CLOSE:
            change -= 1
    return change


class BlockParser:
    """`parse_source` for successive versions of one document, reusing unchanged blocks."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, str], ast.Flow] = {}

    def parse(self, source: Source) -> tuple[ast.Flow | None, list[Diagnostic]]:
        if size_problem(source) is not None:
            return parse_source(source)
        parts: list[ast.Flow] = []
        known: dict[tuple[int, str], ast.Flow] = {}
        for first, block in blocks(source.text):
            part = self._known.get((first, block))
            if part is None:
                part, _ = parse_source(Source(source.path, "\n" * (first - 1) + block))
                if part is None:
                    return parse_source(source)  # the whole text's own diagnostic
            known[(first, block)] = part
            parts.append(part)
        if not parts:
            return parse_source(source)
        self._known = known
        return joined(parts), []


def joined(parts: list[ast.Flow]) -> ast.Flow:
    """The flow the whole text makes of its blocks' flows (what `ToAst.start` builds)."""
    return ast.Flow(
        headers=tuple(h for p in parts for h in p.headers),
        roles=tuple(r for p in parts for r in p.roles),
        fields=tuple(f for p in parts for f in p.fields),
        states=tuple(s for p in parts for s in p.states),
        slas=tuple(s for p in parts for s in p.slas),
        tables=tuple(t for p in parts for t in p.tables),
        openers=tuple(o for p in parts for o in p.openers),
        schedules=tuple(s for p in parts for s in p.schedules),
        keys=tuple(k for p in parts for k in p.keys),
    )
