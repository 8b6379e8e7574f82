"""The embedding API: load flows, open cases, fire events, run due timers.

`Engine` keeps cases in memory and timers in a due-ordered heap; it delivers each step's
effects (notifications, hook calls) to what the host registered. Time comes from a clock
object, so the same code runs in virtual time (SimulatedClock) and live (SystemClock).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.calendar import Calendar
from engine.case import AuditRecord, Case, Notifier, Row
from engine.clock import Clock, SimulatedClock
from engine.correlation import CaseIndex
from engine.definition import OPENED_BY_SCHEDULE, FlowDefinition, ScheduleDef
from engine.errors import FlowLoadError, FlowRuntimeError, UnknownCase
from engine.host import Host
from engine.i18n import msg
from engine.registry import Hook
from engine.runtime import FlowRuntime, Step
from engine.schedules import Occurrence, catch_up, following, summaries, summary_text


class Engine(Host):
    """Cases of any number of flows, in memory, run on one clock."""

    def __init__(
        self,
        calendars: Mapping[str, Calendar] | None = None,
        clock: Clock | None = None,
        hooks: Mapping[str, Hook] | None = None,
    ) -> None:
        super().__init__(calendars, clock, hooks)
        self.notifiers: list[Notifier] = []
        self.cases: dict[str, Case] = {}
        # (due, order, seq, case id, key, the timer's row): valid while the case holds the row
        # a schedule's next occurrence is in the heap too, as ("", -1, …, "FLOW SCHEDULE", None)
        self._heap: list[tuple[datetime, int, int, str, str, Row | None]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self.schedules: dict[tuple[str, str], datetime] = {}  # (flow, schedule) → next due
        self.occurrences: list[Occurrence] = []  # every schedule occurrence that happened
        self.schedule_grace = timedelta(seconds=1)  # later than this after due: late
        self.index = CaseIndex()  # cases by key value, for `earlier_cases`/`last_case`

    # ------------------------------------------------------------ set-up
    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        clock: Clock | None = None,
        hooks: Mapping[str, Hook] | None = None,
        calendars: str | Path | None = None,
    ) -> Engine:
        """An engine with every `*.flow` of a folder loaded, on its `calendars.yaml` (or
        `calendars`). FlowLoadError when the folder is missing, holds no flow, or a flow has
        errors (their diagnostics rendered in the message)."""
        from engine.loader import calendars_for

        folder = Path(folder)
        if not folder.is_dir():
            raise FlowLoadError(
                msg("no folder {folder}: give the folder that holds the .flow files", folder=folder)
            )
        paths = sorted(folder.glob("*.flow"))
        if not paths:
            raise FlowLoadError(msg("no .flow files in {folder}", folder=folder))
        explicit = Path(calendars) if calendars else None
        engine = cls(calendars_for(folder / "x.flow", explicit), clock, hooks)
        for path in paths:
            engine.load_file(path)
        return engine

    def load_file(self, path: str | Path) -> FlowRuntime:
        """Compile one `.flow` file on this engine's calendars and load it (FlowLoadError
        with the rendered diagnostics if it has errors)."""
        from engine.loader import compile_flow_file

        return self.load(compile_flow_file(Path(path), self.calendars))

    def add_notifier(self, notifier: Notifier) -> None:
        """Deliver every notification (and escalation) to `notifier` as it happens."""
        self.notifiers.append(notifier)

    def load(self, definition: FlowDefinition) -> FlowRuntime:
        """Make a compiled flow runnable; the newest loaded version serves new cases and
        runs the flow's schedules (their first occurrences are those after now)."""
        runtime = super().load(definition)
        runtime.index_cases(self.index)
        if self.flows.get(definition.name) is runtime:
            for flow, name in [k for k in self.schedules if k[0] == definition.name]:
                del self.schedules[(flow, name)]
            now = self.clock.now()
            for schedule in definition.schedules:
                self._plan(
                    definition.name, schedule.name, following(runtime.calendar, schedule)(now)
                )
        return runtime

    def _plan(self, flow: str, schedule: str, due: datetime) -> None:
        self.schedules[(flow, schedule)] = due
        heapq.heappush(self._heap, (due, -1, next(self._seq), "", f"{flow} {schedule}", None))

    # ------------------------------------------------------------ cases
    def open(
        self,
        flow: str,
        data: Mapping[str, Any] | None = None,
        actor: str | None = None,
        role: str | None = None,
        case_id: str | None = None,
    ) -> Case:
        """Open a case of the newest version of `flow` (its data validated first)."""
        runtime = self.registry.for_new_case(flow)
        case_id = case_id or f"{flow}-{next(self._ids):06d}"
        step = runtime.open(case_id, data or {}, actor, role, self.clock.now())
        self.cases[case_id] = step.case
        self._after(step)
        self.run_due(self.clock.now())
        return step.case

    def fire(
        self,
        case_id: str,
        event: str,
        actor: str | None = None,
        role: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Step:
        """Fire an event now; refused events raise and leave the case exactly as it was."""
        case = self.get(case_id)
        now = self.clock.now()
        step = self.runtime_of(case).fire(case, event, actor, role, data, now)
        self._after(step)
        if self._heap and self._heap[0][0] <= now:
            self.run_due(now)
        return step

    def get(self, case_id: str) -> Case:
        case = self.cases.get(case_id)
        if case is None:
            raise UnknownCase(case_id)
        return case

    def history(self, case_id: str) -> list[AuditRecord]:
        """The case's audit log, oldest first."""
        return list(self.get(case_id).audit)

    # ------------------------------------------------------------ time
    def advance(self, to: datetime) -> list[Step]:
        """Move a simulated clock to `to`, firing every timer due on the way at its due time."""
        if not isinstance(self.clock, SimulatedClock):
            raise TypeError("advance() needs a SimulatedClock; use run_due() with a live clock")
        steps: list[Step] = []
        heap = self._heap
        if not heap or heap[0][0] > to:  # nothing due on the way: the common case
            self.clock.advance_to(to)
            return steps
        while heap and heap[0][0] <= to:
            due = heap[0][0]
            if due > self.clock.now():
                self.clock.advance_to(due)
            steps += self.run_due(due)
        self.clock.advance_to(to)
        return steps

    def run_due(self, now: datetime | None = None) -> list[Step]:
        """Fire every timer due at `now` (default: the clock's now), in due order."""
        now = now or self.clock.now()
        steps = []
        heap, live = self._heap, not isinstance(self.clock, SimulatedClock)
        while heap and heap[0][0] <= now:
            due, _order, _seq, case_id, key, row = heapq.heappop(heap)
            if row is None:
                steps += self._run_schedule(key, due, now, live)
                continue
            case = self.cases.get(case_id)
            if case is None or row not in case.timer_rows:
                continue  # cancelled or re-armed since
            runtime = self.runtime_of(case)
            fired_at = max(due, now) if live else due
            try:
                late = fired_at > due
                step = runtime.fire_armed(case, row, fired_at, late, fired_at if late else None)
            except FlowRuntimeError as exc:
                step = runtime.drop_timer(case, key, str(exc), fired_at)
            self._after(step)
            steps.append(step)
        return steps

    def next_due(self) -> datetime | None:
        """When the next pending timer of any case, or schedule occurrence, falls due."""
        while self._heap:
            due, _o, _s, case_id, key, row = self._heap[0]
            if row is None:
                flow, _, name = key.partition(" ")
                if self.schedules.get((flow, name)) == due:
                    return due
            else:
                case = self.cases.get(case_id)
                if case is not None and row in case.timer_rows:
                    return due
            heapq.heappop(self._heap)
        return None

    def _run_schedule(self, key: str, due: datetime, now: datetime, live: bool) -> list[Step]:
        """Fire a schedule's occurrence(s) due by `now` (by its catch-up policy when late)
        and plan the next one."""
        flow, _, name = key.partition(" ")
        if self.schedules.get((flow, name)) != due:
            return []  # a newer version of the flow re-planned it
        runtime = self.flows[flow]
        schedule = next(x for x in runtime.definition.schedules if x.name == name)
        after = following(runtime.calendar, schedule)
        plan = catch_up(due, now if live else due, after, schedule.catch_up, self.schedule_grace)
        steps: list[Step] = []
        for at, late in plan.fire:
            case_id = None
            if schedule.opens:
                case_id = f"{flow}-{next(self._ids):06d}"
                step = runtime.open(case_id, {}, None, None, max(at, now) if live else at, name)
                self.cases[case_id] = step.case
                self._after(step)
                steps.append(step)
            if schedule.summary_to and self.notifiers:  # written only when someone reads it
                self._summarise(runtime, schedule, at)
            self.occurrences.append(Occurrence(flow, name, at, late, case_id))
        self._plan(flow, name, plan.next_due)
        return steps

    def _summarise(self, runtime: FlowRuntime, schedule: ScheduleDef, at: datetime) -> None:
        flow = runtime.definition.name
        cases = [c for c in self.cases.values() if c.flow == flow and c.closed_at is None]
        text = summary_text(runtime.definition, runtime.calendar, schedule, cases, at)
        for note in summaries(flow, schedule, text, at):
            for notifier in self.notifiers:
                notifier(note)

    def _after(self, step: Step) -> None:
        for row in step.armed_rows:
            key, due, order, _token, _count, _estimated = row  # an `Armed`
            heapq.heappush(self._heap, (due, order, next(self._seq), step.case.id, key, row))
        if self.notifiers:
            for notification in step.notifications:
                for notifier in self.notifiers:
                    notifier(notification)
        if step.hook_calls:
            self._call_hooks((step,))
        if self._keyed:
            keys = self.keys_of(step.case)
            if keys:
                self.index.add(step.case, keys)

    # ------------------------------------------------------------ replay
    def replay(self, case_id: str) -> Case:
        """Rebuild a case from its audit log's inputs alone (a check that the log is complete)."""
        return replay(self.runtime_of(self.get(case_id)), case_id, self.history(case_id))


def replay(runtime: FlowRuntime, case_id: str, records: Iterable[AuditRecord]) -> Case:
    """Re-run the inputs (`opened`, `event`, `timer` records, dropped timers) of an audit log.

    Records an input produced itself (events it emitted, notes) are re-created by re-running
    that input, so a record already reproduced (its `seq` is in the rebuilt log) is skipped.
    """
    case: Case | None = None
    for record in records:
        if record.kind == "opened":
            data = record.data or {}
            by = (
                record.what.removeprefix(OPENED_BY_SCHEDULE)
                if record.what != "case opened"
                else None
            )
            case = runtime.open(case_id, data, record.actor, record.role, record.at, by).case
        elif case is None or record.seq <= len(case.audit):
            continue
        elif record.kind == "event":
            runtime.fire(case, record.what, record.actor, record.role, record.data, record.at)
        elif record.kind == "timer":
            data = record.data or {}
            fired_at = data.get("fired_at")
            runtime.fire_timer(
                case,
                record.what,
                record.at,
                late=bool(data.get("late")),
                fired_at=datetime.fromisoformat(fired_at) if fired_at else None,
            )
        elif record.kind == "note" and record.data and "dropped" in record.data:
            runtime.drop_timer(case, record.data["dropped"], record.data["problem"], record.at)
    if case is None:
        raise ValueError("the audit log has no `opened` record")
    return case
