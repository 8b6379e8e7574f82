"""Kill tests: workers SIGKILLed at failpoints, at random and all at once, on SQLite (and
PostgreSQL when `scripts/postgres.sh` can start one); every invariant checked against a pure
oracle; negative controls prove the harness fails against deliberately broken builds.

The workload is ~150 cases of four timer-driven steps each (see `crash_harness`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fresh_database
from crash_harness import (
    POINTS,
    assert_invariants,
    check,
    host_is_reference,
    late_in_outage,
    make_workload,
    oracle,
    run_scenario,
)
from sqlalchemy import create_engine

pytestmark = pytest.mark.crash
ROOT = Path(__file__).resolve().parent.parent


def _report(name: str, run: object, problems: list[str]) -> None:
    stats = getattr(run, "stats", {})
    print(f"\n[{name}] {len(problems)} problem(s); {stats}")
    for p in problems[:15]:
        print(f"  - {p}")


def test_failpoints_each_hit_five_times_and_every_invariant_holds(tmp_path: Path) -> None:
    plans = make_workload(150, seed=11, spread=10.0)
    expected = oracle(plans)
    run = run_scenario(tmp_path, plans, "failpoints", failpoint_target=5)
    problems = check(run, expected, late_bound=10.0, required_hits={p: 5 for p in POINTS})
    _report("failpoints", run, problems)
    assert_invariants(problems)
    assert all(code == -9 for code in run.exit_codes[:-1])  # every failpoint death was SIGKILL


def test_random_sigkills_with_restarts(tmp_path: Path) -> None:
    plans = make_workload(150, seed=12, spread=18.0)
    expected = oracle(plans)
    run = run_scenario(tmp_path, plans, "random", duration=20.0)
    # a random SIGKILL may land between a delivery and its mark: a duplicate is allowed
    # (check() still requires the first deliverer to have been killed)
    problems = check(run, expected, late_bound=6.0, strict_duplicates=False)
    _report("random", run, problems)
    assert_invariants(problems)
    if host_is_reference():
        assert run.kills["sigkill"] >= 12


def test_full_outage_fires_missed_timers_late_in_due_order(tmp_path: Path) -> None:
    plans = make_workload(150, seed=13, spread=6.0)
    expected = oracle(plans)
    run = run_scenario(tmp_path, plans, "outage", outage=(2.0, 6.0))
    # the outage's SIGKILL may land between a delivery and its mark: a duplicate is allowed
    # there (check() still requires the first deliverer to have been killed)
    problems = check(run, expected, late_bound=8.0, strict_duplicates=False)
    missed, order_problems = late_in_outage(run)
    _report("outage", run, problems + order_problems)
    print(f"  timers due during the 4 s outage: {missed}")
    assert_invariants(problems + order_problems)
    assert missed >= 50


# ---------------------------------------------------------------- negative controls


def test_negative_control_audit_in_a_separate_transaction_is_caught(tmp_path: Path) -> None:
    plans = make_workload(40, seed=21, spread=3.0)
    expected = oracle(plans)
    run = run_scenario(
        tmp_path,
        plans,
        "failpoints",
        failpoint_target=4,
        points=("after_commit",),
        env={"FLOWDESK_BROKEN": "separate_audit_tx"},
        settle_timeout=6.0,
    )
    problems = check(run, expected, late_bound=10.0)
    _report("broken: separate_audit_tx", run, problems)
    assert any("audit records" in p for p in problems)


def test_negative_control_no_recheck_at_claim_is_caught(tmp_path: Path) -> None:
    plans = make_workload(60, seed=22, spread=2.5)
    expected = oracle(plans)
    run = run_scenario(
        tmp_path,
        plans,
        "outage",
        outage=(1.0, 3.5),
        env={"FLOWDESK_BROKEN": "no_recheck"},
        settle_timeout=6.0,
    )
    problems = check(run, expected, late_bound=8.0)
    _report("broken: no_recheck", run, problems)
    assert any("oracle says" in p for p in problems)


def test_negative_control_deferred_transactions_are_caught(tmp_path: Path) -> None:
    plans = make_workload(60, seed=23, spread=3.0)
    expected = oracle(plans)
    run = run_scenario(
        tmp_path,
        plans,
        "calm",
        workers=3,
        env={"FLOWDESK_BROKEN": "deferred_tx"},
        settle_timeout=6.0,
    )
    problems = check(run, expected, late_bound=8.0)
    _report("broken: deferred_tx", run, problems)
    assert any("locked" in p for p in problems)


# ---------------------------------------------------------------- PostgreSQL

PG_TOLERATED = (
    "AdminShutdown",
    "terminating connection",
    "server closed the connection",
    "consuming input failed",
    "connection is closed",
    "connection already closed",
)


def test_postgres_three_workers_terminated_killed_and_one_stopped_at_its_claim(
    tmp_path: Path, pg_server: str
) -> None:
    url = fresh_database(pg_server, "crash_pg")
    plans = make_workload(150, seed=14, spread=12.0)
    expected = oracle(plans)
    run = run_scenario(tmp_path, plans, "pg", workers=3, duration=13.0, db_url=url)
    problems = check(
        run, expected, late_bound=8.0, strict_duplicates=False, tolerated_errors=PG_TOLERATED
    )
    _report("postgresql", run, problems)
    assert_invariants(problems)
    if host_is_reference():  # on a slower host the run may end before these landed
        assert run.kills["pg_terminate_backend"] >= 3 and len(run.terminated) >= 3
        assert run.kills["sigstop+sigcont"] == 1
    assert run.kills["sigstop+sigcont"] <= 1
    assert run.kills["sigkill"] >= 5
    fired_by = _fired_by(url)
    assert len([w for w, n in fired_by.items() if n > 0 and w.startswith("w")]) >= 3


def _fired_by(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT fired_by, count(*) FROM timers WHERE fired_at IS NOT NULL GROUP BY 1"
        ).all()
    engine.dispose()
    return {str(w): int(n) for w, n in rows}
