"""What a load simulation counts (`Tally`), folded in case by case, and how the tallies of
a run's shards add up to the run's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from engine.loadsim.stats import Daily, Quantiles


@dataclass(slots=True)
class Tally:
    """Everything the report is made of, folded in case by case."""

    sla_names: list[str]
    arrivals: int = 0
    opened: int = 0
    closed: int = 0
    excluded: int = 0
    counted: int = 0  # cases the rates are about (opened, not excluded)
    open_at_end: int = 0
    final_states: Counter[str] = field(default_factory=Counter)
    open_states: Counter[str] = field(default_factory=Counter)  # where open cases were at the end
    steps: int = 0
    fired: int = 0
    timers: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    timer_errors: Counter[str] = field(default_factory=Counter)
    sla: dict[str, Counter[str]] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    escalations_by_level: Counter[int] = field(default_factory=Counter)
    escalations_by_role: Counter[str] = field(default_factory=Counter)
    escalated_cases: int = 0
    callbacks_opened: int = 0
    callbacks_done: int = 0
    callbacks_with_due: int = 0
    callbacks_on_time: int = 0
    reopened: int = 0
    repeated: int = 0
    answers: int = 0
    satisfied: int = 0
    reached: Counter[str] = field(default_factory=Counter)
    schedules: Counter[str] = field(default_factory=Counter)  # occurrences, by schedule
    time_to_close: Quantiles = field(default_factory=Quantiles)
    time_in_state: dict[str, Quantiles] = field(default_factory=dict)
    daily: list[Daily] = field(default_factory=list)

    def absorb(self, other: Tally) -> None:
        """Add the tally of another shard of the same run (its cases are other cases)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "sla_names":
                continue
            if f.name == "daily":
                self._absorb_days(theirs)
            elif isinstance(mine, int):
                setattr(self, f.name, mine + theirs)
            elif isinstance(mine, Counter | Quantiles):
                _add(mine, theirs)
            else:  # by name: SLA statuses, time in each state
                for key, value in theirs.items():
                    if key in mine:
                        _add(mine[key], value)
                    else:
                        mine[key] = value

    def _absorb_days(self, days: list[Daily]) -> None:
        # a shard that ran out of cases earlier stopped counting days: after its last day
        # nothing happened to its cases, so that day's standing holds until the end
        mine = self.daily
        if not mine or not days:
            mine.extend(days)
            return
        for longer, shorter in ((mine, days), (days, mine)):
            while len(shorter) < len(longer):
                shorter.append(shorter[-1].standing())
        for day, theirs in zip(mine, days, strict=True):
            day.absorb(theirs)


def _add(into: Counter[Any] | Quantiles, more: Counter[Any] | Quantiles) -> None:
    if isinstance(into, Counter):
        into.update(more)  # type: ignore[arg-type]
    else:
        into.absorb(more)  # type: ignore[arg-type]
