"""Walking a flow's AST (actions, expressions, message placeholders) and the small
helpers every pass uses to word its messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dsl import ast
from dsl.diagnostics import did_you_mean
from dsl.source import Span
from engine.definition import PLACEHOLDER
from engine.i18n import Listing, msg, msgn

if TYPE_CHECKING:  # the scope and the types use these helpers in turn
    from dsl.checks.scope import Scope
    from dsl.checks.types import Type

# ================================================================ walking the AST


def flat_actions(actions: Iterable[ast.Action]) -> Iterator[ast.Action]:
    """The actions, and those inside each `if` (after it, in order)."""
    for a in actions:
        yield a
        if isinstance(a, ast.If):
            yield from flat_actions(a.then)
            yield from flat_actions(a.otherwise)


def state_actions(state: ast.State) -> Iterator[ast.Action]:
    for m in state.members:
        if isinstance(m, ast.Task):
            yield from flat_actions(m.overdue)
        elif not isinstance(m, ast.Automatic | ast.Wait):
            yield from flat_actions(m.actions)


def flow_actions(flow: ast.Flow) -> Iterator[ast.Action]:
    """Every action of the flow, those inside `if` too: state members, task overdue blocks,
    SLA warnings and breaches."""
    for state in flow.states:
        yield from state_actions(state)
    for sla in flow.slas:
        for w in sla.warnings:
            yield from flat_actions(w.actions)
        yield from flat_actions(sla.breach)


def _action_exprs(action: ast.Action) -> tuple[ast.Expr, ...]:
    if isinstance(action, ast.Set):
        return (action.value,)
    if isinstance(action, ast.Notify):
        return action.targets
    if isinstance(action, ast.Assign):
        return (action.target,)
    if isinstance(action, ast.HookCall):
        return action.args
    if isinstance(action, ast.If):
        return (action.condition,)
    return ()


def action_texts(action: ast.Action) -> tuple[ast.Text, ...]:
    """The messages of an action that may hold `{field}` placeholders."""
    if isinstance(action, ast.Notify):
        return (action.message,)
    if isinstance(action, ast.Record):
        return (action.text,)
    if isinstance(action, ast.Callback):
        return (action.label,)
    if isinstance(action, ast.Escalate) and action.reason is not None:
        return (action.reason,)
    return ()


def flow_exprs(flow: ast.Flow, scope: Scope) -> Iterator[tuple[ast.Expr, ast.Table | None]]:
    """Every top-level expression, with the table whose row holds it (if any)."""
    for f in flow.fields:
        if f.default is not None:
            yield f.default, None
    for state in flow.states:
        for m in state.members:
            if isinstance(m, ast.Transition | ast.Automatic) and m.guard is not None:
                yield m.guard, None
            if isinstance(m, ast.Timer) and m.at is not None:
                yield m.at, None
    for table in flow.tables:
        for row in table.rows:
            yield row.result, table
    for action in scope.actions:
        for e in _action_exprs(action):
            yield e, None


def subexpressions(e: ast.Expr) -> Iterator[ast.Expr]:
    """An expression and all its sub-expressions."""
    todo = [e]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.Call):
            todo.extend(node.args)
        elif isinstance(node, ast.Unary | ast.IsSet):
            todo.append(node.operand)
        elif isinstance(node, ast.Binary):
            todo.extend((node.left, node.right))
        elif isinstance(node, ast.ListExpr):
            todo.extend(node.items)


def placeholders_of(message: ast.Text) -> Iterator[tuple[str, Span]]:
    """The `{name}` placeholders of a message, each with the span of the name in the file."""
    raw_width = message.span.end_column - message.span.column - 2
    exact = message.span.line == message.span.end_line and raw_width == len(_escaped(message.value))
    for match in PLACEHOLDER.finditer(message.value):
        name = match.group(1).strip()
        if not exact:
            yield name, message.span
            continue
        start = match.start(1) + match.group(1).index(name[:1]) if name else match.start(1)
        column = message.span.column + 1 + len(_escaped(message.value[:start]))
        yield name, Span.point(message.span.line, column, len(_escaped(name)))


def placeholder_names(message: ast.Text) -> list[str]:
    """The names of a message's `{name}` placeholders (`placeholders_of` without the spans)."""
    if "{" not in message.value:
        return []
    return [match.group(1).strip() for match in PLACEHOLDER.finditer(message.value)]


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def keyword_span(span: Span, word: str) -> Span:
    """The span of the keyword a member or header starts with."""
    return Span.point(span.line, span.column, len(word))


def member_keyword(m: ast.StateMember) -> str:
    if isinstance(m, ast.Hook):
        return m.kind
    if isinstance(m, ast.Transition):
        return "on"
    if isinstance(m, ast.Automatic):
        return "when"
    if isinstance(m, ast.Task):
        return "task"
    if isinstance(m, ast.Wait):
        return "wait"
    return {"after": "after", "every": "every", "wall": "every", "at": "at"}[m.kind]


def hint_or(name: str, known: Iterable[str], otherwise: str) -> str:
    """`did you mean …?` when a known name is close, else the fallback advice."""
    return did_you_mean(name, known) or otherwise


_LISTED = 8  # a help line names at most this many choices; a long list helps nobody


def listed(names: Iterable[str], none: str = msg("none yet")) -> str:
    shown = [f"`{n}`" for n in names]
    if len(shown) > _LISTED:
        return msg("{names} … ({count} in all)", names=Listing(shown[:_LISTED]), count=len(shown))
    return Listing(shown) if shown else none


def with_article(t: Type | str) -> str:
    """`an int`, `a text`: the type with its article."""
    return msg("an {type}", type=str(t)) if str(t)[:1] in "aeiou" else msg("a {type}", type=str(t))


def counted(n: int, noun: str) -> str:
    """`1 input`, `3 columns`: a number of table inputs, row columns or function arguments."""
    if noun == "column":
        return msgn("{count} column", "{count} columns", n)
    if noun == "argument":
        return msgn("{count} argument", "{count} arguments", n)
    return msgn("{count} input", "{count} inputs", n)
