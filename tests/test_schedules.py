"""Schedules (a flow's duties on the calendar) as users see them: in scenarios' virtual
time, in the in-memory engine, and in the durable service — each occurrence exactly once
with two workers, the catch-up policies after downtime, pause and resume."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import CALENDARS_YAML, fresh_database, make_harness, refused, run_cli, sh

from engine.case import Notification
from engine.clock import SimulatedClock
from engine.engine import replay
from engine.errors import StoreError
from engine.i18n import language
from engine.schedules import catch_up
from engine.scheduling.schedule_command import listing, pause
from engine.service import Service

DUTIES = """\
flow duties "值班"
calendar office
roles: 客服专员, 主管

fields:
    period: date?

schedule roster "入住名单" every month on working day 1 at 09:00:
    open case
    catch up CATCH

schedule daily "日报" every working day at 17:30:
    summary to 主管 "值班日报"

state listing "制作名单":
    enter: set period = date_of(now)
    task inspection "检查" by 客服专员 within 2h
    on listed -> done by 客服专员
    after 1 working day: escalate to 主管 "名单未完成"

final done "完成"
"""


def _folder(tmp_path: Path, catch: str = "latest") -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "duties.flow").write_text(DUTIES.replace("CATCH", catch), encoding="utf-8")
    (folder / "calendars.yaml").write_text(CALENDARS_YAML, encoding="utf-8")
    return folder


def test_an_engine_fires_each_occurrence_at_its_time_and_summarises_open_cases() -> None:
    sent: list[Notification] = []
    h = make_harness(DUTIES.replace("CATCH", "latest"), at=sh(2026, 9, 28, 12, 0))
    h.engine.add_notifier(sent.append)
    h.advance(sh(2026, 10, 9, 12, 0))  # Oct 1-7: National Day; Oct 8 the first working day
    assert [(o.schedule, o.due) for o in h.engine.occurrences] == [
        ("daily", sh(2026, 9, 28, 17, 30)),
        ("daily", sh(2026, 9, 29, 17, 30)),
        ("daily", sh(2026, 9, 30, 17, 30)),
        ("roster", sh(2026, 10, 8, 9, 0)),
        ("daily", sh(2026, 10, 8, 17, 30)),
    ]
    (case,) = h.engine.cases.values()
    assert case.fields["period"] == sh(2026, 10, 8).date()
    assert case.audit[0].what == "case opened by schedule roster"
    summaries = [n for n in sent if n.kind == "summary"]
    assert [n.role for n in summaries] == ["主管"] * 4
    last = summaries[-1].message
    assert last.startswith("值班日报 — 2026-10-08 17:30: 1 open")
    assert "制作名单 1" in last and f"{case.id} inspection" in last  # overdue since 11:00
    assert replay(h.engine.runtime_of(case), case.id, case.audit).snapshot() == case.snapshot()


def test_a_summary_is_written_in_the_services_language() -> None:
    sent: list[Notification] = []
    h = make_harness(DUTIES.replace("CATCH", "latest"), at=sh(2026, 9, 28, 12, 0))
    h.engine.add_notifier(sent.append)
    with language("zh_CN"):
        h.advance(sh(2026, 10, 9, 12, 0))
    last = [n for n in sent if n.kind == "summary"][-1].message
    assert last.startswith("值班日报 — 2026年10月8日 17:30：未结 1 张\n按状态：制作名单 1")
    assert "逾期任务（1）：" in last


@pytest.mark.parametrize(
    ("policy", "fired", "late"),
    [("latest", [9], [True]), ("all", [7, 8, 9], [True, True, True]), ("none", [], [])],
)
def test_catch_up_policies(policy: str, fired: list[int], late: list[bool]) -> None:
    def after(t: datetime) -> datetime:
        return t.replace(hour=0) + timedelta(days=1)

    plan = catch_up(
        datetime(2026, 3, 7, tzinfo=UTC),
        datetime(2026, 3, 9, 6, tzinfo=UTC),
        after,
        policy,
        timedelta(seconds=1),
    )
    assert [d.day for d, _ in plan.fire] == fired and [x for _, x in plan.fire] == late
    assert plan.next_due == datetime(2026, 3, 10, tzinfo=UTC)
    assert plan.skipped == 3 - len(fired)


def test_an_occurrence_due_within_the_grace_is_on_time_whatever_the_policy() -> None:
    now = datetime(2026, 3, 9, 0, 0, 0, 500_000, tzinfo=UTC)
    plan = catch_up(now.replace(microsecond=0), now, lambda t: t + timedelta(days=1), "none",
                    timedelta(seconds=1))  # fmt: skip
    assert plan.fire == [(now.replace(microsecond=0), False)]


def _service(tmp_path: Path, clock: SimulatedClock, worker: str, catch: str = "latest") -> Service:
    return Service(f"sqlite:///{tmp_path / 'd.db'}", _folder(tmp_path, catch), clock=clock,
                   worker_id=worker)  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'd.db'}"
    server = request.getfixturevalue("pg_server")
    return fresh_database(server, "schedules_pg")


def test_two_workers_fire_each_occurrence_once(tmp_path: Path, db_url: str) -> None:
    clock = SimulatedClock(sh(2026, 9, 28, 12, 0))
    folder = _folder(tmp_path)
    workers = [Service(db_url, folder, clock=clock, worker_id=f"w{i}") for i in range(2)]
    workers[0].run_schedules()  # first start: the schedules begin after now
    happened: list[tuple[str, datetime]] = []
    lock = threading.Lock()
    for day in (sh(2026, 9, 28, 17, 31), sh(2026, 10, 8, 9, 1), sh(2026, 10, 8, 17, 31)):
        clock.advance_to(day)

        def run(svc: Service, day: datetime = day) -> None:
            for o in svc.run_schedules(day):
                with lock:
                    happened.append((o.schedule, o.due))

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(happened) == [
        ("daily", sh(2026, 9, 28, 17, 30)),
        ("daily", sh(2026, 9, 30, 17, 30)),  # 9-29 and 9-30 missed: `latest`, once
        ("daily", sh(2026, 10, 8, 17, 30)),
        ("roster", sh(2026, 10, 8, 9, 0)),
    ]
    listed = {x.name: (count, x.next_due) for x, count, _ in listing(workers[1])}
    assert listed == {"daily": (3, sh(2026, 10, 9, 17, 30)), "roster": (1, sh(2026, 11, 2, 9))}
    with workers[0].store.read() as conn:
        opened = conn.exec_driver_sql("SELECT count(*) FROM cases").scalar()
        outbox = conn.exec_driver_sql("SELECT count(*) FROM outbox WHERE kind='summary'").scalar()
    assert (opened, outbox) == (1, 3)
    for w in workers:
        w.close()


@pytest.mark.parametrize(("catch", "rosters"), [("latest", 1), ("all", 3), ("none", 0)])
def test_a_restart_across_missed_occurrences_follows_the_policy(
    tmp_path: Path, catch: str, rosters: int
) -> None:
    clock = SimulatedClock(sh(2026, 8, 31, 12, 0))
    _service(tmp_path, clock, "before", catch).run_schedules()
    clock.advance_to(sh(2026, 11, 10, 12, 0))  # down through Sep 1, Oct 8 and Nov 2
    after = _service(tmp_path, clock, "after", catch)
    roster = [o for o in after.run_schedules() if o.schedule == "roster"]
    assert len(roster) == rosters and all(o.late for o in roster)
    if catch == "all":
        assert [o.due.date() for o in roster] == [
            sh(2026, 9, 1).date(),
            sh(2026, 10, 8).date(),
            sh(2026, 11, 2).date(),
        ]
    # a case opened late takes effect at its occurrence's time, and its overdue
    # deadlines fire at once, as an uninterrupted run would have
    for o in roster:
        case = after.get(o.case_id or "")
        assert case.opened_at == o.due and case.tasks == {"inspection": "overdue"}
    assert after.run_schedules() == []


def test_pause_and_resume(tmp_path: Path) -> None:
    clock = SimulatedClock(sh(2026, 9, 28, 12, 0))
    svc = _service(tmp_path, clock, "w")
    pause(svc, "duties", "daily")
    clock.advance_to(sh(2026, 9, 30, 18, 0))
    assert [o.schedule for o in svc.run_schedules()] == []
    pause(svc, "duties", "daily", paused=False)  # missed while paused: not caught up
    clock.advance_to(sh(2026, 10, 8, 17, 31))
    assert [(o.schedule, o.due) for o in svc.run_schedules()] == [
        ("roster", sh(2026, 10, 8, 9, 0)),
        ("daily", sh(2026, 10, 8, 17, 30)),
    ]
    with pytest.raises(StoreError, match="no schedule `dialy`"):
        pause(svc, "duties", "dialy")


def test_flow_schedules_lists_pauses_and_resumes(tmp_path: Path) -> None:
    folder, db = _folder(tmp_path), f"sqlite:///{tmp_path / 'cli.db'}"
    listed = run_cli("schedules", "--db", db, "--workflows", folder)
    assert listed.returncode == 0, listed.stderr
    assert "duties daily  next " in listed.stdout and "duties roster  next " in listed.stdout
    paused = run_cli("schedules", "pause", "duties", "daily", "--db", db, "--workflows", folder)
    assert "duties daily  paused  (0 happened)" in paused.stdout
    resumed = run_cli("schedules", "resume", "duties", "daily", "--db", db, "--workflows", folder)
    assert "duties daily  next " in resumed.stdout and "17:30" in resumed.stdout
    wrong = run_cli("schedules", "pause", "duties", "dialy", "--db", db, "--workflows", folder)
    refused(wrong, 2, "no schedule `dialy`; did you mean `daily`?")
    missing = run_cli("schedules", "pause", "duties", "--db", db, "--workflows", folder)
    refused(missing, 2, "needs FLOW and NAME")


def test_schedules_count_in_scenario_coverage(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "roster.yaml").write_text(
        "flow: duties.flow\nstart: 2026-09-30 18:00\ncase: {}\nsteps:\n"
        "  - at: 2026-10-08 09:01\n  - expect: {schedules: {roster: 1}, open_cases: 2}\n",
        encoding="utf-8",
    )
    run = run_cli("simulate", "--scenario", folder / "roster.yaml", "--coverage", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    coverage = json.loads(run.stdout)["coverage"][0]
    assert coverage["counts"]["schedules"] == {"hit": 1, "total": 2}
    assert "schedule daily (line 12)" in coverage["missed"]


def test_load_simulation_runs_schedules_once_across_shards(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "duties.yaml").write_text(
        "flow: duties\ncases: 30\ndays: 61\nseed: 3\nstart: 2026-09-01\nwork_calendar: office\n"
        "arrivals: {hours: {'09-12': 1}, calendar: office}\n"
        "states:\n  listing:\n    - {p: 1, event: listed, by: 客服专员, delay: 1h}\n",
        encoding="utf-8",
    )
    reports = []
    for workers in ("1", "2"):
        run = run_cli("simulate", folder / "duties.flow", "--profile", folder / "duties.yaml",
                      "--json", "--workers", workers)  # fmt: skip
        assert run.returncode == 0, run.stderr
        reports.append(json.loads(run.stdout))
    # Sep 1 and Oct 8 (after the National Day); 22 + 18 working days (Oct 10 a make-up day)
    assert reports[0]["schedules"] == {"roster": 2, "daily": 40} == reports[1]["schedules"]
    assert reports[0]["totals"]["opened"] == 30 + 2 == reports[1]["totals"]["opened"]


def test_a_case_a_schedule_opens_in_the_service_calls_its_hooks_once(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    text = DUTIES.replace("CATCH", "latest").replace(
        "    enter: set period = date_of(now)",
        "    enter:\n        set period = date_of(now)\n        call announce(id)",
    )
    (folder / "duties.flow").write_text(text, encoding="utf-8")
    called: list[tuple[object, ...]] = []
    clock = SimulatedClock(sh(2026, 9, 28, 12, 0))
    svc = Service(f"sqlite:///{tmp_path / 'h.db'}", folder, clock=clock,
                  hooks={"announce": lambda *args: called.append(args)})  # fmt: skip
    svc.run_schedules()
    clock.advance_to(sh(2026, 10, 8, 9, 1))
    (opened,) = [o for o in svc.run_schedules() if o.case_id]
    assert called == [(opened.case_id,)]
