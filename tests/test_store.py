"""The store: serialisation, schema versions, SQLite settings, transactions, constraints."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from engine.case import Armed, AuditRecord, Case, SlaClock, audit_row, plain
from engine.runtime import Step
from engine.store import ConflictError, SchemaError, Store
from engine.store import schema as s
from engine.store.serialize import (
    SerializationError,
    case_from_json,
    case_to_json,
    case_to_row,
    decode,
    dumps,
    encode,
    from_us,
    loads,
    to_us,
)

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 6, 16, 30, 15, 123456, tzinfo=SH)


def _case(case_id: str = "c1") -> Case:
    return Case(
        id=case_id,
        flow="f",
        version=1,
        flow_hash="h",
        state="a",
        fields={
            "amount": Decimal("12.50"),
            "when": T0,
            "day": date(2026, 10, 1),
            "wait": timedelta(hours=1, microseconds=5),
            "tags": ["x", 1, None],
            "odd": {"$dt": "not a tag"},
            "pair": (1, "2"),
        },
        opened_at=T0,
        entered_at=T0,
        sla_rows=(plain(SlaClock("reply", "running", T0, 3600.0, 10.5, T0, T0)),),
        timer_rows=(plain(Armed("T:a#1", T0 + timedelta(seconds=1), 9, 1, 0, False)),),
    )


def test_values_keep_their_types_through_json() -> None:
    case = _case()
    back = case_from_json(case_to_json(case), [])
    assert back.snapshot() == case.snapshot()
    assert back.fields["when"].tzinfo is not None
    assert back.fields["when"].utcoffset() == timedelta(hours=8)
    assert isinstance(back.fields["amount"], Decimal) and str(back.fields["amount"]) == "12.50"
    assert back.fields["odd"] == {"$dt": "not a tag"}  # a look-alike mapping is not a tag


_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.datetimes(min_value=datetime(1992, 1, 1), timezones=st.just(SH))  # no DST gaps
    | st.dates() | st.times()
    | st.timedeltas(min_value=timedelta(days=-9), max_value=timedelta(days=9))
)  # fmt: skip
_KEYS = st.sampled_from(["$dt", "$tuple", "$map", "$dec", "a", "b"]) | st.text(max_size=4)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=10,
)  # fmt: skip


@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_a_case_is_written_exactly_as_the_generic_encoder_writes_it(
    fields: dict[str, object],
) -> None:
    """The step's fast JSON is byte for byte the tagged form, and reads back equal."""
    case = _case()
    case.fields = fields
    text = case_to_json(case)
    assert text == _generic(case_to_row(case))
    assert case_from_json(text, ()).snapshot() == case.snapshot()


def _generic(value: object) -> str:
    """The tagged form walked in Python, value by value: what the fast paths must equal."""
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":"))


@given(st.dictionaries(_KEYS, _VALUES, max_size=4) | _VALUES)
def test_any_value_is_written_exactly_as_the_generic_encoder_writes_it(value: object) -> None:
    assert dumps(value) == _generic(value)
    assert loads(dumps(value)) == value


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(SerializationError, match="naive datetime"):
        encode({"x": datetime(2026, 1, 1)})


def test_microsecond_timestamps_are_exact() -> None:
    assert from_us(to_us(T0)) == T0
    assert decode(encode(T0)) == T0


def test_fresh_store_has_schema_version_and_sqlite_settings(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    assert store.schema_version() == s.SCHEMA_VERSION
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # see below
    assert store.integrity_check() == "ok"


def test_the_log_is_checkpointed_off_the_commit_path_and_the_thread_ends_on_close(
    tmp_path: Path,
) -> None:
    """No commit copies the write-ahead log into the database (that stalls the step
    committing); the store's own thread does, a few times a second."""
    path = tmp_path / "a.db"
    store = Store(f"sqlite:///{path}")
    for k in range(5):
        _stored(store, _case(f"c{k}"))
    deadline = time.monotonic() + 10
    found: list[tuple[str]] = []
    while time.monotonic() < deadline and len(found) < 5:
        time.sleep(0.1)
        copy = tmp_path / "file-only.db"  # the database file alone, without its log
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as raw, contextlib.suppress(sqlite3.OperationalError):
            found = raw.execute("SELECT id FROM cases ORDER BY id").fetchall()  # once it has any
    assert found == [(f"c{k}",) for k in range(5)]

    def checkpointers() -> int:
        return sum(t.name == "flowdesk-checkpoint" for t in threading.enumerate())

    running = checkpointers()
    store.close()
    assert checkpointers() == running - 1


def test_a_store_from_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE flowdesk_schema SET version = 99")
    before = path.read_bytes()
    with pytest.raises(SchemaError, match="schema version 99, newer than this Flowdesk"):
        Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM flowdesk_schema").fetchone() == (99,)
    assert len(path.read_bytes()) == len(before)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE cases (x int)")
    with pytest.raises(SchemaError, match="not a Flowdesk store"):
        Store(f"sqlite:///{path}")


def test_an_older_schema_is_upgraded_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    Store(f"sqlite:///{path}").close()
    ran: list[int] = []
    monkeypatch.setattr(s, "SCHEMA_VERSION", s.SCHEMA_VERSION + 1)
    monkeypatch.setitem(s.UPGRADES, s.SCHEMA_VERSION - 1, lambda conn: ran.append(1))
    store = Store(f"sqlite:///{path}")
    assert ran == [1] and store.schema_version() == s.SCHEMA_VERSION


def test_deferred_transaction_fails_at_once_but_immediate_waits(tmp_path: Path) -> None:
    """The SQLite fact behind `BEGIN IMMEDIATE`: read-then-write in a deferred transaction
    fails with SQLITE_BUSY(_SNAPSHOT) at once, whatever the busy timeout."""
    path = tmp_path / "a.db"
    store = Store(f"sqlite:///{path}")
    with store.write() as conn:
        conn.execute(insert(s.schema_info).values(id=2, version=0, written_by="x"))
    a = sqlite3.connect(path, timeout=5, isolation_level=None)
    b = sqlite3.connect(path, timeout=5, isolation_level=None)
    a.execute("BEGIN")  # deferred
    a.execute("SELECT version FROM flowdesk_schema WHERE id = 2").fetchone()
    b.execute("UPDATE flowdesk_schema SET version = version + 1 WHERE id = 2")  # commits
    started = datetime.now()
    with pytest.raises(sqlite3.OperationalError, match=r"locked|busy"):
        a.execute("UPDATE flowdesk_schema SET version = version + 1 WHERE id = 2")
    assert datetime.now() - started < timedelta(seconds=1)  # no wait for the 5 s timeout
    a.execute("ROLLBACK")

    # the store's writers: read, then write, from 4 threads at once; no update lost
    def bump() -> None:
        for _ in range(25):
            with store.write() as conn:
                v = conn.exec_driver_sql("SELECT version FROM flowdesk_schema WHERE id = 2")
                value = v.scalar_one()
                conn.execute(
                    update(s.schema_info).where(s.schema_info.c.id == 2).values(version=value + 1)
                )

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as conn:
        final = conn.exec_driver_sql("SELECT version FROM flowdesk_schema WHERE id = 2")
        assert final.scalar_one() == 101


def _stored(store: Store, case: Case) -> None:
    rec = AuditRecord(1, T0, "me", None, "opened", "case opened", None, "a")
    case.append_audit((audit_row(rec),))
    with store.write() as conn:
        store.insert_case(
            conn, case, Step(case, armed_rows=case.timer_rows, record_rows=(plain(rec),))
        )
        store.insert_audit(conn, case.id, [rec])


def test_audit_sequence_is_unique_per_case(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    _stored(store, _case())
    again = AuditRecord(1, T0, None, None, "note", "again", None, None)
    with pytest.raises(IntegrityError), store.write() as conn:
        store.insert_audit(conn, "c1", [again])
    assert [r.what for r in store.history("c1") or []] == ["case opened"]


def test_a_timer_ends_once_and_one_live_timer_per_key(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    _stored(store, _case())
    t = s.timers.c
    with pytest.raises(IntegrityError), store.write() as conn:
        conn.execute(update(s.timers).values(fired_at="x", cancelled_at="y"))
    with pytest.raises(IntegrityError), store.write() as conn:
        conn.execute(
            insert(s.timers).values(
                case_id="c1", key="T:a#1", due_us=1, ord=1, token=1, count=0, armed_at="x"
            )
        )
    with store.write() as conn:  # once ended, the key can be armed again
        conn.execute(update(s.timers).where(t.case_id == "c1").values(fired_at="x"))
        conn.execute(
            insert(s.timers).values(
                case_id="c1", key="T:a#1", due_us=1, ord=1, token=2, count=0, armed_at="x"
            )
        )


def test_a_stale_case_version_is_a_conflict(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    _stored(store, _case())
    with store.write() as conn:
        loaded = store.load_case(conn, "c1")
        assert loaded is not None
        case, version = loaded
        store.save_step(conn, case, version, dict(case.timers), None, Step(case))
    with pytest.raises(ConflictError, match="changed concurrently"), store.write() as conn:
        store.save_step(conn, case, version, dict(case.timers), None, Step(case))


def test_unsupported_databases_are_named(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unsupported database `mysql`"):
        Store("mysql://localhost/x")
