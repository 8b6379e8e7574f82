"""Case correlation (`keys:`, `earlier_cases`, `last_case`): the same answers from the
in-memory engine, the durable service (SQLite and PostgreSQL, across a restart) and an
oracle written here, for random sequences of cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import CALENDARS_YAML, fresh_database, make_harness, run_cli, sh
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import SimulatedClock
from engine.service import Service

REPEATS = """\
flow repeats "重复投诉"
roles: 客服专员, 主管
keys: unit, phone

fields:
    unit: text
    phone: text?
    earlier: int = 0
    previous: text?

state received "已受理":
    enter:
        set earlier = earlier_cases(30d)
        set previous = last_case(30d)
    on moved(unit) by 客服专员:
        set earlier = earlier_cases(30d)
    on close -> closed by 客服专员
    after 60d -> closed

final closed "已结案"
"""

OPENS = st.lists(
    st.tuples(
        st.integers(0, 20 * 24),  # hours after the previous case
        st.sampled_from(["1-101", "1-102", "2-201"]),
        st.none() | st.sampled_from(["138", "139"]),
    ),
    min_size=1,
    max_size=12,
)


def _oracle(opens: list[tuple[datetime, str, str | None]]) -> list[tuple[int, str | None]]:
    out = []
    for i, (at, unit, phone) in enumerate(opens):
        related = [
            j
            for j, (then, u, p) in enumerate(opens[:i])
            if at - timedelta(days=30) <= then and (u == unit or (phone and p == phone))
        ]
        out.append((len(related), f"repeats-{related[-1] + 1:06d}" if related else None))
    return out


def _instants(opens: list[tuple[int, str, str | None]]) -> list[tuple[datetime, str, str | None]]:
    at, out = sh(2026, 3, 2, 9, 0), []
    for hours, unit, phone in opens:
        at += timedelta(hours=hours)
        out.append((at, unit, phone))
    return out


@settings(max_examples=40, deadline=None)
@given(OPENS)
def test_the_engine_relates_cases_as_the_oracle(opens: list[tuple[int, str, str | None]]) -> None:
    timed = _instants(opens)
    h = make_harness(REPEATS, at=timed[0][0])
    answers = []
    for at, unit, phone in timed:
        h.advance(at)
        case = h.open({"unit": unit, "phone": phone})
        answers.append((case.fields["earlier"], case.fields["previous"]))
    assert answers == _oracle(timed)


def test_a_key_set_by_an_event_relates_the_case_from_then_on() -> None:
    h = make_harness(REPEATS)
    first = h.open({"unit": "1-101"})
    second = h.open({"unit": "9-999"})
    h.fire(second, "moved", "客服专员", {"unit": "1-101"})
    assert second.fields["earlier"] == 1  # the first case
    third = h.open({"unit": "9-999"})
    assert (third.fields["earlier"], third.fields["previous"]) == (1, second.id)
    assert first.fields["earlier"] == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'c.db'}"
    return fresh_database(request.getfixturevalue("pg_server"), "correlation_pg")


def test_the_service_relates_cases_in_the_store_across_a_restart(
    tmp_path: Path, db_url: str
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "repeats.flow").write_text(REPEATS, encoding="utf-8")
    (folder / "calendars.yaml").write_text(CALENDARS_YAML, encoding="utf-8")
    timed = _instants([(0, "1-101", None), (5, "1-102", "138"), (30, "1-101", "138"),
                       (24 * 31, "1-101", None), (1, "2-201", "138")])  # fmt: skip
    clock = SimulatedClock(timed[0][0])
    answers = []
    for i, (at, unit, phone) in enumerate(timed):
        clock.advance_to(at)
        svc = Service(db_url, folder, clock=clock)  # a new process each time: a restart
        case = svc.open("repeats", {"unit": unit, "phone": phone}, case_id=f"repeats-{i + 1:06d}")
        answers.append((case.fields["earlier"], case.fields["previous"]))
        svc.close()
    assert answers == _oracle(timed)


def _simulate(tmp_path: Path, repeats: str) -> tuple[int, str]:
    folder = tmp_path / "sim"
    folder.mkdir(exist_ok=True)
    (folder / "repeats.flow").write_text(REPEATS, encoding="utf-8")
    (folder / "calendars.yaml").write_text(CALENDARS_YAML, encoding="utf-8")
    (folder / "repeats.yaml").write_text(
        "flow: repeats\ncases: 2000\ndays: 60\nseed: 2\nstart: 2026-03-02\n"
        f"fields: {{unit: {{format: '{{n}}室'}}}}\nrepeats: {repeats}\n"
        "states:\n  received:\n    - {p: 1, event: close, by: 客服专员, delay: 2h}\n",
        encoding="utf-8",
    )
    run = run_cli("simulate", folder / "repeats.flow", "--profile", folder / "repeats.yaml",
                  "--json")  # fmt: skip
    return run.returncode, run.stdout + run.stderr


def test_the_load_simulation_draws_repeats_by_key_and_reports_their_rate(tmp_path: Path) -> None:
    code, out = _simulate(tmp_path, "{unit: 0.1}")
    assert code == 0, out
    report = json.loads(out)
    # an arrival about an earlier unit with p = 0.1; a repeat counts within 30 days
    assert 7.0 <= report["repeat"]["rate_pct"] <= 10.0
    assert _simulate(tmp_path, "{unit: 0.1}")[1] == out  # same seed, same report
    code, out = _simulate(tmp_path, "{caller: 0.1}")
    assert code == 2 and "repeats.caller: not one of the flow's `keys:` (unit, phone)" in out
