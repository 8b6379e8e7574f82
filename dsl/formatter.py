"""`flow fmt`: the one canonical layout of a `.flow` file (the gofmt of flows).

Nothing that does not parse is touched. The layout is rebuilt from the parser's own tokens
(so durations, date-times and strings stay byte-for-byte as written) and the indentation
structure the parser saw; comments and the order of everything are kept. Before returning,
the result is lexed again and must give the parser the same tokens, and keep the comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token

from dsl.diagnostics import render_full
from dsl.frontend import parse_source
from dsl.lexer import indent_width
from dsl.parser import _parser
from dsl.source import Source

INDENT = "    "

# Lines that open a top-level block get a blank line before them; header lines stay together.
_BLOCK_KEYWORDS = frozenset({"STATE", "FINAL", "SLA", "TABLE", "FIELDS", "ROLES"})
_HEADER_KEYWORDS = frozenset({"FLOW", "VERSION", "CALENDAR"})
# Tokens that end an operand: a `-` after one of them is binary, otherwise unary.
_OPERAND_END = frozenset(
    {"NAME", "STRING", "INT", "DECIMAL", "DURATION", "DATETIME", "DATE", "TIME", "PERCENT",
     "TRUE", "FALSE", "NULL", "RPAR", "RSQB"}
)  # fmt: skip
_NO_SPACE_BEFORE = frozenset({"COLON", "COMMA", "RPAR", "RSQB", "OPTIONAL"})
_NO_SPACE_AFTER = frozenset({"LPAR", "LSQB"})
_CALLABLE = frozenset({"NAME", "CHOICE"})  # `f(x)`, `on note(remark)`, `choice(a, b)`
_CLOSERS = frozenset({"RPAR", "RSQB"})

# What may stand between two tokens: blanks, `\` line continuations, comments, line ends.
_GAP = re.compile(r"(?P<space>[ \t\f]+)|(?P<cont>\\[ \t\f]*\n)|(?P<comment>#[^\n]*)|(?P<nl>\n)")


class FormatError(Exception):
    """The text does not parse; `rendered` is the full diagnostic text, ending in a newline."""

    def __init__(self, rendered: str) -> None:
        super().__init__(rendered.split("\n", 1)[0])
        self.rendered = rendered


@dataclass
class _Segment:
    """One physical line of a logical line: tokens, trailing comment, and how it ends."""

    nesting: int  # brackets open where it starts
    tokens: list[Token] = field(default_factory=list)
    comment: str | None = None
    backslash: bool = False  # ends with a `\` line continuation


@dataclass
class _Code:
    """A logical line: one line of the language, possibly continued inside brackets or by `\\`."""

    depth: int
    column: int  # its indentation width as written
    segments: list[_Segment]

    @property
    def first(self) -> str:
        return self.segments[0].tokens[0].type

    @property
    def opens_block(self) -> bool:
        last = [t for s in self.segments for t in s.tokens][-1]
        return last.type == "COLON"


@dataclass
class _Comment:
    """A comment on a line of its own (depth is settled once the next code line is known)."""

    text: str
    column: int
    depth: int = 0


class _Blank:
    """An empty line."""


_Row = _Code | _Comment | _Blank
_BLANK = _Blank()


def format_source(text: str, path: str = "<flow>") -> str:
    """The canonical layout of flow `text`; FormatError if it does not parse."""
    source = Source(path, text)
    flow, diagnostics = parse_source(source)
    if flow is None:
        raise FormatError(render_full(diagnostics, source))
    normalized = _normalize(text)
    before = _Scanner(normalized)
    rows = before.run()
    formatted = "\n".join(_render(_blank_lines(_settle_comments(rows)))) + "\n"
    after = _Scanner(formatted)
    if _comments(after.run()) != _comments(rows) or after.signature != before.signature:
        raise RuntimeError(f"{path}: flow fmt would change the flow's meaning (a bug: report it)")
    return formatted


def _normalize(text: str) -> str:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def _comments(rows: list[_Row]) -> list[str]:
    found: list[str] = []
    for row in rows:
        if isinstance(row, _Comment):
            found.append(row.text)
        elif isinstance(row, _Code):
            found.extend(s.comment for s in row.segments if s.comment is not None)
    return found


class _Scanner:
    """Cuts parsed text into rows, from the parser's tokens and the text between them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.rows: list[_Row] = []
        self.depth = 0  # block depth, from the parser's _INDENT/_DEDENT
        self.nesting = 0  # open ( and [
        self.line: _Code | None = None  # the logical line being read
        self.segment: _Segment | None = None  # its part on the current physical line
        self.content = False  # the current physical line has a token or comment
        # every token the parser sees, layout ones without their text: same signature, same parse
        self.signature: list[tuple[str, str]] = []

    def run(self) -> list[_Row]:
        pos = 0
        for token in _parser().parse_interactive(self.text).iter_parse():
            layout = token.type in ("_NL", "_INDENT", "_DEDENT")
            if self.signature or token.type != "_NL":  # blank lines opening the file go
                self.signature.append((token.type, "" if layout else str(token)))
            if token.type in ("_INDENT", "_DEDENT"):
                self.depth += 1 if token.type == "_INDENT" else -1
            elif token.type != "_NL":  # line ends are read from the text, with their comments
                self.gap(pos, token.start_pos or 0)
                self.token(token)
                pos = token.end_pos or pos
        self.gap(pos, len(self.text))
        self.end_line()
        return self.rows

    def gap(self, start: int, end: int) -> None:
        while start < end:
            match = _GAP.match(self.text, start, end)
            if match is None:
                raise RuntimeError(f"unexpected text between tokens at offset {start}")
            if match.lastgroup == "comment":
                self.comment(match.group().rstrip(), match.start())
            elif match.lastgroup == "cont":
                self.continuation()
            elif match.lastgroup == "nl":
                self.newline()
            start = match.end()

    def token(self, token: Token) -> None:
        if self.line is None:
            self.line = _Code(self.depth, self.column(token.start_pos or 0), [])
        if self.segment is None:
            self.segment = _Segment(self.nesting)
            self.line.segments.append(self.segment)
        self.segment.tokens.append(token)
        self.content = True
        if token.type in ("LPAR", "LSQB"):
            self.nesting += 1
        elif token.type in _CLOSERS:
            self.nesting = max(self.nesting - 1, 0)

    def comment(self, text: str, pos: int) -> None:
        if self.segment is not None and self.segment.tokens:
            self.segment.comment = text
        elif self.line is not None:  # a comment line inside brackets (or after a `\`)
            self.segment = _Segment(self.nesting, comment=text)
            self.line.segments.append(self.segment)
        else:
            self.rows.append(_Comment(text, self.column(pos)))
        self.content = True

    def continuation(self) -> None:
        if self.segment is not None and self.segment.tokens:
            self.segment.backslash = True
        self.segment = None
        self.content = False

    def newline(self) -> None:
        if self.line is None:
            if not self.content:
                self.rows.append(_BLANK)
        elif self.nesting == 0:
            self.end_line()
        self.segment = None
        self.content = False

    def end_line(self) -> None:
        if self.line is not None:
            last = [s for s in self.line.segments if s.tokens][-1]
            if last is self.line.segments[-1]:
                last.backslash = False  # a `\` before an empty line continues nothing
            self.rows.append(self.line)
        self.line = None

    def column(self, pos: int) -> int:
        start = self.text.rfind("\n", 0, pos) + 1
        prefix = self.text[start:pos]
        return indent_width(prefix) if not prefix.strip() else 0


def _settle_comments(rows: list[_Row]) -> list[_Row]:
    """Give each comment line the depth, between its neighbours', nearest to where it was.

    Within a run of comment lines the depth only moves one way (towards the next code line),
    so a comment never re-enters a block that an earlier comment has already left.
    """
    columns = [0]  # the written indentation of each open depth
    previous = 0
    pending: list[_Comment] = []
    for row in [*rows, _Code(0, 0, [])]:
        if isinstance(row, _Comment):
            pending.append(row)
        elif isinstance(row, _Code):
            # the depths a comment between the two lines may take, and their columns
            choices = {d: columns[d] for d in range(min(previous, row.depth), previous + 1)}
            choices[row.depth] = row.column
            bound = previous
            for comment in pending:
                depth = _nearest(comment.column, choices, row.depth)
                bound = min(depth, bound) if row.depth <= previous else max(depth, bound)
                comment.depth = bound
            pending.clear()
            columns = [*columns[: row.depth], row.column]
            previous = row.depth
    return rows


def _nearest(column: int, choices: dict[int, int], prefer: int) -> int:
    """The depth whose column is closest to `column` (ties go to `prefer`, the next line's)."""
    return min(choices, key=lambda d: (abs(choices[d] - column), d != prefer))


def _blank_lines(rows: list[_Row]) -> list[_Row]:
    """At most one blank line in a row, one before each top-level block, none among headers."""
    wanted = set()
    for i, row in enumerate(rows):
        if isinstance(row, _Code) and row.depth == 0 and row.first in _BLOCK_KEYWORDS:
            while i > 0 and _is_top_comment(rows[i - 1]):
                i -= 1
            wanted.add(i)
    following: list[_Code | None] = []  # the next code line at or after each row
    for row in reversed(rows):
        following.append(row if isinstance(row, _Code) else following[-1] if following else None)
    following.reverse()
    out: list[_Row] = []
    code: _Code | None = None  # the last code line kept
    for i, row in enumerate(rows):
        if i in wanted or row is _BLANK:
            among_headers = _is_header(code) and _is_header(following[i])
            if out and out[-1] is not _BLANK and not _opens_block(out[-1]) and not among_headers:
                out.append(_BLANK)
        if row is not _BLANK:
            out.append(row)
            code = row if isinstance(row, _Code) else code
    while out and out[-1] is _BLANK:
        out.pop()
    return out


def _is_top_comment(row: _Row) -> bool:
    return isinstance(row, _Comment) and row.depth == 0


def _is_header(row: _Row | None) -> bool:
    return isinstance(row, _Code) and row.depth == 0 and row.first in _HEADER_KEYWORDS


def _opens_block(row: _Row) -> bool:
    return isinstance(row, _Code) and row.opens_block


def _render(rows: list[_Row]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        if isinstance(row, _Blank):
            lines.append("")
        elif isinstance(row, _Comment):
            lines.append(INDENT * row.depth + row.text)
        else:
            lines.extend(_render_code(row))
    return lines


def _render_code(code: _Code) -> list[str]:
    lines = []
    previous: Token | None = None
    unary = False  # the previous token is a unary minus
    for index, segment in enumerate(code.segments):
        text = ""
        for token in segment.tokens:
            if text and _spaced(previous, token, unary):
                text += " "
            if token.type == "MINUS":
                unary = previous is None or previous.type not in _OPERAND_END
            else:
                unary = False
            text += str(token)
            previous = token
        if segment.comment is not None:
            text = f"{text}  {segment.comment}" if text else segment.comment
        if segment.backslash:
            text += " \\"
        lines.append(INDENT * (code.depth + _continuation(segment, index)) + text)
    return lines


def _continuation(segment: _Segment, index: int) -> int:
    """Extra depth of a continuation line: one per open bracket; a closing bracket dedents."""
    if index == 0:
        return 0
    closers = 0
    for token in segment.tokens:
        if token.type not in _CLOSERS:
            break
        closers += 1
    return max(segment.nesting - closers, 0) if closers else max(segment.nesting, 1)


def _spaced(previous: Token | None, token: Token, unary: bool) -> bool:
    """Whether one space separates two tokens on a line."""
    if previous is None or unary:
        return False
    if token.type in _NO_SPACE_BEFORE or previous.type in _NO_SPACE_AFTER:
        return False
    return not (token.type == "LPAR" and previous.type in _CALLABLE)
