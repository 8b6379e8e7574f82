"""The durable service as a user sees it: cases survive restarts, timers fire once and late
ones are marked, bad input writes nothing, notifications are delivered at least once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.case import Notification
from engine.clock import SimulatedClock
from engine.engine import replay
from engine.errors import InvalidData, UnknownCase, UnknownEvent, UnknownFlow
from engine.service import Service
from engine.store import StoreError

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

COUNTER = """\
flow counter "计数"
version {version}
calendar always

roles: agent

fields:
    n: int = 0 "count"

state open "open":
    on bump by agent:
        set n = n + {step}
    on finish -> closed by agent
    after 1h -> reminded

state reminded "reminded":
    enter: notify agent "still open"
    after 2h -> closed
    on finish -> closed by agent

final closed "closed"
"""


def _folder(tmp_path: Path, version: int = 1, step: int = 1) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "counter.flow").write_text(COUNTER.format(version=version, step=step))
    return folder


def _service(tmp_path: Path, clock: SimulatedClock | None = None, **kw: Any) -> Service:
    folder = tmp_path / "flows"
    if not folder.exists():
        _folder(tmp_path)
    return Service(
        f"sqlite:///{tmp_path / 'cases.db'}", folder, clock=clock or SimulatedClock(T0), **kw
    )


def test_a_case_survives_a_restart_with_its_history(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    case = svc.open("counter", {}, actor="ann", role="agent", case_id="c-1")
    svc.fire("c-1", "bump", "ann", "agent")
    svc.fire("c-1", "bump", "bob", "agent")
    svc.close()
    again = _service(tmp_path)
    loaded = again.get("c-1")
    assert loaded.state == "open" and loaded.fields["n"] == 2
    assert loaded.opened_at == case.opened_at
    assert [(r.seq, r.kind, r.what, r.actor) for r in again.history("c-1")] == [
        (1, "opened", "case opened", "ann"),
        (2, "event", "bump", "ann"),
        (3, "event", "bump", "bob"),
    ]
    assert len(loaded.timers) == 1  # the reminder, re-armed on each entry


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    with pytest.raises(InvalidData, match="`n`"):
        svc.open("counter", {"n": "many"}, case_id="bad")
    with pytest.raises(UnknownFlow, match="no flow named `nope`"):
        svc.open("nope", {})
    with pytest.raises(UnknownCase):
        svc.fire("missing", "bump", "ann", "agent")
    assert svc.store.list_cases() == []
    svc.open("counter", {}, case_id="c-1")
    with pytest.raises(StoreError, match="already exists"):
        svc.open("counter", {}, case_id="c-1")
    with pytest.raises(UnknownEvent, match="not possible in state `open`"):
        svc.fire("c-1", "launch", "ann", "agent")
    assert len(svc.history("c-1")) == 1


def test_timers_fire_once_in_due_order_and_late_ones_are_marked(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    svc.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(minutes=10))
    svc.open("counter", {}, case_id="b")
    assert svc.next_due() == T0 + timedelta(hours=1)
    clock.advance_to(T0 + timedelta(hours=5))  # the service was "down" for hours
    steps = svc.run_due()
    assert [(s.case.id, s.records[0].what) for s in steps] == [
        ("a", "T:open#1"),
        ("b", "T:open#1"),
        ("a", "T:reminded#1"),
        ("b", "T:reminded#1"),
    ]
    assert svc.run_due() == []  # each timer fired exactly once
    timer = svc.history("a")[1]
    assert timer.kind == "timer" and timer.data is not None and timer.data["late"] is True
    assert timer.at == T0 + timedelta(hours=1)  # takes effect as of its due time
    assert svc.get("a").state == "closed" and svc.get("a").closed_at == T0 + timedelta(hours=3)


def test_a_due_timer_another_worker_fired_meanwhile_fires_nothing_again(
    tmp_path: Path,
) -> None:
    """Two workers on one SQLite file read the same due row; the second to apply it finds
    the case's own timer moved on (fired, re-armed) and fires nothing."""
    clock = SimulatedClock(T0)
    first, second = _service(tmp_path, clock), _service(tmp_path, clock)
    first.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(hours=1, minutes=5))
    with second.store.read() as conn:
        (row,) = second.store.due_timers(conn, clock.now(), 10)  # read, not yet applied
    assert [s.case.id for s in first.run_due()] == ["a"]  # the other worker fires it
    assert second.fire_timer(row) is None
    assert second.run_due() == []
    case = second.get("a")
    assert case.state == "reminded"
    assert [r.what for r in case.audit if r.kind == "timer"] == ["T:open#1"]  # once
    with second.store.read() as conn:
        fired_by = second.store.run(
            conn, "SELECT fired_by FROM timers WHERE id = ?", (row.id,)
        ).fetchall()
    assert fired_by == [(first.worker_id,)]  # still the first worker's, not retired again
    first.close()
    second.close()


def test_a_backlog_is_fired_batch_by_batch_and_no_step_is_kept(tmp_path: Path) -> None:
    """A worker catching up counts steps as they commit: the first is handed out while the
    rest of the backlog is still due, so a backlog of millions holds one batch in memory."""
    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    for k in range(12):
        svc.open("counter", {}, case_id=f"c{k:02d}")
    clock.advance_to(T0 + timedelta(hours=1, minutes=30))  # each one `after 1h` overdue
    steps = svc.fire_due(batch=5)
    first = next(steps)
    assert first.case.id == "c00" and first.case.state == "reminded"
    still_due = sorted(c.id for c in svc.store.list_cases() if c.state == "open")
    assert still_due == [f"c{k:02d}" for k in range(5, 12)]  # the next batches: not yet read
    assert [s.case.id for s in steps] == [f"c{k:02d}" for k in range(1, 12)]
    assert all(svc.get(f"c{k:02d}").state == "reminded" for k in range(12))


def test_an_event_after_a_deadline_sees_the_deadline_first(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    svc.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(hours=1, minutes=5))  # no worker ran
    svc.fire("a", "finish", "ann", "agent")
    assert [r.kind for r in svc.history("a")] == ["opened", "timer", "notify", "event"]
    assert svc.get("a").state == "closed"


def test_concurrent_events_on_one_case_lose_no_update(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    svc.open("counter", {}, case_id="c")
    others = [_service(tmp_path) for _ in range(4)]

    def bump(s: Service) -> None:
        for _ in range(10):
            s.fire("c", "bump", "x", "agent")

    threads = [threading.Thread(target=bump, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    case = svc.get("c")
    assert case.fields["n"] == 40
    assert [r.seq for r in svc.history("c")] == list(range(1, 42))


def test_notifications_are_delivered_at_least_once_with_stable_ids(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    got: list[tuple[str, str]] = []
    fail = [True]

    def notifier(n: Notification) -> None:
        if fail[0]:
            raise ConnectionError("mail server down")
        got.append((n.id, n.message))

    svc = _service(tmp_path, clock, notifier=notifier)
    svc.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(hours=1))
    svc.run_due()
    with pytest.raises(ConnectionError):
        svc.dispatch_outbox(lease=0.05)
    fail[0] = False
    assert svc.dispatch_outbox() == 0  # still leased to the failed attempt
    time.sleep(0.1)
    assert svc.dispatch_outbox() == 1
    assert got == [("a#3", "still open")]
    assert svc.dispatch_outbox() == 0


def test_a_lost_delivery_claim_cannot_be_marked_done(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    svc.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(hours=1))
    svc.run_due()
    [first] = svc.store.claim_outbox(10, lease_seconds=0.01)
    time.sleep(0.05)
    [second] = svc.store.claim_outbox(10, lease_seconds=30)
    assert first.id == second.id and second.attempts == 2
    assert svc.store.mark_delivered(first) is False  # fenced: its claim was taken over
    assert svc.store.mark_delivered(second) is True


def test_a_case_keeps_its_flow_version_new_cases_take_the_newest(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    svc.open("counter", {}, case_id="old")
    svc.close()
    _folder(tmp_path, version=2, step=10)
    newer = _service(tmp_path)
    newer.open("counter", {}, case_id="new")
    newer.fire("old", "bump", "a", "agent")
    newer.fire("new", "bump", "a", "agent")
    assert newer.get("old").version == 1 and newer.get("old").fields["n"] == 1
    assert newer.get("new").version == 2 and newer.get("new").fields["n"] == 10
    (tmp_path / "flows" / "counter.flow").unlink()  # version 1 is gone from disk …
    _folder(tmp_path, version=3, step=100)
    third = _service(tmp_path)
    third.fire("old", "bump", "a", "agent")  # … yet its cases still run it, from the store
    assert third.get("old").fields["n"] == 2


def test_the_worker_fires_on_time_and_catches_up_after_a_restart(tmp_path: Path) -> None:
    flows = ROOT / "tests" / "crash_flows"
    url = f"sqlite:///{tmp_path / 'w.db'}"
    svc = Service(url, flows)
    now = datetime.now(UTC)
    fields = {f"t{i}": now + timedelta(seconds=1.5 + 0.2 * i) for i in range(1, 5)}
    fields |= {f"r{i}": now + timedelta(seconds=60) for i in range(1, 5)}
    svc.open("crash", fields, case_id="w")
    cmd = [
        sys.executable,
        "-m",
        "engine.scheduling.worker",
        "--db",
        url,
        "--workflows",
        str(flows),
        "--poll",
        "0.2",
        "--late-after",
        "0.5",
    ]
    worker = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while svc.get("w").state != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=10)
    assert worker.returncode == 0, err
    assert svc.get("w").state == "done"
    with svc.store.read() as conn:
        lags = [
            r[0] / 1e6
            for r in conn.exec_driver_sql(
                "SELECT fired_wall_us - due_us FROM timers WHERE fired_at IS NOT NULL"
            )
        ]
    assert len(lags) == 4 and all(0 <= lag < 0.5 for lag in lags), lags
    assert not any(r.data and r.data.get("late") for r in svc.history("w"))

    # down: deadlines pass; on start they fire at once, in due order, marked late
    now = datetime.now(UTC)
    fields = {f"t{i}": now + timedelta(seconds=0.1 * i) for i in range(1, 5)}
    svc.open(
        "crash",
        fields | {f"r{i}": now + timedelta(seconds=60) for i in range(1, 5)},
        case_id="down",
    )
    time.sleep(1.2)
    worker = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while svc.get("down").state != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.communicate(timeout=10)
    timers = [r for r in svc.history("down") if r.kind == "timer"]
    assert [r.what for r in timers] == ["T:s1#1", "T:s2#1", "T:s3#1", "T:s4#1"]
    assert all(r.data and r.data["late"] for r in timers)


COUNTER_V2 = (
    COUNTER.replace("version {version}", "version 2")
    .replace('    n: int = 0 "count"', '    n: int = 0 "count"\n    priority: int = 3 "priority"')
    .replace(
        "    after 1h -> reminded", "    after 2h -> nudged\n    on escalate -> nudged by agent"
    )
    .replace('state reminded "reminded"', 'state nudged "nudged"')
    .replace("set n = n + {step}", "set n = n + 1")
)


def test_migrate_moves_open_cases_shows_the_diff_and_rebases_timers(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    svc.open("counter", {}, case_id="b")
    clock.advance_to(T0 + timedelta(minutes=50))
    svc.open("counter", {}, case_id="a")
    clock.advance_to(T0 + timedelta(hours=1))
    svc.run_due()
    assert svc.get("b").state == "reminded"
    svc.close()
    (tmp_path / "flows" / "counter.flow").write_text(COUNTER_V2)
    svc2 = _service(tmp_path, clock)

    plans = {p.case_id: p for p in svc2.migrate("counter", 2)}
    assert plans["b"].blocked == "state `reminded` does not exist in version 2"
    text = plans["a"].render()
    assert "field `priority` added = 3" in text
    assert "+ on escalate -> nudged by agent" in text
    assert "~ timer after 1h -> reminded → after 2h -> nudged" in text
    assert svc2.get("a").version == 1  # a dry run writes nothing

    svc2.migrate("counter", 2, apply=True, actor="admin")
    a = svc2.get("a")
    assert a.version == 2 and a.fields["priority"] == 3
    assert a.timers["T:open#1"].due == T0 + timedelta(minutes=50) + timedelta(hours=2)
    assert svc2.history("a")[-1].what == "migrated from version 1 to 2"
    assert svc2.get("b").version == 1  # blocked: stays on its version
    clock.advance_to(T0 + timedelta(hours=3))
    svc2.run_due()
    assert svc2.get("a").state == "nudged"
    with svc2.store.read() as conn:  # the old timer row was cancelled, the re-based one fired
        rows = conn.exec_driver_sql(
            "SELECT fired_at IS NOT NULL, cancelled_at IS NOT NULL FROM timers "
            "WHERE case_id = 'a' AND key = 'T:open#1' ORDER BY id"
        ).all()
    assert [tuple(r) for r in rows] == [(0, 1), (1, 0)]


def test_flow_cases_lists_and_shows_cases_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli

    clock = SimulatedClock(T0)
    svc = _service(tmp_path, clock)
    svc.open("counter", {}, actor="ann", role="agent", case_id="c-1")
    svc.fire("c-1", "bump", "ann", "agent")
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    assert cli.main(["cases", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "c-1  counter v1  open  1 timer pending  2 records" in listing
    assert cli.main(["cases", "--db", db, "c-1"]) == 0
    shown = capsys.readouterr().out
    assert "state open" in shown and "event    bump by ann (agent)" in shown
    assert cli.main(["cases", "--db", db, "nope"]) == 2
    assert "no case with id `nope`" in capsys.readouterr().err
    assert cli.main(["cases", "--db", f"sqlite:///{tmp_path / 'typo.db'}"]) == 2
    assert not (tmp_path / "typo.db").exists()  # a typo does not create an empty store
    (tmp_path / "flows" / "counter.flow").write_text(COUNTER_V2)
    args = ["migrate", "counter", "--to", "2", "--db", db, "--workflows"]
    assert cli.main([*args, str(tmp_path / "flows")]) == 0
    assert "1 case would move (dry run" in capsys.readouterr().out
    assert svc.get("c-1").version == 1


PINNED = """\
flow visit "上门"
calendar office
roles: agent
state booked "已预约":
    after 1 working day -> due
    on done -> closed by agent
state due "到期":
    on done -> closed by agent
final closed "完成"
"""
OFFICE = """\
office:
  timezone: Asia/Shanghai
  hours: ["08:00-12:00", "13:00-17:00"]
  holidays: CN
  extra_holidays: [{extra}]
"""


def test_a_case_keeps_the_calendar_it_started_with(tmp_path: Path) -> None:
    """calendars.yaml gains a closing day: running cases keep theirs, new cases get the new."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "visit.flow").write_text(PINNED)
    (folder / "calendars.yaml").write_text(OFFICE.format(extra=""))
    db = f"sqlite:///{tmp_path / 'pinned.db'}"
    clock = SimulatedClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))  # Mon 18:00 in Shanghai
    first = Service(db, folder, clock=clock)
    old = first.open("visit", {}, actor="ann", role="agent", case_id="old")
    assert old.timers["T:booked#1"].due.isoformat() == "2026-03-04T08:00:00+08:00"
    first.close()

    (folder / "calendars.yaml").write_text(OFFICE.format(extra="2026-03-04"))
    second = Service(db, folder, clock=clock)
    new = second.open("visit", {}, actor="ann", role="agent", case_id="new")
    assert new.timers["T:booked#1"].due.isoformat() == "2026-03-05T08:00:00+08:00"
    old = second.get("old")
    assert old.flow_hash != new.flow_hash  # each case names the flow + calendar it runs on
    assert second.runtime_of(old).calendar.is_working_day(datetime(2026, 3, 4).date())
    assert not second.runtime_of(new).calendar.is_working_day(datetime(2026, 3, 4).date())
    second.close()


CHASER = """\
flow chaser "催办"
calendar office
roles: agent

state open "待处理":
    every 1h: notify agent "hourly"
    every 1 working day at most 3 times: notify agent "daily"
    every working day at 17:30: notify agent "summary"
    on finish -> closed by agent

final closed "closed"
"""


@pytest.mark.parametrize("downtime_days", [1, 9, 400])
def test_missed_periods_of_an_every_timer_coalesce_into_one_late_firing(
    tmp_path: Path, downtime_days: int
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "chaser.flow").write_text(CHASER)
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Mon 09:00 in Shanghai
    clock = SimulatedClock(start)
    svc = Service(f"sqlite:///{tmp_path / 'c.db'}", folder, clock=clock)
    svc.open("chaser", {}, case_id="c")
    back = start + timedelta(days=downtime_days, minutes=7)
    clock.advance_to(back)  # the service was down
    steps = svc.run_due()
    fired = [s.records[0].what for s in steps]
    # one late firing per timer, not one per missed period
    assert sorted(fired) == sorted(set(fired)) and len(fired) == 3, fired
    assert svc.run_due() == []
    case = svc.get("c")
    assert all(a.due > back for a in case.timers.values())
    notes = [r.what for r in svc.history("c") if r.kind == "note"]
    assert any("T:open#1" in n and "coalesced" in n for n in notes), notes
    # `at most 3 times` counts the coalesced firing once
    daily = case.timers["T:open#2"]
    assert daily.count == 1
    # the log replays to the same case, skipped periods included
    replayed = replay(svc.runtime_of(case), "c", svc.history("c"))
    assert replayed.timers == case.timers
