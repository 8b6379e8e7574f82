"""Scenario coverage: which transitions, timers, SLA warnings and breaches, task-overdue
branches and schedules of a flow the scenarios exercised, read from the cases' audit logs
(and, for schedules, from the occurrences that happened)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.case import AuditRecord
from engine.definition import FlowDefinition
from engine.i18n import msg

CATEGORIES = ("transitions", "timers", "sla warnings", "sla breaches", "task overdue", "schedules")
# what each category is called in a report (the keys above stay in JSON)
CATEGORY_NAMES = {
    "transitions": msg("transitions"),
    "timers": msg("timers"),
    "sla warnings": msg("SLA warnings"),
    "sla breaches": msg("SLA breaches"),
    "task overdue": msg("task overdue"),
    "schedules": msg("schedules"),
}


@dataclass(frozen=True, slots=True)
class Item:
    """One branch of a flow that a scenario can exercise."""

    category: str
    key: tuple[str, str, int]  # (record kind, what or state, line) as found in the audit log
    label: str


def items_of(definition: FlowDefinition) -> list[Item]:
    """Every coverable branch of a flow, in file order."""
    items: list[Item] = []
    for state in definition.states:
        for t in state.transitions:
            target = t.target or "(internal)"
            label = f"{state.name} --{t.event}--> {target} (line {t.line})"
            items.append(Item("transitions", ("event", state.name, t.line), label))
        for a in state.automatic:
            label = f"{state.name} --when--> {a.target} (line {a.line})"
            items.append(Item("transitions", ("automatic", state.name, a.line), label))
        for timer in state.timers:
            label = msg(
                "{state}: {kind} timer (line {line})",
                state=state.name,
                kind=timer.kind,
                line=timer.line,
            )
            items.append(Item("timers", ("timer", f"T:{timer.id}", 0), label))
        for task in state.tasks:
            if task.within is not None:
                label = msg(
                    "{state}: task {task} overdue (line {line})",
                    state=state.name,
                    task=task.name,
                    line=task.line,
                )
                key = ("timer", f"K:{state.name}:{task.name}", 0)
                items.append(Item("task overdue", key, label))
    for sla in definition.slas:
        for i, warning in enumerate(sla.warnings):
            label = msg("SLA {sla}: warning (line {line})", sla=sla.name, line=warning.line)
            items.append(Item("sla warnings", ("timer", f"S:{sla.name}:w{i}", 0), label))
        label = msg("SLA {sla}: breach (line {line})", sla=sla.name, line=sla.line)
        items.append(Item("sla breaches", ("timer", f"S:{sla.name}:breach", 0), label))
    for schedule in definition.schedules:
        label = msg("schedule {schedule} (line {line})", schedule=schedule.name, line=schedule.line)
        items.append(Item("schedules", ("schedule", schedule.name, 0), label))
    return items


def hits_of(records: Iterable[AuditRecord]) -> set[tuple[str, str, int]]:
    """The coverage keys an audit log shows were exercised."""
    hits: set[tuple[str, str, int]] = set()
    for r in records:
        if r.kind in ("event", "automatic") and r.line:
            hits.add((r.kind, r.before or "", r.line))
        elif r.kind == "timer":
            hits.add(("timer", r.what, 0))
    return hits


@dataclass
class FlowCoverage:
    """Coverage of one flow, accumulated over any number of cases."""

    definition: FlowDefinition
    items: list[Item] = field(default_factory=list)
    hits: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.items = items_of(self.definition)

    def add(self, records: Iterable[AuditRecord]) -> None:
        self.hits |= hits_of(records)

    def add_schedules(self, names: Iterable[str]) -> None:
        """Schedules of the flow that had an occurrence."""
        self.hits |= {("schedule", name, 0) for name in names}

    def counts(self) -> dict[str, tuple[int, int]]:
        """category → (exercised, total)."""
        result: dict[str, tuple[int, int]] = {}
        for category in CATEGORIES:
            mine = [i for i in self.items if i.category == category]
            result[category] = (sum(i.key in self.hits for i in mine), len(mine))
        return result

    def missed(self) -> list[Item]:
        return [i for i in self.items if i.key not in self.hits]

    def to_json(self) -> dict[str, object]:
        return {
            "flow": self.definition.name,
            "counts": {k: {"hit": h, "total": t} for k, (h, t) in self.counts().items()},
            "missed": [i.label for i in self.missed()],
        }
