"""The KPI report of real cases: a store's cases opened in a period, tallied into the same
`Tally` a simulation fills, so `build_report` and the renderers show the actual figures in
the forecast's layout — and a forecast of the same period can stand beside them.

Pure: the caller reads the cases (with their audit logs) from wherever they are kept. A case
counts as it stands now (one still open counts as open at the end, like a simulation's).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from engine.case import Case
from engine.loadsim.profile import Profile
from engine.loadsim.simulator import SimResult
from engine.loadsim.stats import Daily, Quantiles
from engine.loadsim.tally import Tally
from engine.runtime import FlowRuntime

_ENTRY_KINDS = frozenset({"opened", "event", "timer", "automatic"})


def actual_result(runtime: FlowRuntime, profile: Profile, cases: Iterable[Case],
                  start: datetime, end: datetime) -> SimResult:  # fmt: skip
    """The tally of the cases opened in [start, end), as a simulation of that period."""
    definition = runtime.definition
    names = {f.name for f in definition.fields}
    report = profile.report
    repeat = report.repeat_field or ("repeat_count" if "repeat_count" in names else None)
    satisfied = report.satisfied_field or ("satisfied" if "satisfied" in names else None)
    exclude, reopen_states = frozenset(report.exclude), frozenset(report.reopen_states)
    days = max(1, math.ceil((end - start) / timedelta(days=1)))
    tally = Tally([s.name for s in definition.slas])
    tally.sla = {name: Counter() for name in tally.sla_names}
    tally.daily = [Daily() for _ in range(days)]
    counted_cases = [c for c in cases if start <= c.opened_at < end]
    for case in counted_cases:
        _fold(tally, case, start, days, exclude, reopen_states, repeat, satisfied)
    _standing(tally, counted_cases, start, days)
    tally.arrivals = tally.opened = len(counted_cases)
    notes = ["actual cases from the store, as they stand now"]
    return SimResult(runtime, profile, len(counted_cases), days, 0, start, end, tally, {}, notes)


def _day(moment: datetime, start: datetime, days: int) -> int | None:
    index = (moment - start) // timedelta(days=1)
    return index if 0 <= index < days else None


def _fold(
    tally: Tally,
    case: Case,
    start: datetime,
    days: int,
    exclude: frozenset[str],
    reopen_states: frozenset[str],
    repeat: str | None,
    satisfied: str | None,
) -> None:
    """One case into the tally: what `Simulation._finish` counts, read from its log."""
    seen: set[str] = set()
    reopened = False
    visits: list[tuple[str, float]] = []
    entered: tuple[str, datetime] | None = None
    for r in case.audit:
        tally.steps += r.kind in ("event", "timer")
        tally.fired += r.kind == "event"
        tally.timers += r.kind == "timer"
        day = _day(r.at, start, days)
        if day is not None:
            tally.daily[day].escalations += r.kind == "escalate"
            tally.daily[day].breaches += r.kind == "sla" and r.what.endswith(": breached")
        if r.kind == "event" and satisfied and r.data and satisfied in r.data:
            tally.answers += 1
            tally.satisfied += bool(r.data[satisfied])
        if (
            r.kind in _ENTRY_KINDS
            and r.after is not None
            and (r.after != r.before or r.kind == "opened")
        ):
            if r.after in reopen_states or (not reopen_states and r.after in seen):
                reopened = True
            seen.add(r.after)
            if entered is not None and entered[0] != r.after and r.at > entered[1]:
                visits.append((entered[0], (r.at - entered[1]).total_seconds()))
            entered = (r.after, r.at)
    opened_day = _day(case.opened_at, start, days)
    if opened_day is not None:
        tally.daily[opened_day].opened += 1
    if case.closed_at is not None:
        tally.closed += 1
        tally.final_states[case.state] += 1
        closed_day = _day(case.closed_at, start, days)
        if closed_day is not None:
            tally.daily[closed_day].closed += 1
        if case.state in exclude:
            tally.excluded += 1
            return
        tally.time_to_close.add((case.closed_at - case.opened_at).total_seconds())
    else:
        tally.open_at_end += 1
        tally.open_states[case.state] += 1
    tally.counted += 1
    for state, seconds in visits:
        tally.time_in_state.setdefault(state, Quantiles()).add(seconds)
    tally.reached.update(seen)
    for name in tally.sla_names:
        clock = case.sla(name)
        tally.sla[name]["not_started" if clock is None else clock.status] += 1
        if clock is not None and clock.warned:
            tally.warnings[name] += bin(clock.warned).count("1")
    if case.escalations:
        tally.escalated_cases += 1
        for e in case.escalations:
            tally.escalations_by_level[e.level] += 1
            tally.escalations_by_role[e.role] += 1
    for cb in case.callbacks:
        tally.callbacks_opened += 1
        tally.callbacks_done += cb.done_at is not None
        if cb.due is not None:
            tally.callbacks_with_due += 1
            tally.callbacks_on_time += cb.done_at is not None and cb.done_at <= cb.due
    tally.reopened += reopened
    tally.repeated += bool(repeat and (case.fields.get(repeat) or 0) > 0)


def _standing(tally: Tally, cases: list[Case], start: datetime, days: int) -> None:
    """Each day's backlog (open at its end) and callbacks owed (opened, not yet done): what
    began by the day's end less what ended by then."""
    backlog, owed = [0] * (days + 1), [0] * (days + 1)

    def span(counts: list[int], began: datetime, ended: datetime | None) -> None:
        counts[min(days, max(0, (began - start) // timedelta(days=1)))] += 1
        if ended is not None:
            counts[min(days, max(0, (ended - start) // timedelta(days=1)))] -= 1

    for case in cases:
        span(backlog, case.opened_at, case.closed_at)
        for cb in case.callbacks:
            span(owed, cb.opened_at, cb.done_at)
    open_now = owing = 0
    for daily, change, owed_change in zip(tally.daily, backlog, owed, strict=False):
        open_now, owing = open_now + change, owing + owed_change
        daily.backlog, daily.callbacks_owed = open_now, owing
