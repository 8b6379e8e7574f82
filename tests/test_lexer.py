"""Differential tests of the front end's fast path against lark's own machinery.

`dsl.lexer.FlowLexer` replaces lark's contextual lexer plus the indentation post-lexer the
parser used before (kept below as `_ReferenceIndenter`), and `dsl.lalr.parse` replaces lark's
parse loop. On every shipped flow and on hypothesis-mutated versions of them, both must give
the same tokens (type, text, positions), the same errors at the same places, and the same AST.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCEPTANCE, ROOT, WORKFLOWS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from dsl import lalr
from dsl.diagnostics import NodeProblem
from dsl.lexer import FlowLexer, IndentationError_, indent_width
from dsl.parser import _parser, _syntax_diagnostic
from dsl.source import Source
from dsl.transformer import ToAst

# ---------------------------------------------------------------- the reference


class _ReferenceIndenter:
    """The indentation post-lexer the parser used with lark's contextual lexer."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        levels = [0]
        depth = 0
        last: Token | None = None
        for token in stream:
            last = token
            if token.type in ("LPAR", "LSQB"):
                depth += 1
            elif token.type in ("RPAR", "RSQB"):
                depth = max(depth - 1, 0)
            if token.type != "_NL":
                yield token
                continue
            if depth:
                continue
            yield token
            indent = indent_width(token.value.rsplit("\n", 1)[-1])
            if indent > levels[-1]:
                levels.append(indent)
                yield Token.new_borrow_pos("_INDENT", " " * indent, token)
            else:
                while indent < levels[-1]:
                    levels.pop()
                    yield Token.new_borrow_pos("_DEDENT", "", token)
                if indent != levels[-1]:
                    raise IndentationError_(token)
        while len(levels) > 1 and last is not None:
            levels.pop()
            yield Token.new_borrow_pos("_DEDENT", "", last)


@functools.cache
def _lark(fast: bool, transformer: bool) -> Lark:
    """The grammar with the new lexer (`fast`) or lark's contextual one and the indenter."""
    grammar = resources.files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    lexing: dict[str, Any] = (
        {"lexer": FlowLexer} if fast else {"lexer": "contextual", "postlex": _ReferenceIndenter()}
    )
    return Lark(
        grammar,
        parser="lalr",
        transformer=ToAst() if transformer else None,
        maybe_placeholders=True,
        **lexing,
    )


# ---------------------------------------------------------------- what is compared


def _token(t: Token) -> tuple[Any, ...]:
    return (t.type, str(t), t.line, t.column, t.end_line, t.end_column, t.start_pos, t.end_pos)


def _error(exc: Exception) -> tuple[Any, ...]:
    """What an error says: its kind, where, the token, and what was expected."""
    if isinstance(exc, IndentationError_):
        return ("indentation", _token(exc.token))
    if isinstance(exc, UnexpectedCharacters):
        return ("characters", exc.line, exc.column, exc.pos_in_stream, sorted(exc.allowed or ()))
    if isinstance(exc, UnexpectedToken):
        return ("token", _token(exc.token), sorted(exc.expected), sorted(exc.accepts or ()))
    if isinstance(exc, NodeProblem):
        return ("node", exc.diagnostic)
    raise exc


def _tokens(fast: bool, text: str) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
    """Every token the parser is fed (lark's own loop), and the error that stopped it."""
    found: list[tuple[Any, ...]] = []
    interactive = _lark(fast, transformer=False).parse_interactive(text)
    last: Token | None = None
    try:
        for last in interactive.iter_parse():
            found.append(_token(last))
        interactive.feed_eof(last)
    except (UnexpectedInput, IndentationError_) as exc:
        return found, _error(exc)
    return found, None


def _parse(parse: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", parse(text)
    except (UnexpectedInput, IndentationError_, NodeProblem) as exc:
        if isinstance(exc, UnexpectedInput):
            diagnostic = _syntax_diagnostic(exc, Source("x.flow", text))
            return "error", (_error(exc), diagnostic)
        return "error", _error(exc)


def assert_same(text: str) -> None:
    """Tokens, errors and results agree between the reference and the fast path."""
    text = text if text.endswith("\n") else text + "\n"  # as `parse_flow` feeds the parser
    assert _tokens(True, text) == _tokens(False, text)
    reference = _lark(False, transformer=True)
    assert _parse(functools.partial(lalr.parse, _parser()), text) == _parse(reference.parse, text)
    tree = _lark(True, transformer=False)
    assert _parse(functools.partial(lalr.parse, tree), text) == _parse(tree.parse, text)


# ---------------------------------------------------------------- the flows


def _corpus() -> dict[str, str]:
    paths = [
        *sorted(WORKFLOWS.glob("*.flow")),
        *sorted(ACCEPTANCE.glob("**/*.flow") if ACCEPTANCE.is_dir() else []),
        *sorted((ROOT / "docs" / "examples").glob("*.flow")),
        *sorted((ROOT / "tests" / "golden").glob("*.flow")),
    ]
    return {str(p.relative_to(p.parents[1])): p.read_text(encoding="utf-8") for p in paths}


CORPUS = _corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_shipped_flows_lex_and_parse_the_same(name: str) -> None:
    assert_same(CORPUS[name])


def test_odd_inputs_lex_and_parse_the_same() -> None:
    for text in [
        "",
        "\n\n",
        "flow a",
        "flow a\r\nstate s:\r\n    on go -> s\r\n",
        'flow a "unterminated\n',
        "flow a 'single'\n",
        "flow a\n\tstate s\n",
        "flowx a\n",  # a keyword glued to a name, where the state takes only keywords
        'flow a\nstate s:\n    after 3 days -> s\n    at 2026-03-06 16:30: record "x"\n',
        "version 3 days\n",  # DURATION is not taken after `version`: INT, then a name
        "flow a\nstate s:\n        on go -> s\n    on stop -> s\n",  # inconsistent dedent
        "flow a\nfields:\n    n: int = (1 +\n        2)\n",  # a newline inside brackets
        "flow a \\\n  b\n",  # a line continuation
        "flow a\n@\n",
        "flow 中文\nstate 状态:\n    after 2个工作日 -> 状态\n",
        "flow a # comment\n# only a comment\n",
    ]:
        assert_same(text)


# Pieces mutations insert: layout, punctuation, keywords and literals of every terminal.
_PIECES = [
    *"\n\t :()[],=-><|?*/\"'#_\\%.1中“",
    "    ",
    "\n    ",
    "state",
    "final",
    "on",
    "when",
    "every",
    "at",
    "in",
    "not",
    "is set",
    "->",
    "==",
    "3 days",
    "2 working hours",
    "30分钟",
    "17:30",
    "2026-03-06",
    "2026-03-06 16:30",
    "75%",
    "1.5",
    '"text"',
    "# note",
    "within",
    "flow",
]


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(sorted(CORPUS.values())))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "line"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        else:  # repeat a line elsewhere
            lines = text.split("\n")
            line = draw(st.sampled_from(lines))
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_flows_lex_and_parse_the_same(text: str) -> None:
    assert_same(text)


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) > 30
    assert any(Path(name).parent.name == "workflows" for name in CORPUS)
