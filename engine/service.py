"""The durable service: the one place that wires the store, the pure runtime and a clock.

`Service` offers the in-memory `Engine`'s API (open, fire, get, history, run_due) on a
database. Every step — the case, its timers armed and cancelled, its audit records and its
notifications — is written in one transaction, so a crash anywhere leaves the step either
whole or absent. A due timer is claimed, re-checked and applied in that same transaction.

A timer that fires late (the worker was down or busy) takes effect as of its due time —
its audit record is dated at the due time and marked `late`, the wall-clock time of the
commit is kept beside it (`recorded_at`) — so catching up after an outage leaves every case
exactly as an uninterrupted run would have.

Notifications go to an outbox in the step's transaction and are delivered by
`dispatch_outbox` at least once, each with a stable id (`case_id#seq`) for de-duplication.
Hook calls run after the commit, at most once.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Connection

from engine.case import Armed, AuditRecord, Case, Notifier, audit_row, plain
from engine.clock import Clock
from engine.correlation import using
from engine.definition import FlowDefinition, ScheduleDef
from engine.errors import (
    ConflictError,
    FlowLoadError,
    FlowRuntimeError,
    StaleVersion,
    StoreError,
    UnknownCase,
)
from engine.host import Host
from engine.i18n import msg
from engine.registry import Hook
from engine.runtime import FlowRuntime, Step
from engine.schedules import Occurrence, catch_up, following, summaries, summary_text
from engine.store import schedules as stored_schedules
from engine.store.correlation import StoreIndex, index_case
from engine.store.migrate import CaseMigration
from engine.store.migrate import plan as plan_migration
from engine.store.serialize import to_us
from engine.store.sqlstore import Store, TimerRow, wall_us

T = TypeVar("T")

log = logging.getLogger("flowdesk.service")


class Service(Host):
    """Cases of the flows in one folder, kept in a database and run on one clock."""

    store_type: ClassVar[type[Store]] = Store  # the crash tests substitute a broken one

    def __init__(
        self,
        db_url: str,
        workflows_dir: str | Path,
        calendars: str | Path | None = None,
        clock: Clock | None = None,
        hooks: Mapping[str, Hook] | None = None,
        notifier: Notifier | None = None,
        *,
        late_after: timedelta = timedelta(seconds=1),
        worker_id: str | None = None,
        retries: int = 3,
    ) -> None:
        from engine.loader import calendars_for, compile_flow_file

        self.folder = folder = Path(workflows_dir)
        if not folder.is_dir():
            raise FlowLoadError(msg("workflows folder {folder} does not exist", folder=folder))
        explicit = Path(calendars) if calendars else None
        super().__init__(calendars_for(folder / "x.flow", explicit), clock, hooks)
        self.notifier = notifier
        self.late_after = late_after
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:8]}"
        self.retries = retries
        self.store = self.store_type(db_url, application_name=self.worker_id)
        known = sorted((n, str(c.official_data_until)) for n, c in self.calendars.items())
        for path in sorted(folder.glob("*.flow")):
            key = hashlib.sha256(path.read_bytes() + repr(known).encode()).hexdigest()
            definition = self.store.compiled(key) or compile_flow_file(path, self.calendars)
            self.load(self._pinned(definition), source_key=key)

    # ------------------------------------------------------------ flows
    def _pinned(self, definition: FlowDefinition) -> FlowDefinition:
        """The flow bound to the current version of its calendar: cases keep both."""
        calendar = self.calendars.get(definition.calendar)
        if calendar is None:
            return definition  # loading reports the unknown calendar
        return definition.pinned_to(calendar.spec.model_dump(mode="json"))

    def load(self, definition: FlowDefinition, source_key: str | None = None) -> FlowRuntime:
        """Make a compiled flow runnable and remember it in the store; newest serves new cases."""
        runtime = super().load(definition)
        self.store.save_flow(definition, source_key)
        return runtime

    def _unloaded(self, case: Case) -> FlowRuntime:
        """A version no longer on disk runs from its stored definition."""
        definition = self.store.load_flow(case.flow, case.flow_hash)
        if definition is None:
            raise StoreError(
                msg(
                    "case `{id}` runs flow `{flow}` version {version} ({flow_hash}), which "
                    "is neither loaded nor stored",
                    id=case.id,
                    flow=case.flow,
                    version=case.version,
                    flow_hash=case.flow_hash[:12],
                )
            )
        return self.registry.runtime(definition)

    # ------------------------------------------------------------ transactions
    def _transaction(self, case_id: str, body: Callable[[Connection], T]) -> T:
        """Run `body` as one step of a write transaction (shared with concurrent callers'
        steps: group commit), retrying on a concurrent change of the case; returns once the
        transaction holding it has committed."""
        for attempt in range(1, self.retries + 1):
            try:
                result = self.store.commits.run(self._step(case_id, body))
            except ConflictError:
                if attempt == self.retries:
                    raise ConflictError(case_id, attempt) from None
                continue
            self.reached("after_commit", case_id)
            return result
        raise AssertionError("unreachable")

    def _step(self, case_id: str, body: Callable[[Connection], T]) -> Callable[[Connection], T]:
        """`body` as a step of a transaction: the case index at hand, the commit point named."""

        def step(conn: Connection) -> T:
            with using(StoreIndex(conn) if self._keyed else None):
                result = body(conn)
            self.reached("before_commit", case_id)
            return result

        return step

    def _write_step(
        self,
        conn: Connection,
        case: Case,
        version: int,
        before: dict[str, Armed],
        fired: TimerRow | None,
        step: Step,
    ) -> int:
        version = self.store.save_step(conn, case, version, before, fired, step)
        self._index(conn, case)
        self.reached("after_state_update", case.id)
        self._write_audit(conn, case.id, step.records)
        return version

    def _write_audit(self, conn: Connection, case_id: str, records: Sequence[AuditRecord]) -> None:
        """The step's audit rows, in the step's own transaction."""
        self.store.insert_audit(conn, case_id, records)
        self.reached("after_audit_insert", case_id)

    def reached(self, point: str, detail: str = "") -> None:
        """A named point of the write path (after_claim, after_state_update,
        after_audit_insert, before_commit, after_commit, mid_dispatch): nothing happens
        here; the crash tests' subclass (tests/crash_service.py) dies at one."""

    def _index(self, conn: Connection, case: Case) -> None:
        """Index the case under its `keys:` values (flows with keys only)."""
        keys = self.keys_of(case)
        if keys:
            index_case(conn, case, keys)

    # ------------------------------------------------------------ cases
    def open(
        self,
        flow: str,
        data: Mapping[str, Any] | None = None,
        actor: str | None = None,
        role: str | None = None,
        case_id: str | None = None,
    ) -> Case:
        """Open a case of the newest version of `flow`; invalid data writes nothing."""
        runtime = self.registry.for_new_case(flow)
        new_id = case_id or f"{flow}-{uuid.uuid4().hex[:12]}"
        steps: list[Step] = []

        def body(conn: Connection) -> Case:
            steps.clear()
            if self.store.case_exists(conn, new_id):
                raise StoreError(
                    msg(
                        "a case with id `{new_id}` already exists; nothing was written",
                        new_id=new_id,
                    )
                )
            now = self.clock.now()
            step = runtime.open(new_id, data or {}, actor, role, now)
            self.store.insert_case(conn, step.case, step)
            self.store.insert_audit(conn, new_id, step.records)
            self._index(conn, step.case)
            steps.append(step)
            steps.extend(self._due_of_case(conn, runtime, step.case, 1, now)[0])
            return step.case

        case = self._transaction(new_id, body)
        self._call_hooks(steps)
        return case

    def fire(
        self,
        case_id: str,
        event: str,
        actor: str | None = None,
        role: str | None = None,
        data: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> list[Step]:
        """Fire an event now, after the case's own timers already due (each its own step).
        Returns every step applied, the event's last, so a caller can acknowledge each
        (their notifications, hook calls). Refused: raises, and nothing is written; so
        does a case whose version is no longer `expected_version` (StaleVersion)."""
        steps: list[Step] = []

        def body(conn: Connection) -> Step:
            steps.clear()
            case, version = self._locked(conn, case_id, expected_version)
            runtime = self.runtime_of(case)
            now = self.clock.now()
            due, version = self._due_of_case(conn, runtime, case, version, now)
            steps.extend(due)
            before = dict(case.timers)
            step = runtime.fire(case, event, actor, role, data, now)
            self._write_step(conn, case, version, before, None, step)
            steps.append(step)
            return step

        self._transaction(case_id, body)
        self._call_hooks(steps)
        return list(steps)

    def _due_of_case(
        self, conn: Connection, runtime: FlowRuntime, case: Case, version: int, now: datetime
    ) -> tuple[list[Step], int]:
        """Fire the case's timers already due at `now`, in due order, inside this transaction."""
        steps: list[Step] = []
        while any(a.due <= now for a in case.timers.values()):
            rows = self.store.due_timers(conn, now, 1, case_id=case.id)
            if not rows:
                return steps, version
            step, version = self._apply_timer(conn, runtime, case, version, rows[0], now)
            if step is None:
                return steps, version
            steps.append(step)
        return steps, version

    def _armed_for(self, case: Case, row: TimerRow) -> Armed | None:
        """The case's own timer a claimed row stands for, or None if they disagree."""
        armed = case.timers.get(row.key)
        if armed is None or armed.token != row.token or to_us(armed.due) != row.due_us:
            return None
        return armed

    def _apply_timer(
        self,
        conn: Connection,
        runtime: FlowRuntime,
        case: Case,
        version: int,
        row: TimerRow,
        now: datetime,
    ) -> tuple[Step | None, int]:
        """Re-check a claimed timer against the locked case and fire it."""
        armed = self._armed_for(case, row)
        if armed is None:
            # another worker fired the row meanwhile (SQLite takes no claim), or (never
            # expected) it drifted from the case: retire it if still live, fire nothing
            self.store.mark_fired(conn, row, now, False, f"{self.worker_id}:stale")
            return None, version
        if armed.due > now:
            return None, version
        first = runtime.next_due(case)
        if (
            first is not None
            and first != armed
            and (first.due, first.order) < (armed.due, armed.order)
        ):
            return None, version  # an earlier timer of this case is pending: it goes first
        before = dict(case.timers)
        # the timer takes effect as of its due time (so catching up after an outage gives
        # exactly what an uninterrupted run gives); `late` says it really fired later
        at = armed.due
        late = now - armed.due > self.late_after
        try:
            step = runtime.fire_timer(case, row.key, at, late, now if late else None)
        except FlowRuntimeError as exc:
            step = runtime.drop_timer(case, row.key, str(exc), at)
        if step is None:
            return None, version
        self.store.mark_fired(conn, row, at, late, self.worker_id)
        return step, self._write_step(conn, case, version, before, row, step)

    def _locked(self, conn: Connection, case_id: str, expected: int | None) -> tuple[Case, int]:
        loaded = self.store.load_case(conn, case_id, lock=True, full_audit=False)
        if loaded is None:
            raise UnknownCase(case_id)
        if expected is not None and loaded[1] != expected:
            raise StaleVersion(case_id, expected, loaded[1])
        return loaded

    def note(self, case_id: str, what: str, actor: str | None, role: str | None,
             data: Mapping[str, Any] | None = None) -> AuditRecord:  # fmt: skip
        """Append a `note` to the case's audit log (e.g. a hand-over between people): the
        case's state and clocks do not change, its version does."""

        def body(conn: Connection) -> AuditRecord:
            case, version = self._locked(conn, case_id, None)
            shown = dict(data) if data else None
            return self._write_note(
                conn, case, version, dict(case.timers), what, actor, role, shown
            )

        return self._transaction(case_id, body)

    def _write_note(self, conn: Connection, case: Case, version: int, before: dict[str, Armed],
                    what: str, actor: str | None, role: str | None,
                    data: dict[str, Any] | None) -> AuditRecord:  # fmt: skip
        """Write the case (changed in place, e.g. migrated) with a `note` saying why."""
        record = AuditRecord(len(case.audit_rows) + 1, self.clock.now(), actor, role, "note",
                             what, case.state, case.state, data)  # fmt: skip
        case.append_audit((audit_row(record),))
        armed = tuple(plain(a) for k, a in case.timers.items() if before.get(k) != a)
        step = Step(case, armed_rows=armed, record_rows=(audit_row(record),))
        self._write_step(conn, case, version, before, None, step)
        return record

    def read(self, case_id: str) -> tuple[Case, int]:
        """The stored case with its audit log, and its version (for `expected_version`)."""
        with self.store.read() as conn:
            found = self.store.load_case(conn, case_id, lock=False)
        if found is None:
            raise UnknownCase(case_id)
        return found

    def get(self, case_id: str) -> Case:
        """The stored case with its audit log."""
        return self.read(case_id)[0]

    def history(self, case_id: str) -> list[AuditRecord]:
        """The case's audit log, oldest first."""
        records = self.store.history(case_id)
        if records is None:
            raise UnknownCase(case_id)
        return records

    # ------------------------------------------------------------ time
    def run_due(
        self,
        now: datetime | None = None,
        batch: int = 256,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Step]:
        """Fire every timer due now, in due order; the steps taken (see `fire_due`)."""
        return list(self.fire_due(now, batch, should_stop))

    def fire_due(
        self,
        now: datetime | None = None,
        batch: int = 256,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[Step]:
        """Fire every timer due now, in due order, yielding each step once committed (a worker
        catching up on a backlog counts them and keeps none).

        Up to `batch` due timers are read at a time and each is applied as a step of its own
        (claimed, re-checked against the locked case, fired), many steps to a transaction
        (group commit); a timer that fails is logged, left to the next tick, and holds up no
        other. `should_stop` is asked before each batch (a worker told to stop finishes the
        batch in hand and leaves the rest of a backlog for the next start)."""
        seen: set[int] = set()
        while should_stop is None or not should_stop():
            at = now or self.clock.now()
            with self.store.read() as conn:
                due = self.store.due_timers(conn, at, batch)
            rows = [r for r in due if r.id not in seen]
            if not rows:
                break
            seen.update(r.id for r in rows)
            # one step per timer, in due order across cases, many to a transaction
            bodies = [self._step(r.case_id, self._timer_body(r, now)) for r in rows]
            fired: list[Step] = []  # a batch's steps, hooks called, before any is handed out
            for row, outcome in zip(rows, self.store.commits.run_all(bodies), strict=True):
                if isinstance(outcome.error, ConflictError):  # another worker changed it
                    log.info("timer %s of case %s: the case changed meanwhile; retried at the "
                             "next tick", row.key, row.case_id)  # fmt: skip
                elif outcome.error is not None:  # one bad case must not hold up every other
                    log.error("timer %s of case %s failed; retried at the next tick",
                              row.key, row.case_id, exc_info=outcome.error)  # fmt: skip
                else:
                    self.reached("after_commit", row.case_id)
                    step = outcome.value()
                    if step is not None:
                        self._call_hooks((step,))
                        fired.append(step)
            yield from fired
            if len(due) == batch:  # a backlog
                self.store.let_writers_in()

    def fire_timer(self, row: TimerRow, now: datetime | None = None) -> Step | None:
        """Claim one due timer (skipped if gone or taken), re-check it and fire it."""
        step = self._transaction(row.case_id, self._timer_body(row, now))
        if step is not None:
            self._call_hooks((step,))
        return step

    def _timer_body(
        self, row: TimerRow, now: datetime | None
    ) -> Callable[[Connection], Step | None]:
        """The step firing one due timer: claimed (skipped if gone or taken), re-checked
        against the locked case, fired."""

        def body(conn: Connection) -> Step | None:
            if not self.store.claim_timer(conn, row):
                return None  # no longer armed, or another worker holds it
            self.reached("after_claim", f"{row.case_id} {row.key}")
            loaded = self.store.load_case(
                conn, row.case_id, lock=True, skip_locked=True, full_audit=False
            )
            if loaded is None:
                return None  # the case is busy in another transaction: try again later
            case, version = loaded
            at = now or self.clock.now()
            return self._apply_timer(conn, self.runtime_of(case), case, version, row, at)[0]

        return body

    def next_due(self) -> datetime | None:
        """When the next pending timer of any case, or occurrence of a schedule, falls due."""
        with self.store.read() as conn:
            planned = stored_schedules.next_planned(conn)
        dues = [d for d in (self.store.next_due(), planned) if d is not None]
        return min(dues, default=None)

    # ------------------------------------------------------------ schedules
    def run_schedules(self, now: datetime | None = None) -> list[Occurrence]:
        """Fire the flows' schedule occurrences due by `now`, each exactly once whatever the
        number of workers; after downtime each schedule's catch-up policy decides which
        missed occurrences fire (late). A schedule seen for the first time starts after now."""
        happened: list[Occurrence] = []
        for flow, runtime in sorted(self.flows.items()):
            for schedule in runtime.definition.schedules:
                steps: list[Step] = []  # of the cases it opens: their hook calls follow
                happened += self._transaction(
                    f"{flow}/{schedule.name}", self._schedule_body(runtime, schedule, now, steps)
                )
                self._call_hooks(steps)
        return happened

    def _schedule_body(
        self, runtime: FlowRuntime, schedule: ScheduleDef, now: datetime | None, steps: list[Step]
    ) -> Callable[[Connection], list[Occurrence]]:
        def body(conn: Connection) -> list[Occurrence]:
            steps.clear()  # a retried transaction starts over
            return self._run_schedule(conn, runtime, schedule, now, steps)

        return body

    def _run_schedule(
        self,
        conn: Connection,
        runtime: FlowRuntime,
        schedule: ScheduleDef,
        now: datetime | None,
        steps: list[Step],
    ) -> list[Occurrence]:
        flow, name = runtime.definition.name, schedule.name
        at_now = now or self.clock.now()
        after = following(runtime.calendar, schedule)
        current = stored_schedules.state(conn, flow, name, lock=True)
        if current is None:
            stored_schedules.start(conn, flow, name, after(at_now))
            return []
        if current.paused or current.next_due > at_now:
            return []
        plan = catch_up(current.next_due, at_now, after, schedule.catch_up, self.late_after)
        happened: list[Occurrence] = []
        wall = wall_us()
        for due, late in plan.fire:
            if not stored_schedules.claim(conn, flow, name, due, late, self.worker_id, wall):
                continue  # another worker fired this one
            case_id = None
            if schedule.opens:
                case_id = f"{flow}-{uuid.uuid4().hex[:12]}"
                step = runtime.open(case_id, {}, None, None, due, name)
                self.store.insert_case(conn, step.case, step)
                self.store.insert_audit(conn, case_id, step.records)
                self._index(conn, step.case)
                steps.append(step)
                steps += self._due_of_case(conn, runtime, step.case, 1, at_now)[0]
                stored_schedules.opened(conn, flow, name, due, case_id)
            if schedule.summary_to:
                cases = stored_schedules.open_cases(conn, flow)
                text = summary_text(runtime.definition, runtime.calendar, schedule, cases, due)
                stored_schedules.send(conn, summaries(flow, schedule, text, due), wall)
            happened.append(Occurrence(flow, name, due, late, case_id))
        if plan.skipped:
            log.info("schedule %s/%s: %d missed occurrence(s) skipped (catch up %s)",
                     flow, name, plan.skipped, schedule.catch_up)  # fmt: skip
        stored_schedules.plan(conn, flow, name, plan.next_due)
        return happened

    def migrate(
        self, flow: str, to_version: int, apply: bool = False, actor: str | None = None
    ) -> list[CaseMigration]:
        """Plan (and with `apply`, perform) moving open cases of `flow` to `to_version`.

        The policy is `engine.store.migrate`'s; each case moves in its own transaction with
        a `note` audit record listing the changes; blocked cases stay where they are.
        """
        target = self._version(flow, to_version)
        plans: list[CaseMigration] = []
        for case_id in self.store.open_cases_not_on(flow, target.definition.content_hash):
            if not apply:
                with self.store.read() as conn:
                    loaded = self.store.load_case(conn, case_id, lock=False, full_audit=False)
                if loaded is not None:
                    plans.append(
                        plan_migration(loaded[0], self.runtime_of(loaded[0]).definition, target)
                    )
                continue
            plans.append(self._transaction(case_id, self._migrate_one(case_id, target, actor)))
        return plans

    def _migrate_one(
        self, case_id: str, target: FlowRuntime, actor: str | None
    ) -> Callable[[Connection], CaseMigration]:
        def body(conn: Connection) -> CaseMigration:
            loaded = self.store.load_case(conn, case_id, lock=True, full_audit=False)
            if loaded is None:
                raise UnknownCase(case_id)
            case, version = loaded
            p = plan_migration(case, self.runtime_of(case).definition, target)
            if p.blocked:
                return p
            before = dict(case.timers)
            case.fields.update(p.new_fields)
            case.timer_rows = tuple(plain(armed) for armed in p.timers.values())
            case.version = target.definition.version
            case.flow_hash = target.definition.content_hash
            what = f"migrated from version {p.from_version} to {p.to_version}"
            data = {"migrated": {"from": p.from_version, "to": p.to_version}, "changes": p.changes}
            self._write_note(conn, case, version, before, what, actor, None, data)
            return p

        return body

    def _version(self, flow: str, version: int) -> FlowRuntime:
        loaded = self.registry.by_version(flow, version)
        if loaded is not None:
            return loaded
        definition = self.store.flow_by_version(flow, version)
        if definition is None:
            raise StoreError(
                msg(
                    "flow `{flow}` version {version} is neither loaded nor stored; put "
                    "that version's file in the workflows folder",
                    flow=flow,
                    version=version,
                )
            )
        return self.registry.runtime(definition)

    # ------------------------------------------------------------ outbox
    def dispatch_outbox(self, limit: int = 100, lease: float = 30.0) -> int:
        """Deliver pending notifications through the notifier; returns how many were marked.

        Each is delivered at least once: a crash between delivery and marking means it is
        delivered again after the lease; a lost lease means our mark is refused (fenced).
        """
        if self.notifier is None:
            return 0
        delivered = 0
        for row in self.store.claim_outbox(limit, lease):
            self.notifier(row.notification)
            self.reached("mid_dispatch", row.id)
            if self.store.mark_delivered(row):
                delivered += 1
            else:
                log.warning("outbox %s: claim lost before it was marked delivered", row.id)
        return delivered

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()
