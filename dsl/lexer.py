"""The `.flow` lexer: the grammar's own terminals in one regex, indentation in the same pass.

It stands in for lark's contextual lexer plus an indentation post-lexer, token for token
(tests/test_lexer.py checks that differentially), at a fraction of the cost: lark tries a
separate regex per parser state; this lexer matches one regex of all terminals and only
falls back to a per-state regex when the terminal it found is not one the parser accepts.

Why the fast path gives the same token as lark's per-state lexer: both alternations list the
terminals in lark's order (priority, then width), so when the first terminal matching here is
accepted in the state, it is also the first match among the state's terminals. Words need
one more rule, because keywords are strings the NAME regex also matches: lark folds a
keyword into NAME and re-types a NAME whose text is a keyword the state accepts, and in a
state without NAME it matches the keyword alone; both give the keyword when the whole word
is one the state accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.common import LexerConf
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, LexerState, PatternRE, PatternStr, TerminalDef

TAB_STOP = 4
# Newlines inside ( ) and [ ] are not line ends: how each bracket changes the nesting.
_BRACKETS = {"LPAR": 1, "LSQB": 1, "RPAR": -1, "RSQB": -1}


class IndentationError_(Exception):
    """A line dedented to a column that opens no enclosing block."""

    def __init__(self, token: Token) -> None:
        super().__init__("inconsistent indentation")
        self.token = token


def indent_width(whitespace: str) -> int:
    """Columns a line's leading whitespace reaches (a tab goes to the next multiple of 4)."""
    if "\t" not in whitespace:
        return len(whitespace)
    width = 0
    for ch in whitespace:
        width = (width // TAB_STOP + 1) * TAB_STOP if ch == "\t" else width + 1
    return width


def _layout(kind: str, value: str, at: Token) -> Token:
    """An `_INDENT`/`_DEDENT` at the place of `at` (`Token.new_borrow_pos`, without its layers
    of calls: a flow has one every few lines)."""
    token: Token = str.__new__(Token, value)
    token.type, token.value, token.start_pos, token.end_pos = kind, value, at.start_pos, at.end_pos
    token.line, token.column, token.end_line, token.end_column = (
        at.line, at.column, at.end_line, at.end_column
    )  # fmt: skip
    return token


def _lark_order(terminal: TerminalDef) -> tuple[int, int, int, str]:
    """The order lark's lexer tries terminals in: higher priority, then wider, first."""
    return (-terminal.priority, -terminal.pattern.max_width, -len(terminal.pattern.value),
            terminal.name)  # fmt: skip


class _Scanner:
    """One alternation of terminals, built the way lark builds a lexer for a set of them.

    A string terminal that a regex terminal of the same priority matches in full (a keyword
    and NAME) is left out of the alternation; a match of that regex whose text is the string
    is re-typed to the string's terminal (`retype`).
    """

    def __init__(self, terminals: list[TerminalDef], flags: int) -> None:
        terminals = sorted(terminals, key=_lark_order)
        self.retype: dict[str, dict[str, str]] = {}
        folded: set[str] = set()
        for regex in terminals:
            if not isinstance(regex.pattern, PatternRE):
                continue
            for string in terminals:
                text = string.pattern.value
                if (
                    isinstance(string.pattern, PatternStr)
                    and string.priority == regex.priority
                    and _full_match(regex.pattern.to_regexp(), text, flags)
                ):
                    self.retype.setdefault(regex.name, {})[text] = string.name
                    if set(string.pattern.flags) <= set(regex.pattern.flags):
                        folded.add(string.name)
        kept = [t for t in terminals if t.name not in folded]
        self.names = frozenset(t.name for t in kept)
        # Each terminal's pattern is tagged by an empty group after it, so `lastgroup` names it
        # and a pattern starting with a literal is skipped at a glance (a named group around
        # it would hide the literal from the regex engine).
        self.regex = re.compile(
            "|".join(f"{t.pattern.to_regexp()}(?P<{t.name}>)" for t in kept), flags
        )

    def match(self, text: str, pos: int) -> tuple[str, str] | None:
        """The terminal and text matched at `pos` (re-typed to a keyword where lark would)."""
        m = self.regex.match(text, pos)
        if m is None:
            return None
        kind, value = str(m.lastgroup), m.group()
        return self.retype.get(kind, {}).get(value, kind), value


def _full_match(regexp: str, text: str, flags: int) -> bool:
    m = re.match(regexp, text, flags)
    return m is not None and m.group() == text


class FlowLexer(Lexer):
    """Tokens for lark's LALR parser, `_INDENT`/`_DEDENT` included (pass it as `lexer=`).

    Reads the parser's state (`parser_state`) before each token, as lark's contextual lexer
    does, so a word is a keyword only where the grammar accepts that keyword.
    """

    __future_interface__ = 2  # lark calls lex(lexer_state, parser_state)

    def __init__(self, conf: LexerConf) -> None:
        assert not conf.callbacks and not conf.use_bytes, "lexer callbacks are not supported"
        self.terminals: list[TerminalDef] = list(conf.terminals)
        self.by_name = conf.terminals_by_name
        self.ignore = frozenset(conf.ignore)
        self.flags = conf.g_regex_flags
        self.root = _Scanner(self.terminals, self.flags)
        for regex, strings in self.root.retype.items():
            # The fast path's rule for words (module docstring) holds for keywords made of
            # word characters that a word regex (ending in \w*) swallows whole.
            assert self.by_name[regex].pattern.to_regexp().endswith("\\w*"), regex
            assert all(re.fullmatch(r"\w+", s) for s in strings), strings
        # Ignored text (blanks, line continuations) never starts a token, so the fast regex
        # skips all of it before matching one terminal: group 1 ends where the token starts.
        ignored = sorted((self.by_name[name] for name in self.ignore), key=_lark_order)
        skip = "|".join(t.pattern.to_regexp() for t in ignored)
        self.skip = re.compile(f"(?:{skip})*+", self.flags)
        self.fast = re.compile(f"((?:{skip})*+)(?:{self.root.regex.pattern})", self.flags)
        self.by_state: dict[frozenset[str], _Scanner] = {}

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        """Tokens of the text from where `lexer_state` stands, read against `parser_state`."""
        text: str = lexer_state.text.text
        end: int = lexer_state.text.end
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        states: dict[Any, dict[str, Any]] = parser_state.parse_conf.states
        stack: list[Any] = parser_state.state_stack
        match = self.fast.match
        words = self.root.retype  # word terminal -> {keyword: keyword terminal}
        brackets = _BRACKETS
        new_token = str.__new__
        levels = [0]  # columns of the open blocks
        depth = 0  # open ( and [
        last: Token | None = None
        while pos < end:
            m = match(text, pos, end)
            # where the token starts, past ignored text (all of it if no terminal follows)
            start = m.end(1) if m is not None else self._skip(text, pos, end)
            if start != pos and "\n" in text[pos:start]:
                line += text.count("\n", pos, start)
                line_start = text.rindex("\n", pos, start) + 1
            pos = start
            if m is None:
                if pos == end:
                    break
                raise self._unexpected(lexer_state, parser_state, pos, line, line_start, last)
            kind: str = m.lastgroup  # type: ignore[assignment]
            value = text[pos : m.end()]
            accepts = states[stack[-1]]
            keywords = words.get(kind)
            if keywords is not None:  # a word: the keyword it spells, where the state takes that
                keyword = keywords.get(value)
                if keyword is not None and keyword in accepts:
                    kind = keyword
                elif kind not in accepts:
                    kind = ""
            elif kind not in accepts and kind != "_NL":
                kind = ""
            if not kind:  # the state takes another terminal here (rare): ask its own lexer
                found = self._state_scanner(accepts).match(text, pos)
                if found is None:
                    raise self._unexpected(lexer_state, parser_state, pos, line, line_start, last)
                kind, value = found
                assert kind not in self.ignore  # the fast regex skipped all ignored text
            token: Token = new_token(Token, value)
            token.type = kind
            token.value = value
            token.start_pos = pos
            token.line = line
            token.column = pos - line_start + 1
            pos += len(value)
            token.end_pos = pos
            if "\n" in value:
                line += value.count("\n")
                line_start = pos - len(value) + value.rindex("\n") + 1
            token.end_line = line
            token.end_column = pos - line_start + 1
            last = token
            if kind != "_NL":
                if kind in brackets:
                    depth = max(depth + brackets[kind], 0)
                yield token
            elif not depth:
                yield token
                indent = indent_width(value[value.rfind("\n") + 1 :])
                if indent > levels[-1]:
                    levels.append(indent)
                    yield _layout("_INDENT", " " * indent, token)
                else:
                    while indent < levels[-1]:
                        levels.pop()
                        yield _layout("_DEDENT", "", token)
                    if indent != levels[-1]:
                        raise IndentationError_(token)
        while len(levels) > 1 and last is not None:
            levels.pop()
            yield _layout("_DEDENT", "", last)

    def _skip(self, text: str, pos: int, end: int) -> int:
        """Where the ignored text from `pos` ends."""
        skipped = self.skip.match(text, pos, end)
        assert skipped is not None  # `*`: it matches, if only the empty text
        return skipped.end()

    def _state_scanner(self, accepts: dict[str, Any]) -> _Scanner:
        """The alternation lark's contextual lexer uses in a state accepting `accepts`."""
        names = frozenset(name for name in accepts if name in self.by_name)
        scanner = self.by_state.get(names)
        if scanner is None:
            wanted = names | self.ignore | {"_NL"}
            scanner = _Scanner([t for t in self.terminals if t.name in wanted], self.flags)
            self.by_state[names] = scanner
        return scanner

    def _unexpected(
        self, lexer_state: LexerState, parser_state: Any, pos: int, line: int, line_start: int,
        last: Token | None,
    ) -> UnexpectedInput:  # fmt: skip
        """The error lark's contextual lexer raises where no terminal of the state matches: an
        unexpected token if some terminal of the grammar matches there, else characters."""
        text = lexer_state.text.text
        scanner = self._state_scanner(parser_state.parse_conf.states[parser_state.position])
        allowed = set(scanner.names - self.ignore) or {"<END-OF-FILE>"}
        column = pos - line_start + 1
        lexer_state.last_token = last
        counter = lexer_state.line_ctr
        counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
        counter.column = column
        found = self.root.match(text, pos)
        if found is None:
            return UnexpectedCharacters(  # type: ignore[no-untyped-call]
                text, pos, line, column, allowed=allowed, token_history=last and [last],
                state=parser_state, terminals_by_name=self.by_name,
            )  # fmt: skip
        kind, value = found
        token = Token(kind, value, pos, line, column, line, column + len(value), pos + len(value))
        return UnexpectedToken(  # type: ignore[no-untyped-call]
            token, allowed, state=parser_state, token_history=[last],
            terminals_by_name=self.by_name,
        )  # fmt: skip
