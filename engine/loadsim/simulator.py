"""The load simulation: months of cases in virtual time, straight through the pure runtime.

One heap orders everything that can happen: arrivals, the cases' timers (from `Step.armed`),
the events people fire (drawn from the profile) and the end of staff work. Items are taken
in due order; a timer is still valid only while the case holds it unchanged (as in
`Engine`), an event only while the case is still in the state entry that planned it. A case
is folded into the statistics and dropped as soon as it closes, so memory follows the number
of open cases, not the number of cases.
"""

from __future__ import annotations

import gc
import heapq
import random
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from engine import limits
from engine.calendar import Calendar
from engine.case import SLA_STATUS_AT, AuditRecord, Callback, Case, Escalation, SlaClock
from engine.correlation import CaseIndex, key_values
from engine.definition import ScheduleDef
from engine.errors import EventRefused, FlowRuntimeError, InvalidData
from engine.fields import elapsed
from engine.loadsim.behaviour import Act, Plan, compile_states, role_of, values_of
from engine.loadsim.fit import check_profile
from engine.loadsim.profile import MAX_CASES, MAX_DAYS, Profile, ProfileError
from engine.loadsim.sampling import ArrivalStream
from engine.loadsim.stats import Daily, Quantiles
from engine.loadsim.tally import Tally
from engine.runtime import FlowRuntime, Step
from engine.schedules import following

ONE_DAY = timedelta(days=1)
# rank at one instant: timers first, then people, then arrivals
_TIMER, _HUMAN, _ARRIVAL = 0, 1, 2
# A heap item is `(due, rank, order, seq, kind, case number, payload)`; `kind` says what it
# is. A job's payload is the `_Job` itself (`_K_WAITED`: its lead time is over, `_K_WORKED`:
# its unstaffed work is done), a staffed one's is `(queue, job)` (`_K_JOB`: work done).
_K_ARRIVAL, _K_TIMER, _K_WAITED, _K_WORKED, _K_JOB, _K_SCHEDULE = 0, 1, 2, 3, 4, 5
SCHEDULED_FIRST = 10**9  # numbers of the cases schedules open (arrivals count from 1)
_JOB_KINDS = (_K_WORKED, _K_WAITED)
_ENTRY_KINDS = frozenset({"opened", "event", "timer", "automatic"})
# positions in an audit row (steps are read as rows: no AuditRecord per record)
_KIND, _WHAT, _BEFORE, _AFTER = (
    AuditRecord._fields.index(f) for f in ("kind", "what", "before", "after")
)
# positions in the case's callback, escalation and SLA rows (read as rows, not NamedTuples)
_CB_DUE, _CB_DONE = Callback._fields.index("due"), Callback._fields.index("done_at")
_ESC_LEVEL, _ESC_ROLE = Escalation._fields.index("level"), Escalation._fields.index("role")
_SLA_WARNED = SlaClock._fields.index("warned")
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class _Live:
    """What the simulator remembers about one open case."""

    no: int
    case: Case
    state: str | None = None  # the state the case was in after its last step
    entered: datetime | None = None
    entries: int = 0
    seen: set[str] = field(default_factory=set)
    reopened: bool = False
    escalations: int = 0
    callbacks_opened: int = 0
    callbacks_done: int = 0
    callback_rows: tuple[Any, ...] = ()  # the case's `callback_rows` when last counted
    visits: list[tuple[str, float]] = field(default_factory=list)  # (state, seconds held)
    answers: list[bool] = field(default_factory=list)  # values of the satisfied field given


@dataclass(slots=True)
class _Job:
    """An action under way for a case: which branch, which step, for which state entry."""

    queued: datetime
    no: int
    token: int  # the case's `entries` when planned: a later entry makes the job stale
    plan: Plan
    index: int


@dataclass(slots=True)
class RoleQueue:
    """A staffed role: at most `capacity` of its events in work at once, the rest wait (FIFO)."""

    capacity: int
    calendar: Calendar
    busy: int = 0
    waiting: deque[_Job] = field(default_factory=deque)
    jobs: int = 0
    max_waiting: int = 0
    work_seconds: float = 0.0
    wait: Quantiles = field(default_factory=Quantiles)


@dataclass(slots=True)
class SimResult:
    """A finished run: its settings, the tally, the staffed roles and (optionally) the cases."""

    runtime: FlowRuntime
    profile: Profile
    cases: int
    days: int
    seed: int
    start: datetime
    end: datetime
    tally: Tally
    queues: dict[str, RoleQueue]
    notes: list[str]
    kept: list[Case] | None = None


class Simulation:
    """One run of `cases` cases of a flow over `days` days, driven by a profile."""

    def __init__(
        self,
        runtime: FlowRuntime,
        calendars: Mapping[str, Calendar],
        profile: Profile,
        *,
        cases: int,
        days: int,
        seed: int,
        start: date,
        keep_cases: bool = False,
        progress: Progress | None = None,
        shard: int = 0,
        shards: int = 1,
    ) -> None:
        self.runtime, self.profile = runtime, profile
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} of {shards}")
        # a shard runs the cases whose number is `shard` modulo `shards`, with its own draws
        self.shard, self.shards = shard, shards
        self.n_cases, self.days, self.seed = cases, days, seed
        self.keep = keep_cases
        self.progress = progress
        tz = runtime.calendar.tz
        self.start = datetime.combine(start, time(), tz)
        self.limit = self.start + timedelta(days=days + profile.drain_days)
        self.work = self._calendar(calendars, profile.work_calendar, "work_calendar")
        arrival_calendar = self._calendar(calendars, profile.arrivals.calendar, "arrivals.calendar")
        part = f":{shard}/{shards}" if shards > 1 else ""
        self.rng = random.Random(f"flowdesk-loadsim:{seed}:behaviour{part}")
        if not (1 <= cases <= MAX_CASES and 1 <= days <= MAX_DAYS):
            raise ProfileError(
                f"a run takes 1 to {MAX_CASES:,} cases over 1 to {MAX_DAYS:,} days "
                f"(got {cases:,} cases, {days:,} days)"
            )
        if not limits.MIN_YEAR <= start.year <= limits.MAX_YEAR - 20:
            raise ProfileError(f"start: the year {start.year} is outside what Flowdesk takes")
        try:
            self.stream = ArrivalStream(
                random.Random(f"flowdesk-loadsim:{seed}:arrivals"),
                cases,
                start,
                days,
                profile.arrivals,
                arrival_calendar,
                tz,
            )
        except ValueError as exc:
            raise ProfileError(f"arrivals: {exc}") from None
        self.queues = {
            role: RoleQueue(staff.capacity, self._calendar(calendars, staff.calendar, role))
            for role, staff in profile.staff.items()
        }
        definition = runtime.definition
        self.finals = {s.name for s in definition.states if s.final}
        self.exclude = frozenset(profile.report.exclude)
        self.reopen_states = frozenset(profile.report.reopen_states)
        names = {f.name for f in definition.fields}
        settings = profile.report
        default_repeat = "repeat_count" if "repeat_count" in names else None
        default_satisfied = "satisfied" if "satisfied" in names else None
        self.repeat_field = settings.repeat_field or default_repeat
        self.repeat_window = elapsed(settings.repeat_window)
        self.index = CaseIndex()  # the run's cases by key value (`keys:`)
        runtime.index_cases(self.index)
        self.recent: dict[str, deque[Any]] = {k: deque(maxlen=1000) for k in definition.keys}
        self.satisfied_field = settings.satisfied_field or default_satisfied
        self.notes = check_profile(definition, runtime.schema, profile, self.work, self.start)
        self.plans = compile_states(profile.states, self.rng, self.work)
        self.fields = values_of(profile.fields, self.rng, self.work)
        self.tally = Tally([s.name for s in definition.slas])
        self.tally.sla = {name: Counter() for name in self.tally.sla_names}
        self.live: dict[int, _Live] = {}
        self.kept: list[Case] = []
        self.heap: list[tuple[datetime, int, int, int, int, int, Any]] = []
        self.seq = 0
        self.owed = 0
        self.raised = 0  # steps refused (an exception) since the collector last ran
        self.case_prefix = f"{definition.name}-"
        self.day = Daily()
        self.boundary = self.start + ONE_DAY
        self.scheduled = SCHEDULED_FIRST
        # schedules run through the period at least (then stop with the last case)
        self.schedules_end = (
            self.start + timedelta(days=days) if definition.schedules else self.start
        )
        if shard == 0:  # one shard runs the flow's schedules, so each occurrence happens once
            for schedule in definition.schedules:
                due = following(runtime.calendar, schedule)(self.start)
                self._push(due, _ARRIVAL, 1, 0, _K_SCHEDULE, schedule)

    # ------------------------------------------------------------ set-up
    def _calendar(self, calendars: Mapping[str, Calendar], name: str | None, key: str) -> Calendar:
        if name is None:
            return self.runtime.calendar
        if name not in calendars:
            raise ProfileError(
                f"{key}: no calendar `{name}` (known: {', '.join(sorted(calendars))})"
            )
        return calendars[name]

    # ------------------------------------------------------------ the run
    def run(self) -> SimResult:
        """Run to the end (all cases closed, or `days + drain_days` passed) and tally.

        Python's cyclic garbage collector is paused meanwhile: with thousands of open cases
        its full passes cost about a sixth of the run, and steps make no reference cycles
        worth waiting for (the shipped flows' runs collect nothing at all). Even a pass over
        the young generations costs a day's end some 10-30 ms (a few % of the run), so it is
        only made after a day in which a step was refused or a timer failed: an exception's
        traceback is where a cycle could come from.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> SimResult:
        arrivals = self.stream.numbered(self.shard, self.shards)
        pending = next(arrivals, None)
        if pending is not None:
            self._push(pending[1], _ARRIVAL, 0, pending[0], _K_ARRIVAL, None)
        # the hot loop: attributes and methods read once into locals (`boundary` is
        # re-read after a day closes, `_close_day` moves it)
        heap, pop, open_cases, limit = self.heap, heapq.heappop, self.live, self.limit
        boundary = self.boundary
        now = self.start
        while heap:
            due = heap[0][0]
            if due >= limit:
                break
            if due >= boundary:
                while due >= self.boundary:
                    self._close_day()
                boundary = self.boundary
            _, _, _, _, kind, no, payload = pop(heap)
            now = due
            if kind in _JOB_KINDS:
                live = open_cases.get(no)
                # else the case moved on (a timer, another event) before this happened
                if live is not None and live.case.entries == payload.token:
                    if kind == _K_WORKED:
                        self._fire(live, payload, now)
                    else:
                        self._start(live, payload, now)
            elif kind == _K_TIMER:
                live = open_cases.get(no)
                # the payload is the timer's row, as the case stores it (see `Row`)
                if live is not None and payload in live.case.timer_rows:
                    self._timer(live, payload[0], now)
            elif kind == _K_SCHEDULE:
                if pending is None and not open_cases and now >= self.schedules_end:
                    break  # the period is over and nothing is left but the schedules
                self._occur(payload, now)
                continue
            elif kind == _K_ARRIVAL:
                self._arrive(no, now)
                pending = next(arrivals, None)
                if pending is not None:
                    self._push(pending[1], _ARRIVAL, 0, pending[0], _K_ARRIVAL, None)
                continue
            else:
                self._job_done(open_cases.get(no), payload, now)
            if pending is None and not open_cases and now >= self.schedules_end:
                break
        if self.live:
            last = self.limit
        else:  # everything closed: the report runs to the end of that day (at least `days`)
            last = max(self.start + timedelta(days=self.days), now)
            last = self.start + ONE_DAY * -((self.start - last) // ONE_DAY)
        while self.boundary <= last:
            self._close_day()
        end = self.boundary - ONE_DAY
        for role, queue in self.queues.items():
            queue.waiting = deque(j for j in queue.waiting if self._current(j))
            if queue.waiting:
                self.notes.append(
                    f"staff: {len(queue.waiting)} job(s) of {role} still waiting at the end: "
                    f"a staff of {queue.capacity} cannot keep up with this load"
                )
        for live in list(self.live.values()):
            self._finish(live, end, closed=False)
        return SimResult(
            self.runtime, self.profile, self.n_cases, self.days, self.seed, self.start, end,
            self.tally, self.queues, self.notes, self.kept if self.keep else None,
        )  # fmt: skip

    def _current(self, job: _Job) -> bool:
        """Whether the job's case is still open and in the state entry that planned it."""
        live = self.live.get(job.no)
        return live is not None and live.case.entries == job.token

    def _push(self, due: datetime, rank: int, order: int, no: int, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due, rank, order, self.seq, kind, no, payload))

    def _close_day(self) -> None:
        day = self.day
        day.backlog = len(self.live)
        day.callbacks_owed = self.owed
        self.tally.daily.append(day)
        self.day = Daily()
        self.boundary += ONE_DAY
        if self.raised:  # see `run`
            gc.collect(1)
            self.raised = 0
        if self.progress is not None:
            self.progress(len(self.tally.daily), self.days + self.profile.drain_days)

    # ------------------------------------------------------------ arrivals
    def _arrive(self, no: int, now: datetime) -> None:
        self.tally.arrivals += 1
        data = {}  # a loop, not a comprehension: no function object made per case
        for name, make in self.fields:
            data[name] = make(no, now)
        for name, p in self.profile.repeats.items():  # about the same unit/caller again
            earlier = self.recent[name]
            if earlier and self.rng.random() < p:
                data[name] = earlier[self.rng.randrange(len(earlier))]
        self._open(no, data, now)

    def _occur(self, schedule: ScheduleDef, now: datetime) -> None:
        """A schedule's occurrence: a case it opens runs like an arrival; a summary is
        counted. The next occurrence is planned."""
        self.tally.schedules[schedule.name] += 1
        if schedule.opens:
            self.scheduled += 1
            self._open(self.scheduled, {}, now, schedule.name)
        due = following(self.runtime.calendar, schedule)(now)
        self._push(due, _ARRIVAL, 1, 0, _K_SCHEDULE, schedule)

    def _open(self, no: int, data: dict[str, Any], now: datetime,
              schedule: str | None = None) -> None:  # fmt: skip
        tally = self.tally
        tally.steps += 1
        try:
            step = self.runtime.open(f"{self.case_prefix}{no:06d}", data, None, None, now,
                                     schedule)  # fmt: skip
        except (EventRefused, FlowRuntimeError) as exc:
            tally.refused[f"open: {_reason(exc)}"] += 1
            self.raised += 1
            return
        tally.opened += 1
        self.day.opened += 1
        if self.recent:
            self._relate(step.case, now)
        live = _Live(no, step.case)
        self.live[no] = live
        self._after_step(live, now, self._absorb(live, step, now))

    def _relate(self, case: Case, now: datetime) -> None:
        """Index a new case by its keys; without a repeat field, one that shares a key value
        with a case opened within the repeat window counts as a repeat."""
        keys = self.runtime.definition.keys
        values = key_values(keys, case.fields)
        if self.repeat_field is None and self.repeat_window is not None and values:
            since = now - self.repeat_window
            if self.index.earlier(case.flow, values, since, now, case.id):
                self.tally.repeated += 1
        self.index.add(case, keys)
        for key in values:
            self.recent[key].append(case.fields[key])

    # ------------------------------------------------------------ timers
    def _timer(self, live: _Live, key: str, now: datetime) -> None:
        tally = self.tally
        tally.steps += 1
        try:
            step = self.runtime.fire_timer(live.case, key, now)
        except FlowRuntimeError as exc:
            tally.timer_errors[f"{key}: {exc}"] += 1
            self.raised += 1
            step = self.runtime.drop_timer(live.case, key, str(exc), now)
        if step is None:
            return
        tally.timers += 1
        for row in step.record_rows:  # audit rows (see engine.case.AuditRecord)
            if row[_KIND] == "sla" and row[_WHAT].endswith(": breached"):
                self.day.breaches += 1
        self._after_step(live, now, self._absorb(live, step, now))

    # ------------------------------------------------------------ people
    def _plan(self, live: _Live, now: datetime) -> None:
        """The case entered a state: pick what will happen there (one branch, or nothing)."""
        plans = self.plans.get(live.case.state)
        if not plans:
            return
        r = self.rng.random()
        for plan in plans:
            r -= plan.p
            if r < 0:
                self._schedule(live, plan, 0, now)
                return

    def _schedule(self, live: _Live, plan: Plan, index: int, now: datetime) -> None:
        job = _Job(now, live.no, live.case.entries, plan, index)
        act = plan.acts[index]
        if act.wait is not None:
            self._push(act.wait(now), _HUMAN, 0, live.no, _K_WAITED, job)
        else:
            self._start(live, job, now)

    def _start(self, live: _Live, job: _Job, now: datetime) -> None:
        """The wait is over: hand the work to the role's queue, or just let it take its time."""
        act = job.plan.acts[job.index]
        queue = self.queues.get(role_of(act, live.case.fields) or "") if self.queues else None
        if queue is None:
            self._push(act.delay(now), _HUMAN, 0, live.no, _K_WORKED, job)
            return
        job.queued = now
        queue.waiting.append(job)
        queue.max_waiting = max(queue.max_waiting, len(queue.waiting))
        self._serve(queue, now)

    def _serve(self, queue: RoleQueue, now: datetime) -> None:
        """Start waiting jobs while a member of the role is free."""
        while queue.busy < queue.capacity and queue.waiting:
            job = queue.waiting.popleft()
            live = self.live.get(job.no)
            if live is None or live.case.entries != job.token:
                continue  # the case moved on while the job waited
            begin = queue.calendar.next_open(now)
            seconds = round(job.plan.acts[job.index].seconds())
            done = queue.calendar.add_working_time(begin, timedelta(seconds=seconds))
            queue.busy += 1
            queue.jobs += 1
            queue.work_seconds += seconds
            queue.wait.add((begin - job.queued).total_seconds())
            self._push(done, _HUMAN, 0, job.no, _K_JOB, (queue, job))

    def _job_done(self, live: _Live | None, payload: tuple[RoleQueue, _Job], now: datetime) -> None:
        queue, job = payload
        queue.busy -= 1
        if live is not None and live.case.entries == job.token:
            self._fire(live, job, now)
        self._serve(queue, now)

    def _fire(self, live: _Live, job: _Job, now: datetime) -> None:
        """Fire the job's event, then close the case, plan its new state or go on with the
        branch it is in."""
        tally, case = self.tally, live.case
        plan, index = job.plan, job.index
        act: Act = plan.acts[index]
        role = act.role if act.role_field is None else role_of(act, case.fields)
        if act.literal is not None:  # nothing to draw: a copy, no call per value
            data = dict(act.literal)
        else:  # a loop, not a comprehension: no function object made per event
            no, data = live.no, {}
            for name, make in act.data:
                data[name] = make(no, now)
        tally.steps += 1
        try:
            step = self.runtime.fire(case, act.event, role, role, data, now)
        except (EventRefused, FlowRuntimeError) as exc:
            tally.refused[f"{act.event} in {case.state}: {_reason(exc)}"] += 1
            self.raised += 1
            step = None
        moved = False
        if step is not None:
            tally.fired += 1
            if self.satisfied_field in data:
                live.answers.append(bool(case.fields.get(self.satisfied_field)))
            moved = self._absorb(live, step, now)
        if case.closed_at is None and not moved and index + 1 < len(plan.acts):
            self._schedule(live, plan, index + 1, now)
        else:
            self._after_step(live, now, moved)

    # ------------------------------------------------------------ after every step
    def _absorb(self, live: _Live, step: Step, now: datetime) -> bool:
        """Queue the step's new timers and count what it did; True if the case changed state."""
        if step.armed_rows:
            no, heap, seq, push = live.no, self.heap, self.seq, heapq.heappush
            for row in step.armed_rows:
                _key, due, order, _token, _count, _estimated = row  # an `Armed`
                seq += 1
                push(heap, (due, _TIMER, order, seq, _K_TIMER, no, row))
            self.seq = seq
        case = live.case
        escalations = len(case.escalation_rows)
        if escalations != live.escalations:
            self.day.escalations += escalations - live.escalations
            live.escalations = escalations
        callback_rows = case.callback_rows
        # rows are replaced whole on change: the same tuple means nothing to count again
        if callback_rows and callback_rows is not live.callback_rows:
            live.callback_rows = callback_rows
            opened = len(callback_rows)
            done = sum(1 for row in callback_rows if row[_CB_DONE] is not None)
            if opened != live.callbacks_opened or done != live.callbacks_done:
                self.owed += (opened - live.callbacks_opened) - (done - live.callbacks_done)
                live.callbacks_opened, live.callbacks_done = opened, done
        moved = case.entries != live.entries
        if moved:
            if live.state is not None and live.entered is not None:
                live.visits.append((live.state, (now - live.entered).total_seconds()))
            # the states the step entered (automatic pass-throughs too) and reopenings
            # (inlined: most steps move the case)
            seen, reopen = live.seen, self.reopen_states
            for row in step.record_rows:  # audit rows (see engine.case.AuditRecord)
                after, kind = row[_AFTER], row[_KIND]
                if after is None or kind not in _ENTRY_KINDS:
                    continue
                if after != row[_BEFORE] or kind == "opened":
                    if after in reopen or (not reopen and after in seen):
                        live.reopened = True
                    seen.add(after)
            live.state, live.entered, live.entries = case.state, case.entered_at, case.entries
        if case.audit_rows and not self.keep:  # the log is read: drop it
            case.audit_rows = ()
            case.notified = case.notified[:0]
        return moved

    def _after_step(self, live: _Live, now: datetime, moved: bool) -> None:
        """Close the case, or plan its new state (after a step that is no branch's action:
        `_fire` also goes on with the branch it is in)."""
        if live.case.closed_at is not None:
            self._finish(live, now, closed=True)
        elif moved:
            self._plan(live, now)

    # ------------------------------------------------------------ folding a case in
    def _finish(self, live: _Live, now: datetime, closed: bool) -> None:
        """Fold the case into the tally and drop it (or keep it with --keep-cases)."""
        tally, case = self.tally, live.case
        del self.live[live.no]
        if self.keep:
            self.kept.append(case)
        if closed:
            tally.closed += 1
            self.day.closed += 1
            tally.final_states[case.state] += 1
            if case.state in self.exclude:
                tally.excluded += 1
                return
            tally.time_to_close.add((now - case.opened_at).total_seconds())
        else:
            tally.open_at_end += 1
            tally.open_states[case.state] += 1
        tally.counted += 1
        for state, seconds in live.visits:
            quantiles = tally.time_in_state.get(state)
            if quantiles is None:
                quantiles = tally.time_in_state[state] = Quantiles()
            quantiles.add(seconds)
        tally.reached.update(live.seen)
        clocks = {row[0]: row for row in case.sla_rows}  # SLA rows by name
        for name in tally.sla_names:
            clock = clocks.get(name)
            status = "not_started" if clock is None else clock[SLA_STATUS_AT]
            tally.sla[name][status] += 1
            if clock is not None and clock[_SLA_WARNED]:
                tally.warnings[name] += bin(clock[_SLA_WARNED]).count("1")
        if case.escalation_rows:
            tally.escalated_cases += 1
            for escalation in case.escalation_rows:
                tally.escalations_by_level[escalation[_ESC_LEVEL]] += 1
                tally.escalations_by_role[escalation[_ESC_ROLE]] += 1
        for callback in case.callback_rows:
            tally.callbacks_opened += 1
            done_at, due = callback[_CB_DONE], callback[_CB_DUE]
            tally.callbacks_done += done_at is not None
            if due is not None:
                tally.callbacks_with_due += 1
                tally.callbacks_on_time += done_at is not None and done_at <= due
        if live.reopened:
            tally.reopened += 1
        if self.repeat_field is not None and (case.fields.get(self.repeat_field) or 0) > 0:
            tally.repeated += 1
        tally.answers += len(live.answers)
        tally.satisfied += sum(live.answers)


def _reason(exc: Exception) -> str:
    """A short, bounded reason for a refused event (the class, and fields for bad data)."""
    if isinstance(exc, InvalidData):
        return f"InvalidData ({', '.join(sorted(exc.problems))})"
    if isinstance(exc, FlowRuntimeError):
        return f"FlowRuntimeError: {exc}"
    return type(exc).__name__
