"""The Store: cases, timers, audit records and outbox rows in SQLite or PostgreSQL.

SQLite (the default, a file URL like `sqlite:///cases.db`):
- WAL journal, so readers never block the writer;
- the sqlite3 driver runs with `isolation_level=None` and SQLAlchemy's `begin` event issues
  `BEGIN IMMEDIATE` for writers: a deferred transaction that reads and then writes fails at
  once with SQLITE_BUSY_SNAPSHOT when another connection committed in between, whatever the
  busy timeout; an immediate one takes the write lock first and waits for it;
- `busy_timeout` (default 30 s) is how long a writer waits for the lock;
- `synchronous=NORMAL`: in WAL mode a commit survives a crash of the process at any level;
  NORMAL may lose the last commits on a power loss or OS crash (never corrupts the file).
  Pass `synchronous="FULL"` to trade speed for that last guarantee.

PostgreSQL (`postgresql+psycopg://…`): the case row is locked with `SELECT … FOR UPDATE`;
workers claim due timers with `FOR UPDATE SKIP LOCKED`, so several share one database.

Every engine step is written in the caller's one transaction (`Store.write()`); the
per-case `row_version` column backs up the locks: a stale write raises `ConflictError`.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from engine.case import Armed, AuditRecord, Case, Notification, Row, audit_row
from engine.definition import FlowDefinition
from engine.errors import ConflictError, SchemaError, StoreError
from engine.i18n import msg
from engine.runtime import Step
from engine.store import schema as s
from engine.store.serialize import (
    case_from_json,
    case_to_json,
    dumps,
    from_us,
    loads,
    to_us,
)


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


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A notification waiting to be delivered; `id` is stable for de-duplication."""

    id: str
    claim_token: str
    notification: Notification
    attempts: int


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One line of `flow cases`."""

    id: str
    flow: str
    flow_version: int
    state: str
    closed: bool
    opened_at: str
    updated_at: str
    audit_count: int
    pending_timers: int


_LOAD_CASE = select(s.cases.c.data, s.cases.c.row_version, s.cases.c.audit_count).where(
    s.cases.c.id == bindparam("id")
)
_SAVE_CASE = (
    update(s.cases)
    .where(s.cases.c.id == bindparam("case_id"), s.cases.c.row_version == bindparam("old_version"))
    .values(
        state=bindparam("state"),
        closed=bindparam("closed"),
        row_version=bindparam("row_version"),
        data=bindparam("data"),
        updated_at=bindparam("updated_at"),
        audit_count=bindparam("audit_count"),
    )
)
_LOAD_CASE_FOR_UPDATE = _LOAD_CASE.with_for_update()
_LOAD_CASE_SKIP_LOCKED = _LOAD_CASE.with_for_update(skip_locked=True)


def _begin_immediate(dbapi_conn: Any, busy_timeout: float) -> None:
    """`BEGIN IMMEDIATE`, polling for the write lock every ≤ 2 ms.

    SQLite's own busy handler backs off to 100 ms sleeps, so a writer waiting behind a busy
    worker (one short transaction after another) can starve for seconds; polling often gets
    it the lock in the gap between two of the worker's transactions.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.0002
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")


def _iso(t: datetime) -> str:
    return t.isoformat()


def wall_us() -> int:
    """The wall clock in µs since the epoch (for lag measurement and leases)."""
    return to_us(datetime.now(UTC))


class Store:
    """One database holding the cases of any number of flows."""

    # SQLite: take the write lock at BEGIN, so a write transaction never fails half-way on
    # a lock (the crash tests' broken store turns this off to show what that costs)
    immediate_writes: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        application_name: str = "flowdesk",
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                msg("unsupported database `{name}`: use sqlite or postgresql", name=self.dialect)
            )
        self.application_name = application_name
        self.engine: Engine = self._make_engine(url, busy_timeout, synchronous)
        try:
            self._ensure_schema()
        except OperationalError as exc:  # no such folder, no server, refused login, …
            self.engine.dispose()
            raise StoreError(
                msg("cannot open {where}: {reason}", where=self._where(), reason=exc.orig)
            ) from None

    # ------------------------------------------------------------ connections
    def _make_engine(self, url: str, busy_timeout: float, synchronous: str) -> Engine:
        if self.dialect != "sqlite":
            return create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=5,
                connect_args={"application_name": self.application_name},
            )
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous}")
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        immediate = self.immediate_writes

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver must not BEGIN behind our back
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("flowdesk_write", False)
            if write and immediate:
                _begin_immediate(conn.connection.driver_connection, busy_timeout)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: `BEGIN IMMEDIATE` on SQLite; committed when the block ends."""
        with self.engine.connect() as conn:
            conn.execution_options(flowdesk_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    # ------------------------------------------------------------ schema
    def _ensure_schema(self) -> None:
        with self.write() as conn:
            if not self.engine.dialect.has_table(conn, s.schema_info.name):
                if self.engine.dialect.has_table(conn, s.cases.name):
                    raise SchemaError(
                        f"{self._where()} has a `cases` table but no Flowdesk "
                        "schema version: it is not a Flowdesk store"
                    )
                s.metadata.create_all(conn)
                conn.execute(
                    insert(s.schema_info).values(
                        id=1, version=s.SCHEMA_VERSION, written_by="flowdesk"
                    )
                )
                return
            version = conn.execute(select(s.schema_info.c.version)).scalar_one()
            if version > s.SCHEMA_VERSION:
                raise SchemaError(
                    f"{self._where()} has schema version {version}, newer than this Flowdesk "
                    f"understands ({s.SCHEMA_VERSION}); upgrade Flowdesk — nothing was written"
                )
            while version < s.SCHEMA_VERSION:
                s.UPGRADES[version](conn)
                version += 1
                conn.execute(update(s.schema_info).values(version=version))

    def _where(self) -> str:
        return f"the database {make_url(self.url).render_as_string(hide_password=True)}"

    def schema_version(self) -> int:
        """The schema version stored in the database."""
        with self.read() as conn:
            return int(conn.execute(select(s.schema_info.c.version)).scalar_one())

    # ------------------------------------------------------------ flows
    def save_flow(self, definition: FlowDefinition, source_key: str | None = None) -> None:
        """Remember a flow version, so its cases keep running after the file changes."""
        f = s.flows.c
        with self.write() as conn:
            found = conn.execute(
                select(f.source_key).where(
                    f.name == definition.name, f.content_hash == definition.content_hash
                )
            ).first()
            if found is None:
                conn.execute(
                    insert(s.flows).values(
                        name=definition.name,
                        content_hash=definition.content_hash,
                        version=definition.version,
                        definition=definition.model_dump_json(),
                        loaded_at=_iso(datetime.now(UTC)),
                        source_key=source_key,
                    )
                )
            elif source_key and found[0] != source_key:
                conn.execute(
                    update(s.flows)
                    .where(f.name == definition.name, f.content_hash == definition.content_hash)
                    .values(source_key=source_key)
                )

    def compiled(self, source_key: str) -> FlowDefinition | None:
        """The definition compiled earlier from exactly this source (skips the compiler)."""
        with self.read() as conn:
            row = conn.execute(
                select(s.flows.c.definition).where(s.flows.c.source_key == source_key).limit(1)
            ).first()
        return None if row is None else FlowDefinition.model_validate_json(row[0])

    def load_flow(self, name: str, content_hash: str) -> FlowDefinition | None:
        """A flow version saved by `save_flow`."""
        with self.read() as conn:
            row = conn.execute(
                select(s.flows.c.definition).where(
                    s.flows.c.name == name, s.flows.c.content_hash == content_hash
                )
            ).first()
        return None if row is None else FlowDefinition.model_validate_json(row[0])

    def flow_by_version(self, name: str, version: int) -> FlowDefinition | None:
        """The most recently loaded definition of `name` with this version number."""
        f = s.flows.c
        with self.read() as conn:
            row = conn.execute(
                select(f.definition)
                .where(f.name == name, f.version == version)
                .order_by(f.loaded_at.desc())
                .limit(1)
            ).first()
        return None if row is None else FlowDefinition.model_validate_json(row[0])

    def open_cases_not_on(self, flow: str, content_hash: str) -> list[str]:
        """Ids of the open cases of `flow` running another version than `content_hash`."""
        c = s.cases.c
        with self.read() as conn:
            rows = conn.execute(
                select(c.id)
                .where(c.flow == flow, c.closed.is_(False), c.flow_hash != content_hash)
                .order_by(c.id)
            )
            return [r[0] for r in rows]

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
        if not lock or self.dialect != "postgresql":
            query = _LOAD_CASE
        else:
            query = _LOAD_CASE_SKIP_LOCKED if skip_locked else _LOAD_CASE_FOR_UPDATE
        row = conn.execute(query, {"id": case_id}).first()
        if row is None:
            return None
        if full_audit:
            rows = tuple(audit_row(r) for r in self._audit(conn, case_id))
        else:
            rows = (cast(Row, None),) * int(row[2])
        return case_from_json(row[0], rows), int(row[1])

    def _audit(self, conn: Connection, case_id: str) -> list[AuditRecord]:
        a = s.audit.c
        rows = conn.execute(
            select(a.seq, a.at, a.actor, a.role, a.kind, a.what, a.before, a.after, a.data, a.line)
            .where(a.case_id == case_id)
            .order_by(a.seq)
        )
        return [
            AuditRecord(
                r.seq,
                datetime.fromisoformat(r.at),
                r.actor,
                r.role,
                r.kind,
                r.what,
                r.before,
                r.after,
                loads(r.data),
                r.line,
            )
            for r in rows
        ]

    def case_exists(self, conn: Connection, case_id: str) -> bool:
        """Whether a case with this id is stored."""
        found = conn.execute(select(s.cases.c.id).where(s.cases.c.id == case_id)).first()
        return found is not None

    def insert_case(self, conn: Connection, case: Case, step: Step) -> None:
        """Store a newly opened case with its first step's timers and notifications."""
        now = _iso(datetime.now(UTC))
        conn.execute(
            insert(s.cases).values(
                id=case.id,
                flow=case.flow,
                flow_version=case.version,
                flow_hash=case.flow_hash,
                state=case.state,
                closed=case.closed,
                row_version=1,
                data=case_to_json(case),
                opened_at=_iso(case.opened_at),
                updated_at=now,
                audit_count=len(case.audit),
            )
        )
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
        result = conn.execute(
            _SAVE_CASE,
            {
                "case_id": case.id,
                "old_version": row_version,
                "state": case.state,
                "closed": case.closed,
                "row_version": row_version + 1,
                "data": case_to_json(case),
                "updated_at": _iso(datetime.now(UTC)),
                "audit_count": len(case.audit),
            },
        )
        if result.rowcount != 1:
            raise ConflictError(case.id, 1)
        self._timer_changes(conn, case, before, fired, step)
        self._outbox(conn, case, step)
        return row_version + 1

    def insert_audit(self, conn: Connection, case_id: str, records: Sequence[AuditRecord]) -> None:
        """Append audit records; the (case_id, seq) key rejects a duplicate or a replay."""
        if not records:
            return
        now = _iso(datetime.now(UTC))
        conn.execute(
            insert(s.audit),
            [
                {
                    "case_id": case_id,
                    "seq": r.seq,
                    "at": _iso(r.at),
                    "recorded_at": now,
                    "actor": r.actor,
                    "role": r.role,
                    "kind": r.kind,
                    "what": r.what,
                    "before": r.before,
                    "after": r.after,
                    "data": None if r.data is None else dumps(r.data),
                    "line": r.line,
                }
                for r in records
            ],
        )

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
        at = _iso(step.records[-1].at) if step.records else _iso(datetime.now(UTC))
        t = s.timers.c
        for key, old in before.items():
            if after.get(key) == old:
                continue
            if fired is not None and key == fired.key:
                continue  # ended by the claim
            conn.execute(
                update(s.timers)
                .where(
                    t.case_id == case.id,
                    t.key == key,
                    t.fired_at.is_(None),
                    t.cancelled_at.is_(None),
                )
                .values(cancelled_at=at)
            )
        new = [a for key, a in after.items() if before.get(key) != a]
        if new:
            conn.execute(
                insert(s.timers),
                [
                    {
                        "case_id": case.id,
                        "key": a.key,
                        "due_us": to_us(a.due),
                        "ord": a.order,
                        "token": a.token,
                        "count": a.count,
                        "armed_at": at,
                    }
                    for a in new
                ],
            )

    def _outbox(self, conn: Connection, case: Case, step: Step) -> None:
        if not step.notifications:
            return
        created = wall_us()
        rows = []
        for n in step.notifications:
            rows.append(
                {
                    "id": n.id,
                    "case_id": case.id,
                    "seq": int(n.id.rpartition("#")[2]),
                    "role": n.role,
                    "message": n.message,
                    "kind": n.kind,
                    "at": _iso(n.at),
                    "created_us": created,
                    "attempts": 0,
                }
            )
        conn.execute(insert(s.outbox), rows)

    # ------------------------------------------------------------ timers
    def due_timers(
        self, conn: Connection, now: datetime, limit: int, case_id: str | None = None
    ) -> list[TimerRow]:
        """Live timers due at `now`, oldest first (a plain read: claim each before use)."""
        t = s.timers.c
        query = (
            select(t.id, t.case_id, t.key, t.due_us, t.ord, t.token, t.count)
            .where(t.fired_at.is_(None), t.cancelled_at.is_(None), t.due_us <= to_us(now))
            .order_by(t.due_us, t.ord, t.id)
            .limit(limit)
        )
        if case_id is not None:
            query = query.where(t.case_id == case_id)
        return [TimerRow(*r) for r in conn.execute(query)]

    def claim_timer(self, conn: Connection, row: TimerRow) -> bool:
        """Lock the timer row if it is still live (SKIP LOCKED on PostgreSQL): the re-check."""
        t = s.timers.c
        query = select(t.id).where(t.id == row.id, t.fired_at.is_(None), t.cancelled_at.is_(None))
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return conn.execute(query).first() is not None

    def mark_fired(
        self, conn: Connection, row: TimerRow, at: datetime, late: bool, worker: str
    ) -> bool:
        """End the claimed timer as fired; False if it had already ended."""
        t = s.timers.c
        result = conn.execute(
            update(s.timers)
            .where(t.id == row.id, t.fired_at.is_(None), t.cancelled_at.is_(None))
            .values(fired_at=_iso(at), fired_wall_us=wall_us(), late=late, fired_by=worker)
        )
        return result.rowcount == 1

    def next_due(self) -> datetime | None:
        """When the earliest live timer falls due (an index lookup)."""
        t = s.timers.c
        with self.read() as conn:
            value = conn.execute(
                select(func.min(t.due_us)).where(t.fired_at.is_(None), t.cancelled_at.is_(None))
            ).scalar()
        return None if value is None else from_us(int(value))

    # ------------------------------------------------------------ outbox
    def claim_outbox(self, limit: int, lease_seconds: float) -> list[OutboxRow]:
        """Lease up to `limit` undelivered notifications to this caller (fenced by a token)."""
        token = uuid.uuid4().hex
        now = wall_us()
        o = s.outbox.c
        with self.write() as conn:
            query = (
                select(o.id)
                .where(
                    o.delivered_at.is_(None),
                    (o.claimed_until_us.is_(None)) | (o.claimed_until_us < now),
                )
                .order_by(o.created_us, o.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = [r[0] for r in conn.execute(query)]
            if not ids:
                return []
            conn.execute(
                update(s.outbox)
                .where(o.id.in_(ids))
                .values(
                    claim_token=token,
                    claimed_until_us=now + int(lease_seconds * 1e6),
                    attempts=o.attempts + 1,
                )
            )
            rows = conn.execute(
                select(o.id, o.case_id, o.role, o.message, o.at, o.kind, o.attempts)
                .where(o.id.in_(ids))
                .order_by(o.created_us, o.id)
            ).all()
        return [
            OutboxRow(
                r.id,
                token,
                Notification(
                    r.case_id, r.role, r.message, datetime.fromisoformat(r.at), r.kind, r.id
                ),
                r.attempts,
            )
            for r in rows
        ]

    def mark_delivered(self, row: OutboxRow) -> bool:
        """Mark delivered only if our claim still holds (a fenced write); False otherwise."""
        o = s.outbox.c
        with self.write() as conn:
            result = conn.execute(
                update(s.outbox)
                .where(o.id == row.id, o.claim_token == row.claim_token, o.delivered_at.is_(None))
                .values(delivered_at=_iso(datetime.now(UTC)), claimed_until_us=None)
            )
        return result.rowcount == 1

    # ------------------------------------------------------------ reading
    def get(self, case_id: str) -> Case | None:
        """The stored case with its audit log (no lock)."""
        with self.read() as conn:
            found = self.load_case(conn, case_id, lock=False)
        return None if found is None else found[0]

    def history(self, case_id: str) -> list[AuditRecord] | None:
        """The case's audit records, oldest first; None for an unknown case."""
        with self.read() as conn:
            if not self.case_exists(conn, case_id):
                return None
            return self._audit(conn, case_id)

    def list_cases(
        self,
        flow: str | None = None,
        state: str | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[CaseSummary]:
        """Cases, most recently changed first, with their pending-timer counts."""
        c, t = s.cases.c, s.timers.c
        pending = (
            select(func.count())
            .where(t.case_id == c.id, t.fired_at.is_(None), t.cancelled_at.is_(None))
            .scalar_subquery()
        )
        query = select(
            c.id,
            c.flow,
            c.flow_version,
            c.state,
            c.closed,
            c.opened_at,
            c.updated_at,
            c.audit_count,
            pending,
        )
        if flow:
            query = query.where(c.flow == flow)
        if state:
            query = query.where(c.state == state)
        if open_only:
            query = query.where(c.closed.is_(False))
        query = query.order_by(c.updated_at.desc(), c.id).limit(limit)
        with self.read() as conn:
            return [CaseSummary(*r) for r in conn.execute(query)]

    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check` result (`ok` when sound); `ok` elsewhere."""
        if self.dialect != "sqlite":
            return "ok"
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())
