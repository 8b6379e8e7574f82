"""Text to AST: the cached LALR parser (dsl/lexer.py lexes, dsl/lalr.py drives it), and
syntax errors turned into diagnostics that say what was expected in words a process owner
knows."""

from __future__ import annotations

import functools
import re
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dsl import ast, lalr
from dsl.bounds import parse_scope
from dsl.diagnostics import Diagnostic, NodeProblem, did_you_mean, problem
from dsl.lexer import FlowLexer, IndentationError_
from dsl.source import Source, Span
from dsl.tokens import duration
from dsl.transformer import ToAst
from engine.i18n import Listing, msg
from engine.limits import char_name

# What each terminal is called in an error message.
_TOKEN_WORDS: dict[str, str] = {
    "NAME": "a name",
    "STRING": msg('a quoted text like "…"'),
    "INT": msg("a whole number"),
    "DECIMAL": "a number",
    "DURATION": msg("a duration like `30m`, `24h` or `2 working days`"),
    "DATETIME": msg("a date-time like 2026-03-06 16:30"),
    "DATE": msg("a date like 2026-03-06"),
    "TIME": msg("a clock time like 17:30"),
    "PERCENT": msg("a percentage like 75%"),
    "_NL": msg("the end of the line"),
    "_INDENT": msg("an indented block"),
    "_DEDENT": msg("the end of the block"),
    "$END": msg("the end of the file"),
    "COLON": "`:`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "EQUAL": "`=`",
    "_ARROW": "`->`",
    "VBAR": "`|`",
    "COMPARE": msg("a comparison like `==`"),
    "PLUS": "`+`",
    "MINUS": "`-`",
    "MUL": msg("`*` or `/`"),
    "OPTIONAL": "`?`",
}


@functools.cache
def _parser() -> Lark:
    """The LALR parser, built once per process (grammar loading is the slow part)."""
    grammar = resources.files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer=FlowLexer,  # lark's contextual lexer and the indentation, in one fast pass
        transformer=ToAst(),  # builds the AST while parsing: no intermediate tree
        maybe_placeholders=True,
        cache=False,
    )


def parse_duration(text: str) -> ast.Duration:
    """`20m`, `3 working days`, `2个工作日` … read exactly as in a flow (the grammar's own
    DURATION terminal and units); ValueError says what is accepted."""
    pattern = _parser().get_terminal("DURATION").pattern.to_regexp()
    clean = str(text).strip()
    if re.fullmatch(pattern, clean) is None:
        raise ValueError(
            msg(
                "`{text}` is not a duration; write e.g. `20m`, `3h`, `2d`, `1w`, `4 "
                "working hours`, `3 working days`, `30分钟`, `24小时`, `2个工作日`",
                text=text,
            )
        )
    try:
        return duration(Token("DURATION", clean, line=1, column=1))
    except NodeProblem as problem:
        raise ValueError(problem.diagnostic.message) from None


class SyntaxProblem(Exception):
    """Parsing stopped; `diagnostic` says where and what was expected."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def parse_flow(source: Source) -> ast.Flow:
    """Parse flow text into the AST, or raise SyntaxProblem/NodeProblem with one diagnostic."""
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    text = text.lstrip("\ufeff")
    try:
        with parse_scope():
            flow = lalr.parse(_parser(), text)
        assert isinstance(flow, ast.Flow)
        return flow
    except IndentationError_ as exc:
        line = exc.token.end_line or exc.token.line or 1
        raise SyntaxProblem(
            problem(
                "inconsistent-indentation",
                msg("this line's indentation matches no enclosing block"),
                Span.point(line, 1, _leading(source.line(line))),
                msg(
                    "indent it exactly like the lines of the block it belongs to (4 spaces a level)"
                ),
            )
        ) from None
    except UnexpectedInput as exc:
        raise SyntaxProblem(_syntax_diagnostic(exc, source)) from None


def _leading(line: str) -> int:
    return len(line) - len(line.lstrip()) or 1


def _syntax_diagnostic(exc: UnexpectedInput, source: Source) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        line, column = exc.line, exc.column
        char = source.line(line)[column - 1 : column] or "?"
        hint: str = msg("check for a missing quote or a character that does not belong here")
        if char == '"':
            return problem(
                "unterminated-text",
                msg("this text has no closing quote"),
                Span.point(line, column),
                msg('end the text with " on the same line (write \\" for a quote inside it)'),
            )
        if char == "'":
            hint = msg('texts are written in double quotes: "…"')
        elif char in "“”":
            hint = msg('use plain double quotes " instead of typographic quotes')
        if not char.isprintable():
            hint = msg(
                "delete it: it is invisible or a control character, often pasted in by accident"
            )
        return problem(
            "syntax-error",
            msg("unexpected character {char}", char=char_name(char)),
            Span.point(line, column),
            hint,
        )
    token: Token | None = getattr(exc, "token", None)
    expected = set(getattr(exc, "expected", set()) or getattr(exc, "accepts", set()) or set())
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.accepts or exc.expected)
    if isinstance(exc, UnexpectedEOF) or token is None or token.type == "$END":
        line = max(len(source.lines), 1)
        return problem(
            "syntax-error",
            msg("the file ends in the middle of a declaration"),
            Span.point(line, max(len(source.line(line)), 1)),
            _expected_words(expected),
        )
    line, column = _token_position(token, source)
    if "_INDENT" in expected and token.type != "_INDENT":
        opener = _previous_code_line(source, line)
        return problem(
            "expected-block",
            msg("a block was expected after `{opener}`", opener=opener),
            Span.point(line, column, len(str(token.value).strip()) or 1),
            msg("indent the lines that belong to it (4 spaces), or put one action after the `:`"),
        )
    if token.type == "_INDENT":
        return problem(
            "unexpected-indent",
            msg("this line is indented but no block is open here"),
            Span.point(line, 1, _leading(source.line(line))),
            msg("remove the indentation, or end the line above with `:` to open a block"),
        )
    found = _describe(token)
    hint = _expected_words(expected)
    keywords = [t.lower() for t in expected if t.isalpha() and t.isupper() and t != "NAME"]
    if token.type == "NAME" and keywords:
        close = did_you_mean(str(token.value), keywords)
        if close:
            hint = msg("{close} ({hint})", close=close, hint=hint)
    return problem(
        "syntax-error",
        msg("unexpected {found}", found=found),
        Span.point(line, column, len(str(token.value)) if token.type != "_NL" else 1),
        hint,
    )


def _token_position(token: Token, source: Source) -> tuple[int, int]:
    """Where a token starts; layout tokens point at the first character of the next line."""
    if token.type in ("_NL", "_DEDENT", "_INDENT"):
        if token.type == "_NL" and token.value.lstrip("\r\n\t ").startswith("#") is False:
            # an unexpected line end: point just past the last character of the line
            line = token.line or 1
            return line, (token.column or 1)
        line = token.end_line or token.line or 1
        return line, _leading(source.line(line)) + (1 if source.line(line).strip() else 0)
    return token.line or 1, token.column or 1


def _previous_code_line(source: Source, line: int) -> str:
    for number in range(line - 1, 0, -1):
        text = source.line(number).split("#", 1)[0].strip()
        if text:
            return text
    return ""


def _describe(token: Token) -> str:
    if token.type == "_NL":
        return msg("end of line")
    if token.type == "_DEDENT":
        return msg("end of block")
    return f"`{token.value}`"


def _expected_words(expected: set[str]) -> str:
    words = []
    for name in sorted(expected):
        word = _TOKEN_WORDS.get(name)
        if word is None:
            word = f"`{name.lower()}`" if name.isalpha() else None
        if word and word not in words:
            words.append(word)
    if not words:
        return msg("check the line against the language reference (docs/language.md)")
    if len(words) > 6:
        words = [*words[:6], "…"]
    return msg("expected {words}", words=Listing(words))
