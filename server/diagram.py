"""A flow drawn as an inline SVG with nothing to install (no Graphviz, no script): states in
columns by their distance from the initial state, arrows between them, the case's current
state highlighted. Escaped by Jinja2 like any other text: labels are the flow's own."""

from __future__ import annotations

from dataclasses import dataclass

from dsl.graph import edges
from engine.definition import FlowDefinition

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 150, 40, 70, 22, 12


@dataclass(frozen=True)
class Box:
    name: str
    label: str
    x: int
    y: int
    final: bool
    current: bool


@dataclass(frozen=True)
class Arrow:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str
    back: bool  # drawn as a curve: it goes to an earlier column or its own


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    arrows: list[Arrow]


def layout(definition: FlowDefinition, current: str | None = None) -> Drawing:
    """Columns by breadth-first distance from the initial state (unreached states last)."""
    arrows_of = edges(definition)
    column = {definition.initial: 0}
    frontier = [definition.initial]
    while frontier:
        following = []
        for state in frontier:
            for e in arrows_of:
                if e.source == state and e.target not in column:
                    column[e.target] = column[state] + 1
                    following.append(e.target)
        frontier = following
    last = max(column.values(), default=0) + 1
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for s in definition.states:
        col = column.get(s.name, last)
        row = rows.get(col, 0)
        rows[col] = row + 1
        boxes[s.name] = Box(
            s.name,
            s.label or s.name,
            PAD + col * (BOX_W + GAP_X),
            PAD + row * (BOX_H + GAP_Y),
            s.final,
            s.name == current,
        )
    arrows = []
    seen: set[tuple[str, str]] = set()
    for e in arrows_of:
        if (e.source, e.target) in seen or e.target not in boxes:
            continue
        seen.add((e.source, e.target))
        a, b = boxes[e.source], boxes[e.target]
        back = b.x <= a.x
        arrows.append(
            Arrow(
                a.x + BOX_W,
                a.y + BOX_H // 2,
                b.x if not back else b.x + BOX_W // 2,
                b.y + (BOX_H // 2 if not back else BOX_H),
                e.label,
                back,
            )
        )
    width = PAD * 2 + (max(b.x for b in boxes.values()) + BOX_W if boxes else 0)
    height = PAD * 2 + (max(b.y for b in boxes.values()) + BOX_H if boxes else 0) + 20
    return Drawing(width, height, list(boxes.values()), arrows)
