"""The server's own tables, kept in the cases' database beside the engine's (so several
server processes on one PostgreSQL share sessions, lock-outs, idempotency keys, case
owners and webhook deliveries). Created on start when missing."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from engine.store.sqlstore import Store

metadata = MetaData()

secrets_table = Table(
    "server_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

sessions = Table(
    "server_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's session id
    Column("person", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
)

login_failures = Table(
    "server_login_failures",
    metadata,
    Column("person", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_us", BigInteger, nullable=False),
    Column("locked_until_us", BigInteger, nullable=False),
)

idempotency = Table(
    "server_idempotency",
    metadata,
    Column("person", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),  # 0 while the first request is in hand
    Column("body", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("person", "key"),
)

case_owners = Table(
    "server_case_owners",
    metadata,
    Column("case_id", String(200), primary_key=True),
    Column("person", String(64), nullable=False),
    Column("since", String(40), nullable=False),
)

webhook_deliveries = Table(
    "server_webhook_deliveries",
    metadata,
    Column("id", String(300), primary_key=True),  # notification id + endpoint name
    Column("notification", String(240), nullable=False),
    Column("endpoint", String(60), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_us", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | dead
    Column("last_error", Text),
    Column("created_us", BigInteger, nullable=False),
)


def ensure(store: Store) -> None:
    """Create the server's tables that are missing."""
    with store.write() as conn:
        metadata.create_all(conn, checkfirst=True)
