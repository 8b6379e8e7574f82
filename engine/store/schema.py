"""The store's tables (SQLAlchemy Core) and its schema version.

Upgrading: `SCHEMA_VERSION` is the version this code writes. Each later version adds one
function to `UPGRADES` (`n -> n + 1`, run in one transaction with the version bump); a store
is upgraded forward on open, and a store from a *newer* schema is refused (nothing written).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

SCHEMA_VERSION = 3

metadata = MetaData()

schema_info = Table(
    "flowdesk_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("written_by", String(64), nullable=False),
)

flows = Table(
    "flow_versions",
    metadata,
    Column("name", String(200), nullable=False),
    Column("content_hash", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Text, nullable=False),  # FlowDefinition as JSON
    Column("loaded_at", String(40), nullable=False),
    Column("source_key", String(80)),  # sha256 of the .flow file + calendars: a compile cache
    PrimaryKeyConstraint("name", "content_hash"),
)
Index("ix_flow_versions_source", flows.c.source_key)

cases = Table(
    "cases",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("flow", String(200), nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column("flow_hash", String(80), nullable=False),
    Column("state", String(200), nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("row_version", Integer, nullable=False),  # optimistic concurrency backstop
    Column("data", Text, nullable=False),  # the Case without its audit log, as JSON
    Column("opened_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("audit_count", Integer, nullable=False),
)
Index("ix_cases_flow_state", cases.c.flow, cases.c.state)

audit = Table(
    "audit",
    metadata,
    Column("case_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("recorded_at", String(40), nullable=False),  # wall-clock time of the commit
    Column("actor", String(200)),
    Column("role", String(200)),
    Column("kind", String(40), nullable=False),
    Column("what", Text, nullable=False),
    Column("before", String(200)),
    Column("after", String(200)),
    Column("data", Text),
    Column("line", Integer, nullable=False),
    PrimaryKeyConstraint("case_id", "seq", name="pk_audit_case_seq"),  # unique per case
    CheckConstraint("seq >= 1", name="ck_audit_seq_positive"),
)

LIVE = "fired_at IS NULL AND cancelled_at IS NULL"

timers = Table(
    "timers",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("case_id", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("due_us", BigInteger, nullable=False),  # µs since epoch, UTC
    Column("ord", Integer, nullable=False),
    Column("token", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("armed_at", String(40), nullable=False),
    Column("fired_at", String(40)),  # the step's time when it fired
    Column("fired_wall_us", BigInteger),  # wall clock at the claim (for lag and the checks)
    Column("fired_by", String(100)),
    Column("late", Boolean),
    Column("cancelled_at", String(40)),
    CheckConstraint(
        "fired_at IS NULL OR cancelled_at IS NULL", name="ck_timer_ends_once"
    ),  # each timer ends once: fired or cancelled, never both
)
Index(
    "ix_timers_live_due",
    timers.c.due_us,
    timers.c.ord,
    sqlite_where=text(LIVE),
    postgresql_where=text(LIVE),
)
Index(
    "ux_timers_live_key",
    timers.c.case_id,
    timers.c.key,
    unique=True,
    sqlite_where=text(LIVE),
    postgresql_where=text(LIVE),
)
Index("ix_timers_case", timers.c.case_id)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(240), primary_key=True),  # `case_id#seq`: stable, for de-duplication
    Column("case_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("at", String(40), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claim_token", String(64)),
    Column("claimed_until_us", BigInteger),
    Column("delivered_at", String(40)),
)
PENDING = "delivered_at IS NULL"
Index(
    "ix_outbox_pending",
    outbox.c.created_us,
    sqlite_where=text(PENDING),
    postgresql_where=text(PENDING),
)

# Schedules (version 2): the next occurrence of each flow schedule, and one row per
# occurrence that happened — its primary key is what makes an occurrence happen once
# whatever the number of workers.
schedules = Table(
    "schedules",
    metadata,
    Column("flow", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("next_due_us", BigInteger, nullable=False),
    Column("paused", Boolean, nullable=False),
    PrimaryKeyConstraint("flow", "name", name="pk_schedules"),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("flow", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("due_us", BigInteger, nullable=False),
    Column("fired_at", String(40), nullable=False),  # the instant it took effect (its due)
    Column("fired_wall_us", BigInteger, nullable=False),  # wall clock of the claim
    Column("late", Boolean, nullable=False),
    Column("fired_by", String(100), nullable=False),
    Column("case_id", String(200)),  # the case it opened, if it opens cases
    PrimaryKeyConstraint("flow", "name", "due_us", name="pk_schedule_runs"),
)


def _add_schedules(conn: Connection) -> None:
    schedules.create(conn)
    schedule_runs.create(conn)


# Case keys (version 3): each case under each value its `keys:` fields took, so
# `earlier_cases`/`last_case` are an index lookup in the step's transaction.
case_keys = Table(
    "case_keys",
    metadata,
    Column("case_id", String(200), nullable=False),
    Column("flow", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("value", Text, nullable=False),
    Column("opened_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("case_id", "key", "value", name="pk_case_keys"),
)
Index("ix_case_keys_lookup", case_keys.c.flow, case_keys.c.key, case_keys.c.value,
      case_keys.c.opened_us)  # fmt: skip


def _add_case_keys(conn: Connection) -> None:
    case_keys.create(conn)


# n -> n + 1; each runs inside the transaction that bumps the stored version
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _add_schedules, 2: _add_case_keys}
