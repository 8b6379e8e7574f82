"""A tight LALR(1) loop over the parse table lark builds from dsl/grammar.lark.

lark's own loop (`ParserState.feed_token`) is general: a method call per token, rules as dict
keys. This one runs the same table with shifts and reductions as small ints, on lark's own
`ParserState` (same stacks, same callbacks), and hands any token the table refuses to lark, so
errors (and `UnexpectedToken.accepts`) are exactly lark's.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedInput
from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser_state import ParseConf, ParserState

# A reduction: how many values it pops, the rule it makes, and the callback building the value
# (None: the rule's value is its one child, as lark's `?rule` with one child gives).
_Rule = tuple[int, str, Callable[[list[Any]], Any] | None]


class _Table:
    """lark's parse table with each action an int: n >= 0 shifts to (or goes to) state n, and
    n < 0 reduces by rule ~n."""

    def __init__(self, parser: Any) -> None:
        callbacks = parser.callbacks
        assert not any(isinstance(key, str) for key in callbacks), "token callbacks unsupported"
        rules: dict[Any, int] = {}
        self.rules: list[_Rule] = []
        self.actions: dict[Any, dict[str, int]] = {}
        for state, row in parser.parse_table.states.items():
            compact: dict[str, int] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    compact[sys.intern(str(symbol))] = arg
                    continue
                if arg not in rules:
                    rules[arg] = len(self.rules)
                    self.rules.append(_rule(arg, callbacks[arg]))
                compact[sys.intern(str(symbol))] = ~rules[arg]
            self.actions[state] = compact
        # (state under, state on top, lookahead) -> the state on top after the one-child
        # `?rule` reductions that lookahead makes there: expressions run through long chains of
        # them (atom -> unary -> product -> … -> expr), each just a change of state.
        self.units: dict[tuple[int, int, str], int] = {}

    def unit_chain(self, key: tuple[int, int, str]) -> int:
        """Fill `units` for `key`: follow the table through one-child reductions."""
        below, state, kind = key
        while True:
            action = self.actions[state].get(kind)
            if action is None or action >= 0 or self.rules[~action][2] is not None:
                break
            state = self.actions[below][self.rules[~action][1]]
        self.units[key] = state
        return state


def _rule(rule: Any, callback: Callable[[list[Any]], Any]) -> _Rule:
    size, origin = len(rule.expansion), sys.intern(str(rule.origin.name))
    if size == 1 and isinstance(callback, ExpandSingleChild):
        return size, origin, None  # lark passes the one child through unfiltered
    return size, origin, _direct(callback, size)


def _direct(callback: Callable[[list[Any]], Any], size: int) -> Callable[[list[Any]], Any]:
    """lark's child filter for a rule that only drops children (keywords, punctuation) as a
    plain pick of the kept ones: the same list reaches the same builder, without lark's
    general loop per reduction. Any other callback is kept as lark made it."""
    if type(callback) is not ChildFilterLALR_NoPlaceholders:
        return callback
    include: list[tuple[int, bool]] = callback.to_include
    if any(expand for _, expand in include):
        return callback
    build: Callable[[list[Any]], Any] = callback.node_builder
    kept = [i for i, _ in include]
    if kept == list(range(size)):
        return build  # every child kept, in order: the popped children are that list
    if not kept:
        return lambda children: build([])
    if len(kept) == 1:
        (only,) = kept
        return lambda children: build([children[only]])
    pick = itemgetter(*kept)
    return lambda children: build(list(pick(children)))


@functools.cache
def _table(parser: Any) -> _Table:
    return _Table(parser)


def parse(lark: Lark, text: str, start: str = "start") -> Any:
    """What `lark.parse(text)` returns (or raises), for an LALR `Lark` built with a lexer
    class that reads `parser_state.state_stack` lazily, as `dsl.lexer.FlowLexer` does."""
    frontend: Any = lark.parser
    parser = frontend.parser.parser  # lark's LALR `_Parser`: parse table and callbacks
    table = _table(parser)
    actions, rules, units = table.actions, table.rules, table.units
    thread = frontend._make_lexer_thread(text)
    state = ParserState(ParseConf(parser.parse_table, parser.callbacks, start), thread)
    stack, values = state.state_stack, state.value_stack
    push_state, push_value = stack.append, values.append
    token: Token | None = None
    try:
        for token in thread.lex(state):
            kind = token.type
            while True:
                action = actions[stack[-1]].get(kind)
                if action is None:
                    state.feed_token(token)  # raises lark's UnexpectedToken
                    raise AssertionError("lark accepted a token its table refuses")
                if action >= 0:
                    push_state(action)
                    push_value(token)
                    break
                size, origin, callback = rules[~action]
                if callback is None:  # one-child `?rule`s: the child stays as the value
                    key = (stack[-2], stack[-1], kind)
                    top = units.get(key)
                    stack[-1] = table.unit_chain(key) if top is None else top
                    continue
                if size:
                    children = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    children = []
                push_value(callback(children))
                push_state(actions[stack[-1]][origin])
        end = Token.new_borrow_pos("$END", "", token) if token else Token("$END", "", 0, 1, 1)
        return state.feed_token(end, True)
    except UnexpectedInput as exc:
        exc.interactive_parser = InteractiveParser(parser, state, thread)
        raise
