"""Reading the YAML files a user writes (calendars, scenarios, load profiles): the one safe
loader every one of them goes through, with errors that name the file, the line and the
column, in the caller's own error type.

Safe means bounded, whatever the text: the file is at most `limits.MAX_FILE_BYTES`, lists and
mappings nest at most `limits.MAX_YAML_DEPTH` deep, and a document holds at most
`limits.MAX_YAML_NODES` values with every alias counted as the values it repeats. Anchors and
aliases (`&base`, `*base`) stay usable for what people use them for — repeating a block of
case data — while a "billion laughs" document (aliases of aliases, each doubling the size)
is refused at the alias that passes the budget, before anything is built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from engine import limits
from engine.i18n import Listing, msg


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses documents past the depth and expanded-size limits."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        # PyYAML composes recursively: 50,000 `[` would be a RecursionError, not an error
        self._depth += 1
        try:
            if self._depth > limits.MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.MarkedYAMLError(
                    problem=msg(
                        "lists and mappings nest more than {MAX_YAML_DEPTH} deep (limit "
                        "yaml-depth)",
                        MAX_YAML_DEPTH=limits.MAX_YAML_DEPTH,
                    ),
                    problem_mark=mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node: Node | None = super().compose_document()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root: Node) -> None:
    """Count the values of the document as if every alias were written out (each distinct
    node is counted once and its size remembered, so this is linear in the text), and refuse
    it at the first node whose expansion passes `limits.MAX_YAML_NODES`."""
    sizes: dict[int, int] = {}
    # post-order without recursion: (node, children already pushed?)
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not expanded and children:
            stack.append((node, True))
            stack += ((c, False) for c in children if id(c) not in sizes)
            continue
        size = 1 + sum(sizes[id(c)] for c in children)
        if size > limits.MAX_YAML_NODES:
            raise yaml.MarkedYAMLError(
                problem=msg(
                    "this document would hold more than {MAX_YAML_NODES:,} values once its "
                    "aliases are expanded (limit yaml-nodes)",
                    MAX_YAML_NODES=limits.MAX_YAML_NODES,
                ),
                problem_mark=node.start_mark,
            )
        sizes[id(node)] = size


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml(
    path: Path, what: str, error: type[Exception], loader: type[BoundedLoader] = BoundedLoader
) -> Any:
    """The parsed document of `path`, or `error` saying `PATH[:LINE:COL]: …` what went wrong."""
    try:
        text = limits.read_text(path, what)
    except (OSError, limits.LimitExceeded) as problem:
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else problem
        raise error(msg("{path}: cannot read the {what}: {reason}", path=path, what=what,
                        reason=reason)) from None  # fmt: skip
    except UnicodeDecodeError as problem:
        line, column, reason = limits.not_utf8(problem)
        where = f"{path}:{line}:{column}"
        raise error(msg("{path}: cannot read the {what}: {reason}", path=where, what=what,
                        reason=reason)) from None  # fmt: skip
    return parse_yaml(text, str(path), error, loader)


def parse_yaml(
    text: str, name: str, error: type[Exception], loader: type[BoundedLoader] = BoundedLoader
) -> Any:
    """`read_yaml` for text already in hand (an HTTP body, a test), `name` standing for the
    file in messages."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(problem, "problem", None) or str(problem)
        at = name + where
        said = msg("{path}: not valid YAML: {reason}", path=at,
                   reason=limits.visible(str(reason)))  # fmt: skip
        raise error(said) from None


M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, what: str, model: type[M], error: type[Exception]) -> M:
    """`path` read as YAML and validated as `model` (an empty file is an empty mapping), or
    `error` naming the file and each problem's key path."""
    document = read_yaml(path, what, error) or {}
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise error(msg("{path}: not a valid {what}:\n{problems}", path=path, what=what,
                        problems=validation_problems(exc))) from None  # fmt: skip


MAX_PROBLEMS = 20  # listed of one invalid file; the rest are counted


def validation_problems(exc: ValidationError) -> str:
    """A file's pydantic problems as lines `  steps.2.after: what is wrong (given …)`, the key
    path and the given value cut to size, at most `MAX_PROBLEMS` of them; in the reader's
    language where the problem is one of the common kinds (`problem_text`)."""
    lines: list[str] = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS]:
        where = limits.clip(".".join(str(p) for p in err["loc"]) or "(top)")
        message = problem_text(err)
        given = limits.shorten(err.get("input"))
        quoted = isinstance(err.get("input"), dict | list) or given in message
        shown = "" if quoted else f" ({given})"
        lines.append(msg("  {where}: {problem}{given}", where=where, problem=message, given=shown))
    if len(errors) > MAX_PROBLEMS:
        lines.append(msg("  … and {count:,} more", count=len(errors) - MAX_PROBLEMS))
    return Listing(lines, separator="\n")


def problem_text(err: ErrorDetails) -> str:
    """What pydantic found wrong, said by us for the common kinds (so it can be said in
    Chinese), else pydantic's English; a validator's own message (`ValueError(msg(…))`)
    as it was raised."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    raised = ctx.get("error")
    if kind == "value_error" and isinstance(raised, Exception) and len(raised.args) == 1:
        return str(raised.args[0]) if not isinstance(raised.args[0], str) else raised.args[0]
    if kind in _PROBLEMS:
        return _PROBLEMS[kind](ctx)
    return limits.visible(str(err["msg"]).removeprefix("Value error, "))


_PROBLEMS: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda _: msg("required but not given"),
    "extra_forbidden": lambda _: msg("not a key this file takes"),
    "int_type": lambda _: msg("must be a whole number"),
    "int_parsing": lambda _: msg("must be a whole number"),
    "int_from_float": lambda _: msg("must be a whole number"),
    "float_type": lambda _: msg("must be a number"),
    "float_parsing": lambda _: msg("must be a number"),
    "bool_type": lambda _: msg("must be true or false"),
    "bool_parsing": lambda _: msg("must be true or false"),
    "string_type": lambda _: msg("must be a text"),
    "list_type": lambda _: msg("must be a list"),
    "dict_type": lambda _: msg("must be a mapping"),
    "model_type": lambda _: msg("must be a mapping"),
    "date_parsing": lambda _: msg("must be a date like 2026-03-06"),
    "date_from_datetime_parsing": lambda _: msg("must be a date like 2026-03-06"),
    "datetime_parsing": lambda _: msg("must be a date-time like 2026-03-06 16:30"),
    "datetime_from_date_parsing": lambda _: msg("must be a date-time like 2026-03-06 16:30"),
    "literal_error": lambda ctx: msg("must be one of {expected}", expected=ctx.get("expected")),
    "greater_than_equal": lambda ctx: msg("must be at least {least}", least=ctx.get("ge")),
    "greater_than": lambda ctx: msg("must be more than {least}", least=ctx.get("gt")),
    "less_than_equal": lambda ctx: msg("must be at most {most}", most=ctx.get("le")),
    "less_than": lambda ctx: msg("must be less than {most}", most=ctx.get("lt")),
}
