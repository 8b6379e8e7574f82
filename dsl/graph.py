"""`flow graph`: a compiled flow drawn as a Mermaid state diagram, Graphviz dot, or SVG.

Both drawings show the same things: states (label and name), the initial and final states,
transitions labelled with event, guard and roles, automatic (`when …`) and timer (`⏱ after …`)
transitions, a note per state for what does not leave it (internal transitions, timers
without a target, tasks), and the SLAs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from engine import definition as d
from engine.i18n import msg

FONT = "Noto Sans CJK SC"
INSTALL_HINT = msg(
    "Graphviz is not installed: the `dot` program was not found on PATH. "
    "Install it with `apt-get install graphviz` (plus `fonts-noto-cjk` for Chinese text in "
    "PNG/PDF output), or use `--format mermaid` or `--format dot`, which need nothing installed."
)

EdgeKind = Literal["event", "auto", "timer"]


class GraphvizMissing(Exception):
    """`dot` is not on PATH, so SVG cannot be rendered."""


# ---------------------------------------------------------------- expressions as flow text

_PRECEDENCE = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "in": 4, "not in": 4, "+": 5, "-": 5, "*": 6, "/": 6}  # fmt: skip
_NOT, _COMPARE, _SUM, _NEG, _ATOM = 3, 4, 5, 7, 8


def expr_text(expr: d.Expr, context: int = 0) -> str:
    """An expression written back in flow syntax (parenthesised only where needed)."""
    text, precedence = _expr(expr)
    return f"({text})" if precedence < context else text


def _expr(e: d.Expr) -> tuple[str, int]:
    if isinstance(e, d.Lit):
        return _literal(e), _ATOM
    if isinstance(e, d.DurationLit):
        return e.duration.text or _duration(e.duration), _ATOM
    if isinstance(e, d.Var):
        return e.name, _ATOM
    if isinstance(e, d.FuncCall):
        return f"{e.func}({', '.join(expr_text(a) for a in e.args)})", _ATOM
    if isinstance(e, d.TableCall):
        return f"{e.table}({', '.join(expr_text(a) for a in e.args)})", _ATOM
    if isinstance(e, d.ListOf):
        return f"[{', '.join(expr_text(i) for i in e.items)}]", _ATOM
    if isinstance(e, d.Not):
        return f"not {expr_text(e.arg, _NOT)}", _NOT
    if isinstance(e, d.Neg):
        return f"-{expr_text(e.arg, _NEG)}", _NEG
    if isinstance(e, d.IsSet):
        return f"{expr_text(e.arg, _SUM)} {e.op}", _COMPARE
    precedence = _PRECEDENCE[e.op]
    if precedence == _COMPARE:  # comparisons do not chain: both sides are sums
        left, right = expr_text(e.left, _SUM), expr_text(e.right, _SUM)
    else:  # left-associative
        left, right = expr_text(e.left, precedence), expr_text(e.right, precedence + 1)
    return f"{left} {e.op} {right}", precedence


def _literal(lit: d.Lit) -> str:
    value = lit.value
    if lit.type in ("text", "choice"):
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if lit.type == "datetime":
        return str(value)[:16].replace("T", " ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _duration(duration: d.Duration) -> str:
    if duration.unit == "working_days":
        return f"{duration.amount} working days"
    if duration.unit == "working_seconds":
        return f"{duration.amount // 3600} working hours"
    return f"{duration.amount // 60}m"


# ---------------------------------------------------------------- what is drawn


@dataclass(frozen=True)
class Edge:
    """One arrow between two states."""

    source: str
    target: str
    label: str
    kind: EdgeKind


def _who(target: d.Expr) -> str:
    """A notify/assign target: a role by its bare name, a field or table call as written."""
    if isinstance(target, d.Lit) and isinstance(target.value, str):
        return target.value
    return expr_text(target)


def action_text(action: d.Action) -> str:
    """An action in a few words (no message texts): `notify 工程部`, `escalate to 主管`."""
    if isinstance(action, d.SetField):
        return f"set {action.field} = {expr_text(action.value)}"
    if isinstance(action, d.Notify):
        return "notify " + ", ".join(_who(t) for t in action.targets)
    if isinstance(action, d.Assign):
        return f"assign to {_who(action.target)}"
    if isinstance(action, d.Escalate):
        return f"escalate to {action.role}"
    if isinstance(action, d.OpenCallback):
        within = f" within {action.within.text}" if action.within else ""
        return f"callback to {action.role}{within}"
    if isinstance(action, d.Record):
        return "record"
    if isinstance(action, d.Emit):
        return f"emit {action.event}"
    if isinstance(action, d.IfAction):
        otherwise = f" else {_actions(action.otherwise)}" if action.otherwise else ""
        return f"if {expr_text(action.condition)}: {_actions(action.then)}{otherwise}"
    return f"call {action.hook}({', '.join(expr_text(a) for a in action.args)})"


def wall_rule_text(wall: d.WallRule) -> str:
    """`month on day 10 or the working day before`, `quarter on last working day`, …"""
    period = "quarter" if wall.quarterly else "month"
    if wall.rule == "working_day_of_month":
        which = "last" if wall.month_day == -1 else f"{wall.month_day}"
        return f"{period} on last working day" if which == "last" else \
            f"{period} on working day {which}"  # fmt: skip
    shift = {-1: " or the working day before", 1: " or the working day after"}.get(wall.shift, "")
    return f"{period} on day {wall.month_day}{shift}"


def _actions(actions: tuple[d.Action, ...]) -> str:
    return ", ".join(action_text(a) for a in actions)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def timer_text(timer: d.TimerDef) -> str:
    """When a timer fires, in flow words: `after 24h`, `every working day at 17:30`."""
    if timer.kind == "after" and timer.duration:
        return f"after {timer.duration.text or _duration(timer.duration)}"
    if timer.kind == "every" and timer.duration:
        times = f" at most {timer.max_times} times" if timer.max_times else ""
        return f"every {timer.duration.text or _duration(timer.duration)}{times}"
    if timer.kind == "wall" and timer.wall:
        wall = timer.wall
        rule = {"day": "day", "working_day": "working day"}.get(wall.rule)
        if wall.rule == "weekday" and wall.weekday is not None:
            rule = _WEEKDAYS[wall.weekday]
        elif wall.rule in ("month_day", "working_day_of_month"):
            rule = wall_rule_text(wall)
        times = f" at most {timer.max_times} times" if timer.max_times else ""
        return f"every {rule} at {wall.hour:02d}:{wall.minute:02d}{times}"
    return f"at {expr_text(timer.at) if timer.at else '?'}"


def _event(t: d.TransitionDef) -> str:
    params = ", ".join(p.name + "?" * p.optional for p in t.params)
    text = f"{t.event}({params})" if params else t.event
    if t.guard is not None:
        text += f" [{expr_text(t.guard)}]"
    if t.roles or t.holders:  # a `by FIELD` shows as the field's name
        text += f" (by {', '.join((*t.roles, *t.holders))})"
    return text


def edges(defn: d.FlowDefinition) -> list[Edge]:
    """Every arrow of the flow, state by state in file order (events, automatic, timers)."""
    found: list[Edge] = []
    for state in defn.states:
        for t in state.transitions:
            if t.target is not None:
                found.append(Edge(state.name, t.target, _event(t), "event"))
        for a in state.automatic:
            when = "all tasks done" if a.all_tasks_done or a.guard is None else expr_text(a.guard)
            found.append(Edge(state.name, a.target, f"when {when}", "auto"))
        for timer in state.timers:
            if timer.target is not None:
                found.append(Edge(state.name, timer.target, f"⏱ {timer_text(timer)}", "timer"))
    return found


def state_notes(state: d.StateDef) -> list[str]:
    """What happens in a state without leaving it: internal transitions, timers, tasks."""
    notes = []
    for t in state.transitions:
        if t.target is None:
            actions = f": {_actions(t.actions)}" if t.actions else ""
            notes.append(f"on {_event(t)}{actions}")
    for timer in state.timers:
        if timer.target is None:
            notes.append(f"⏱ {timer_text(timer)}: {_actions(timer.actions)}")
    for task in state.tasks:
        text = f"task {task.name}" + (f" {task.label}" if task.label else "")
        if task.roles:
            text += f" (by {', '.join(task.roles)})"
        if task.within:
            text += f" within {task.within.text}"
        if task.overdue:
            text += f"; overdue: {_actions(task.overdue)}"
        notes.append(text)
    return notes


def sla_lines(sla: d.SlaDef) -> list[str]:
    """An SLA in a few lines: `SLA reply 24h: received → replied, closed`, then warnings, breach."""
    label = f" ({sla.label})" if sla.label else ""
    pause = f", paused in {', '.join(sla.pause)}" if sla.pause else ""
    lines = [f"SLA {sla.name}{label} {sla.within.text}: {sla.start} → {', '.join(sla.stop)}{pause}"]
    for warning in sla.warnings:
        when = f"{warning.percent:g}%" if warning.percent is not None else ""
        if warning.before is not None:
            when = f"{warning.before.text} before"
        lines.append(f"warn {when}" + (f": {_actions(warning.actions)}" if warning.actions else ""))
    if sla.breach:
        lines.append(f"breach: {_actions(sla.breach)}")
    return lines


def sla_text(sla: d.SlaDef) -> str:
    """One SLA on one line: `SLA reply 24h: received → replied, closed; warn 75%; breach: …`."""
    return "; ".join(sla_lines(sla))


def display_name(state: d.StateDef) -> str:
    """`已受理 received`: the label first (when there is one), then the name."""
    return f"{state.label} {state.name}" if state.label else state.name


# ---------------------------------------------------------------- Mermaid


def _mermaid_label(text: str) -> str:
    """Mermaid ends a label at ASCII `:` or `;`: use the full-width forms."""
    return text.replace(":", "：").replace(";", "；").replace("\n", " ")


def _mermaid_description(text: str) -> str:
    """A state description also ends at `"`."""
    return _mermaid_label(text).replace('"', "＂")


def _mermaid_note(text: str) -> str:
    return re.sub(r"end\s+note", "end‧note", text.replace("\n", " "), flags=re.IGNORECASE)


def to_mermaid(defn: d.FlowDefinition) -> str:
    """A Mermaid `stateDiagram-v2`: ASCII ids (`s0`…) with Chinese display names."""
    ids = {state.name: f"s{i}" for i, state in enumerate(defn.states)}
    title = f"{defn.label} ({defn.name})" if defn.label else defn.name
    lines = ["stateDiagram-v2", f"    %% {_mermaid_note(title)}, version {defn.version}"]
    for state in defn.states:
        description = _mermaid_description(display_name(state))
        lines.append(f'    state "{description}" as {ids[state.name]}')
    lines.append(f"    [*] --> {ids[defn.initial]}")
    for edge in edges(defn):
        arrow = f"{ids[edge.source]} --> {ids[edge.target]}"
        lines.append(f"    {arrow} : {_mermaid_label(edge.label)}")
    finals = [ids[s.name] for s in defn.states if s.final]
    lines += [f"    {sid} --> [*]" for sid in finals]
    for state in defn.states:
        lines += _mermaid_note_block(f"right of {ids[state.name]}", state_notes(state))
    for start in dict.fromkeys(sla.start for sla in defn.slas):
        texts = [line for sla in defn.slas if sla.start == start for line in sla_lines(sla)]
        lines += _mermaid_note_block(f"left of {ids[start]}", texts)
    if finals:
        lines.append("    classDef final fill:#eeeeee,stroke:#333333,stroke-width:3px")
        lines.append(f"    class {','.join(finals)} final")
    return "\n".join(lines) + "\n"


def _mermaid_note_block(where: str, texts: list[str]) -> list[str]:
    if not texts:
        return []
    return [f"    note {where}", *(f"        {_mermaid_note(t)}" for t in texts), "    end note"]


# ---------------------------------------------------------------- Graphviz


def dot_quote(text: str) -> str:
    """A DOT double-quoted string (backslashes and quotes escaped, newlines as `\\n`)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _left_lines(texts: list[str]) -> str:
    """Left-justified lines in a DOT label (each ends in `\\l`)."""
    return "".join(dot_quote(t)[1:-1] + "\\l" for t in texts)


_EDGE_STYLE: dict[EdgeKind, str] = {
    "event": "",
    "auto": ", style=dotted",
    "timer": ", style=dashed",
}


def to_dot(defn: d.FlowDefinition) -> str:
    """Graphviz dot: left to right, finals with a double border, timers dashed, automatic dotted."""
    title = f"{defn.label} ({defn.name})" if defn.label else defn.name
    font = dot_quote(FONT)
    lines = [
        f"digraph {dot_quote(defn.name)} {{",
        f"    graph [rankdir=LR, fontname={font}, label={dot_quote(title)}, labelloc=t];",
        f"    node [fontname={font}, shape=box, style=rounded];",
        f"    edge [fontname={font}, fontsize=10];",
        '    "__start" [shape=point, width=0.15, label=""];',
    ]
    for state in defn.states:
        label = f"{state.label}\n{state.name}" if state.label else state.name
        final = ", peripheries=2" if state.final else ""
        lines.append(f"    {dot_quote(state.name)} [label={dot_quote(label)}{final}];")
    lines.append(f'    "__start" -> {dot_quote(defn.initial)};')
    for edge in edges(defn):
        source, target = dot_quote(edge.source), dot_quote(edge.target)
        label = f"label={dot_quote(edge.label)}{_EDGE_STYLE[edge.kind]}"
        lines.append(f"    {source} -> {target} [{label}];")
    for state in defn.states:
        notes = state_notes(state)
        if notes:
            lines += _dot_note(f"__note_{state.name}", notes, state.name)
    for sla in defn.slas:
        lines += _dot_note(f"__sla_{sla.name}", sla_lines(sla), sla.start)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_note(node: str, texts: list[str], state: str) -> list[str]:
    return [
        f'    {dot_quote(node)} [shape=note, style="", fontsize=10, label="{_left_lines(texts)}"];',
        f"    {dot_quote(node)} -> {dot_quote(state)} [style=dashed, arrowhead=none];",
    ]


def to_svg(defn: d.FlowDefinition) -> str:
    """SVG rendered by Graphviz's `dot` (GraphvizMissing, with how to install it, when absent)."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing(INSTALL_HINT)
    result = subprocess.run(
        [dot, "-Tsvg"], input=to_dot(defn).encode(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode()
