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
  Pass `synchronous="FULL"` to trade speed for that last guarantee;
- the log is checkpointed by a thread of the store's own (engine/store/checkpoint.py), not
  by whichever commit makes it long.

PostgreSQL (`postgresql+psycopg://…`): the case row is locked with `SELECT … FOR UPDATE`;
workers claim due timers with `FOR UPDATE SKIP LOCKED`, so several share one database.

Every engine step is atomic: written inside a write transaction (`Store.write()`), which
concurrent steps share (`Store.commits`, engine/store/group_commit.py), by the plain SQL of
engine/store/write_path.py. The per-case `row_version` column backs up the locks: a stale
write raises `ConflictError`.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from engine.case import AuditRecord, Case, Notification
from engine.definition import FlowDefinition
from engine.errors import SchemaError, StoreError
from engine.i18n import msg
from engine.store import schema as s
from engine.store.checkpoint import Checkpointer
from engine.store.group_commit import CommitQueue
from engine.store.serialize import from_us
from engine.store.write_path import TimerRow, WritePath, now_iso, wall_us

__all__ = ["CaseSummary", "OutboxRow", "Store", "TimerRow", "wall_us"]


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


# the longest a writer waiting for SQLite's write lock sleeps between two tries
LOCK_POLL = 0.002


def _begin_immediate(dbapi_conn: Any, busy_timeout: float) -> None:
    """`BEGIN IMMEDIATE`, polling for the write lock every ≤ `LOCK_POLL` seconds.

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
            delay = min(delay * 2, LOCK_POLL)
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")


class Store(WritePath):
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
        database = parsed.database or ""
        on_file = self.dialect == "sqlite" and database not in ("", ":memory:")
        self.engine: Engine = self._make_engine(url, busy_timeout, synchronous, on_file)
        self.commits = CommitQueue(self)  # concurrent steps share a transaction
        try:
            self._ensure_schema()
        except OperationalError as exc:  # no such folder, no server, refused login, …
            self.engine.dispose()
            raise StoreError(
                msg("cannot open {where}: {reason}", where=self._where(), reason=exc.orig)
            ) from None
        self._checkpointer = Checkpointer(database) if on_file else None

    # ------------------------------------------------------------ connections
    def _make_engine(
        self, url: str, busy_timeout: float, synchronous: str, on_file: bool
    ) -> Engine:
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
            if on_file:  # the Checkpointer's thread does it, not a commit
                cursor.execute("PRAGMA wal_autocheckpoint=0")
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

    def change_count(self, conn: Connection) -> Callable[[], int] | None:
        """SQLite: the rows the write transaction on `conn` has changed so far (-1 once it
        has ended), so a step that fails having changed none needs no savepoint to undo it.
        None on PostgreSQL, where a failed statement spoils the transaction: savepoints."""
        if self.dialect != "sqlite":
            return None
        raw: Any = conn.connection.driver_connection
        return lambda: int(raw.total_changes) if raw.in_transaction else -1

    def let_writers_in(self) -> None:
        """Between two batches of a long run of writes (a catch-up): SQLite has one write lock,
        so pause as long as a writer waiting for it sleeps between tries, and another process's
        step gets its turn. PostgreSQL locks rows: nobody waits for the batch, no pause."""
        if self.dialect == "sqlite":
            time.sleep(LOCK_POLL)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Stop checkpointing and release every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
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
                        loaded_at=now_iso(),
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
                .values(delivered_at=now_iso(), claimed_until_us=None)
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
            return self.audit_records(conn, case_id)

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
