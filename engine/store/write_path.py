"""The write path of a step: a case, its timers, audit records and outbox rows.

Every open, event and timer runs these statements, so they are plain SQL sent straight to the
driver under the caller's SQLAlchemy transaction: compiling a Core statement costs more than
the database spends running it. They are written once with `?` markers (PostgreSQL's driver
gets `%s`); the tables themselves are `schema.py`'s. `Store` inherits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from engine.case import Armed, AuditRecord, Case, Row, audit_row
from engine.errors import ConflictError
from engine.runtime import Step
from engine.store.serialize import case_from_json, case_to_json, dumps, from_us, loads, to_us

_LIVE = "fired_at IS NULL AND cancelled_at IS NULL"
_LOAD_CASE = "SELECT data, row_version, audit_count FROM cases WHERE id = ?"
_CASE_EXISTS = "SELECT 1 FROM cases WHERE id = ?"
_INSERT_CASE = (
    "INSERT INTO cases (id, flow, flow_version, flow_hash, state, closed, row_version, data,"
    " opened_at, updated_at, audit_count) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
)
_SAVE_CASE = (
    "UPDATE cases SET state = ?, closed = ?, row_version = ?, data = ?, updated_at = ?,"
    " audit_count = ? WHERE id = ? AND row_version = ?"
)
_INSERT_AUDIT = (
    'INSERT INTO audit (case_id, seq, at, recorded_at, actor, role, kind, what, "before",'
    ' "after", data, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
_INSERT_TIMER = (
    'INSERT INTO timers (case_id, "key", due_us, ord, token, count, armed_at)'
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CANCEL_TIMER = f'UPDATE timers SET cancelled_at = ? WHERE case_id = ? AND "key" = ? AND {_LIVE}'
_INSERT_OUTBOX = (
    "INSERT INTO outbox (id, case_id, seq, role, message, kind, at, created_us, attempts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
_TIMER_COLUMNS = 'SELECT id, case_id, "key", due_us, ord, token, count FROM timers'
_DUE = f"{_TIMER_COLUMNS} WHERE {_LIVE} AND due_us <= ? ORDER BY due_us, ord, id LIMIT ?"
_DUE_OF_CASE = (
    f"{_TIMER_COLUMNS} WHERE {_LIVE} AND due_us <= ? AND case_id = ?"
    " ORDER BY due_us, ord, id LIMIT ?"
)
_CLAIM = f"SELECT id FROM timers WHERE id = ? AND {_LIVE}"
_MARK_FIRED = (
    f"UPDATE timers SET fired_at = ?, fired_wall_us = ?, late = ?, fired_by = ? WHERE id = ?"
    f" AND {_LIVE}"
)


def now_iso() -> str:
    """The wall clock as stored in `updated_at`, `recorded_at` and `armed_at` columns."""
    return datetime.now(UTC).isoformat()


def wall_us() -> int:
    """The wall clock in µs since the epoch (for lag measurement and leases)."""
    return to_us(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A pending timer as stored."""

    id: int
    case_id: str
    key: str
    due_us: int
    order: int
    token: int
    count: int

    @property
    def due(self) -> datetime:
        """The due time, in UTC."""
        return from_us(self.due_us)


class WritePath:
    """The statements of one step, for the dialect named by `dialect`."""

    dialect: str

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def run(self, conn: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one plain statement on the transaction's driver connection; its cursor."""
        raw: Any = conn.connection.driver_connection
        try:
            return raw.execute(self._sql(sql), params)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy(conn, sql, params, exc) from exc

    def run_many(self, conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Execute one plain statement once per row; the rows it changed."""
        raw: Any = conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy(conn, sql, rows, exc) from exc
        finally:
            cursor.close()

    # ------------------------------------------------------------ cases
    def load_case(
        self,
        conn: Connection,
        case_id: str,
        lock: bool = True,
        skip_locked: bool = False,
        full_audit: bool = True,
    ) -> tuple[Case, int] | None:
        """The case and its row version; locked for update on PostgreSQL when `lock`.

        With `full_audit=False` the earlier audit records are not read: `case.audit_rows`
        holds placeholders (the runtime only counts them, to number the step's new records).
        """
        query = _LOAD_CASE
        if lock and self.dialect == "postgresql":
            query += " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
        row = self.run(conn, query, (case_id,)).fetchone()
        if row is None:
            return None
        if full_audit:
            rows = tuple(audit_row(r) for r in self.audit_records(conn, case_id))
        else:
            rows = (cast(Row, None),) * int(row[2])
        return case_from_json(row[0], rows), int(row[1])

    def audit_records(self, conn: Connection, case_id: str) -> list[AuditRecord]:
        """The case's audit records, oldest first."""
        found = self.run(
            conn,
            'SELECT seq, at, actor, role, kind, what, "before", "after", data, line FROM audit'
            " WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        return [
            AuditRecord(seq, datetime.fromisoformat(at), actor, role, kind, what, before,
                        after, loads(data), line)
            for seq, at, actor, role, kind, what, before, after, data, line in found
        ]  # fmt: skip

    def case_exists(self, conn: Connection, case_id: str) -> bool:
        """Whether a case with this id is stored."""
        return self.run(conn, _CASE_EXISTS, (case_id,)).fetchone() is not None

    def insert_case(self, conn: Connection, case: Case, step: Step) -> None:
        """Store a newly opened case with its first step's timers and notifications."""
        now = now_iso()
        self.run(
            conn,
            _INSERT_CASE,
            (case.id, case.flow, case.version, case.flow_hash, case.state, case.closed,
             case_to_json(case), case.opened_at.isoformat(), now, len(case.audit_rows)),
        )  # fmt: skip
        self._timer_changes(conn, case, {}, None, step)
        self._outbox(conn, case, step)

    def save_step(
        self,
        conn: Connection,
        case: Case,
        row_version: int,
        before: dict[str, Armed],
        fired: TimerRow | None,
        step: Step,
    ) -> int:
        """Write the case after a step (version-checked), its timer changes and outbox rows.

        `before` is the case's timers before the step; audit records go in `insert_audit`.
        Returns the new row version.
        """
        changed = self.run(
            conn,
            _SAVE_CASE,
            (case.state, case.closed, row_version + 1, case_to_json(case), now_iso(),
             len(case.audit_rows), case.id, row_version),
        ).rowcount  # fmt: skip
        if changed != 1:
            raise ConflictError(case.id, 1)
        self._timer_changes(conn, case, before, fired, step)
        self._outbox(conn, case, step)
        return row_version + 1

    def insert_audit(self, conn: Connection, case_id: str, records: Sequence[AuditRecord]) -> None:
        """Append audit records; the (case_id, seq) key rejects a duplicate or a replay."""
        if not records:
            return
        now = now_iso()
        rows = []
        at, stamp = None, ""
        for r in records:
            if r.at is not at:  # a step's records mostly share one instant
                at, stamp = r.at, r.at.isoformat()
            rows.append((case_id, r.seq, stamp, now, r.actor, r.role, r.kind, r.what, r.before,
                         r.after, None if r.data is None else dumps(r.data), r.line))  # fmt: skip
        self.run_many(conn, _INSERT_AUDIT, rows)

    def _timer_changes(
        self,
        conn: Connection,
        case: Case,
        before: dict[str, Armed],
        fired: TimerRow | None,
        step: Step,
    ) -> None:
        """Diff the case's timers before/after the step: end the replaced, insert the new."""
        after = case.timers
        ended = [
            key
            for key, old in before.items()
            if after.get(key) != old and (fired is None or key != fired.key)
        ]  # changed, and not ended by the claim
        new = [a for key, a in after.items() if before.get(key) != a]
        if not (ended or new):
            return
        at = step.record_rows[-1][1].isoformat() if step.record_rows else now_iso()
        for key in ended:
            self.run(conn, _CANCEL_TIMER, (at, case.id, key))
        if new:
            rows = [(case.id, a.key, to_us(a.due), a.order, a.token, a.count, at) for a in new]
            self.run_many(conn, _INSERT_TIMER, rows)

    def _outbox(self, conn: Connection, case: Case, step: Step) -> None:
        if not step.notifications:
            return
        created = wall_us()
        self.run_many(
            conn,
            _INSERT_OUTBOX,
            [
                (n.id, case.id, int(n.id.rpartition("#")[2]), n.role, n.message, n.kind,
                 n.at.isoformat(), created)
                for n in step.notifications
            ],
        )  # fmt: skip

    # ------------------------------------------------------------ timers
    def due_timers(
        self, conn: Connection, now: datetime, limit: int, case_id: str | None = None
    ) -> list[TimerRow]:
        """Live timers due at `now`, oldest first (a plain read: claim each before use)."""
        if case_id is None:
            found = self.run(conn, _DUE, (to_us(now), limit))
        else:
            found = self.run(conn, _DUE_OF_CASE, (to_us(now), case_id, limit))
        return [TimerRow(*r) for r in found]

    def claim_timer(self, conn: Connection, row: TimerRow) -> bool:
        """PostgreSQL: lock the timer row if it is still live, skipping one another worker
        holds. SQLite: nothing to lock (the write transaction holds the file's one write
        lock), so nothing is read: the locked case's own timer is the re-check (a row
        another worker fired meanwhile no longer matches it, see `Service._armed_for`)."""
        if self.dialect != "postgresql":
            return True
        return self.run(conn, _CLAIM + " FOR UPDATE SKIP LOCKED", (row.id,)).fetchone() is not None

    def mark_fired(
        self, conn: Connection, row: TimerRow, at: datetime, late: bool, worker: str
    ) -> bool:
        """End the claimed timer as fired; False if it had already ended."""
        found = self.run(conn, _MARK_FIRED, (at.isoformat(), wall_us(), late, worker, row.id))
        return bool(found.rowcount == 1)


def _as_sqlalchemy(conn: Connection, sql: str, params: Any, exc: Exception) -> Exception:
    """The driver's error as the SQLAlchemy one (IntegrityError, OperationalError, …) that a
    Core statement would have raised, so callers catch one family whichever path wrote; a
    lost connection is invalidated as SQLAlchemy does, so the pool does not hand it out."""
    lost = conn.dialect.is_disconnect(cast(Any, exc), conn.connection.dbapi_connection, None)
    error = DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,
                                connection_invalidated=lost, dialect=conn.dialect)  # fmt: skip
    if lost:
        conn.invalidate(exc)
    return error
