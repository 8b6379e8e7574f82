"""Group commit: concurrent callers' steps share one transaction, each caller learns its own
outcome only once it is durable, a failing step rolls back alone, and a SIGKILL inside a
shared transaction loses nothing that was acknowledged."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine

from engine.clock import SimulatedClock
from engine.errors import RoleNotAllowed
from engine.service import Service
from engine.store import Store
from tests.commit_driver import ORDER, START
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parent.parent


def _store(url: str, store_type: type[Store] = Store) -> Store:
    store = store_type(url)
    with store.write() as conn:
        store.run(conn, "CREATE TABLE t (k INTEGER PRIMARY KEY)")
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'q.db'}"
    return fresh_database(request.getfixturevalue("pg_server"), "group_commit_pg")


def _committed(store: Store) -> set[int]:
    """The rows another connection sees: what has really committed."""
    other = create_engine(store.engine.url)
    with other.connect() as conn:
        found = {k for (k,) in conn.exec_driver_sql("SELECT k FROM t")}
    other.dispose()
    return found


def _insert(
    store: Store, k: int, fail: bool = False, fail_first: bool = False
) -> Callable[[Connection], int]:
    """A step writing row `k`; `fail` raises after the write, `fail_first` before it."""

    def body(conn: Connection) -> int:
        if fail_first:
            raise ValueError(f"step {k} refused")
        store.run(conn, "INSERT INTO t (k) VALUES (?)", (k,))
        if fail:
            raise ValueError(f"step {k} refused")
        return k

    return body


def _callers(store: Store, steps: dict[int, Callable[[Connection], int]]) -> dict[int, object]:
    """One thread per step; the first holds the queue's lead until every other step waits,
    so the others share the second transaction. Each records its result, or what it raised,
    and whether its row was visible to another connection when its call returned."""
    queue = store.commits
    outcome: dict[int, object] = {}
    first = min(steps)

    def gate(conn: Connection) -> int:
        deadline = time.monotonic() + 10
        while queue.queued < len(steps) - 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        return steps[first](conn)

    def call(k: int) -> None:
        try:
            result = queue.run(gate if k == first else steps[k])
        except ValueError as exc:
            outcome[k] = exc
        else:
            outcome[k] = (result, result in _committed(store))

    leader = threading.Thread(target=call, args=(first,))
    leader.start()
    while queue.in_hand == 0:
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(k,)) for k in steps if k != first]
    for t in others:
        t.start()
    for t in [leader, *others]:
        t.join(timeout=30)
    return outcome


def test_waiting_steps_share_one_transaction_and_a_failing_one_rolls_back_alone(
    db_url: str,
) -> None:
    store = _store(db_url)
    steps = {k: _insert(store, k, fail=k == 5) for k in range(1, 10)}
    outcome = _callers(store, steps)
    assert store.commits.batches == 2  # the first step alone, then the eight that waited
    assert store.commits.steps == 9
    assert isinstance(outcome.pop(5), ValueError)
    assert outcome == {k: (k, True) for k in range(1, 10) if k != 5}  # durable on return
    assert _committed(store) == set(range(1, 10)) - {5}
    # SQLite undoes step 5's row by running the others again; PostgreSQL by its savepoint
    assert store.commits.redone == (1 if store.dialect == "sqlite" else 0)
    store.close()


def test_a_step_failing_before_it_writes_is_dropped_without_running_the_others_again(
    tmp_path: Path,
) -> None:
    store = _store(f"sqlite:///{tmp_path / 'q.db'}")
    runs = dict.fromkeys(range(1, 10), 0)

    def counted(k: int) -> Callable[[Connection], int]:
        step = _insert(store, k, fail_first=k in (3, 7))

        def body(conn: Connection) -> int:
            runs[k] += 1
            return step(conn)

        return body

    outcome = _callers(store, {k: counted(k) for k in range(1, 10)})
    assert isinstance(outcome.pop(3), ValueError)
    assert isinstance(outcome.pop(7), ValueError)
    assert outcome == {k: (k, True) for k in range(1, 10) if k not in (3, 7)}
    assert _committed(store) == set(range(1, 10)) - {3, 7}
    assert store.commits.redone == 0
    assert runs == dict.fromkeys(range(1, 10), 1)  # each step ran once
    store.close()


class _CommitFails(Store):
    fail = False

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with super().write() as conn:
            yield conn
            if self.fail:
                raise OSError("disk full")


def test_a_failed_commit_fails_every_step_it_held(tmp_path: Path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'q.db'}", _CommitFails)
    assert isinstance(store, _CommitFails)
    store.fail = True
    outcome: dict[int, BaseException] = {}

    def call(k: int) -> None:
        try:
            store.commits.run(_insert(store, k))
        except OSError as exc:
            outcome[k] = exc

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcome) == [1, 2, 3, 4, 5, 6]
    assert all(str(e) == "disk full" for e in outcome.values())
    assert _committed(store) == set()


def test_sixteen_callers_on_the_repair_flow_each_get_their_own_outcome(tmp_path: Path) -> None:
    service = Service(
        f"sqlite:///{tmp_path / 's.db'}", ROOT / "workflows", clock=SimulatedClock(START)
    )
    refused: list[str] = []

    def work(caller: int) -> None:
        for k in range(6):
            case_id = f"o{caller}-{k}"
            service.open("repair", ORDER, case_id=case_id)
            role = "客服专员" if k == 3 else "工程部"  # the desk may not complete a repair
            try:
                service.fire(case_id, "complete", "wang", role, {"repair_result": "已疏通"})
            except RoleNotAllowed:
                refused.append(case_id)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(refused) == sorted(f"o{c}-3" for c in range(16))
    for c in range(16):
        for k in range(6):
            case = service.get(f"o{c}-{k}")
            assert case.state == ("dispatched" if k == 3 else "completed")
            assert [r.seq for r in case.audit] == list(range(1, len(case.audit) + 1))
    assert service.store.commits.steps == 16 * 6 * 2  # every call a step, refused ones too
    assert service.store.commits.redone == 0  # a refused event writes nothing to undo
    # a leader waits for the callers the last transaction woke: they share transactions
    assert service.store.commits.batches * 4 < service.store.commits.steps
    service.close()


def test_a_catch_up_applies_many_cases_per_transaction_and_skips_a_broken_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimulatedClock(START)
    url = f"sqlite:///{tmp_path / 's.db'}"
    service = Service(url, ROOT / "workflows", clock=clock)
    for k in range(100):
        service.open("repair", ORDER, case_id=f"o{k}")
    with service.store.write() as conn:  # one case's row can no longer be read
        service.store.run(conn, "UPDATE cases SET data = '{' WHERE id = 'o7'")
    clock.advance_by(timedelta(days=1, hours=1))  # each order chased once, late
    before = service.store.commits.batches
    steps = service.run_due()
    batches = service.store.commits.batches - before
    fired = {s.case.id for s in steps}
    assert fired == {f"o{k}" for k in range(100)} - {"o7"}
    assert batches <= 4  # 99 cases' timers in a handful of transactions, not 99
    assert "of case o7 failed; retried at the next tick" in caplog.text
    with service.store.read() as conn:
        live = service.store.due_timers(conn, clock.now(), 1000)
    assert {r.case_id for r in live} == {"o7"}  # left armed for the next tick
    service.close()


@pytest.mark.parametrize("hit", [40, 150])
def test_sigkill_inside_a_shared_transaction_loses_nothing_acknowledged(
    tmp_path: Path, hit: int
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    acks, log = tmp_path / "acks", tmp_path / "failpoints"
    env = {**os.environ, "FLOWDESK_FAILPOINT": f"after_state_update:{hit}",
           "FLOWDESK_FAILPOINT_LOG": str(log)}  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "tests.commit_driver", url, str(acks)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == -9, run.stderr[-2000:]
    point = log.read_text().split()
    assert point[0] == "after_state_update"
    in_hand = int(point[-1].removeprefix("in_hand="))
    assert in_hand > 1  # the kill landed inside a transaction shared by several steps
    told = [line.split() for line in acks.read_text().splitlines()]
    assert told, "no call returned before the kill"
    service = Service(url, ROOT / "workflows", clock=SimulatedClock(START))
    assert service.store.integrity_check() == "ok"
    for what, case_id in told:  # acknowledged = committed
        case = service.get(case_id)
        if what == "complete":
            assert case.state == "completed"
    with service.store.read() as conn:
        kinds = service.store.run(
            conn, "SELECT case_id, count(*) FROM audit WHERE kind = 'opened' GROUP BY case_id"
        ).fetchall()
    assert all(n == 1 for _, n in kinds)  # nothing doubled
    for case_id in {c for _, c in told}:  # every case stepped on after the restart
        if service.get(case_id).state == "dispatched":
            service.fire(case_id, "complete", "wang", "工程部", {"repair_result": "已疏通"})
            assert service.get(case_id).state == "completed"
    service.close()
