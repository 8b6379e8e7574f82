"""The §11 scenario runner (`engine.scenario.run_scenario`) and `flow simulate`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import ACCEPTANCE, CALENDARS_YAML, WORKFLOWS, sh

import cli
from engine.scenario import ScenarioError, run_scenario

FLOW = """
flow complaint "投诉"
calendar office
roles: 客服, 主管, 工程部
fields:
    category: choice(fee, facility)
    complainant: text
    reply_count: int = 0
    reply_text: text?
sla reply within 2 working hours from received until handling:
    breach: escalate to 主管 "reply late"
sla solve within 2 working days from received until closed
state received:
    on dispatch -> handling by 客服:
        assign to 工程部
        notify 工程部 "new {id}"
state handling:
    on reply(reply_text) by 工程部:
        set reply_count = reply_count + 1
        callback "回访" to 客服 within 1 working day
    on callback_done
    on close -> closed by 客服
    after 3 working days: escalate to 主管 "slow"
    after 1 working hour: notify 客服 "an hour in handling"
final closed
"""

# Mon 2026-03-02 16:30 dispatch; 16:50 reply; Tue 08:30 1 working hour in handling (客服);
# Thu 16:30 three working days (escalation to 主管). reply met, solve breached Wed 16:30.
BASE_STEPS = """
  - fire: dispatch
    by: 客服
  - after: 20m
    fire: reply
    by: 工程部
    data: {reply_text: 已修复}
  - at: 2026-03-05 17:00
"""

ALL_PASSING = {
    "state": "handling",
    "fields": "{reply_count: 1, reply_text: 已修复}",
    "escalations": "[主管]",
    "sla": "{reply: met, solve: breached}",
    "notified": "[工程部, 主管]",
    "notifications": "3",
    "assignee": "工程部",
    "callbacks": "{opened: 1, done: 0}",
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the flow and its calendars.yaml."""
    write(tmp_path, "complaint.flow", FLOW)
    write(tmp_path, "calendars.yaml", CALENDARS_YAML)
    return tmp_path


def scenario(
    folder: Path,
    steps: str,
    name: str = "s.yaml",
    flow: str = "complaint.flow",
    start: str = "2026-03-02 16:30",
    case: str = "{category: facility, complainant: 张三}",
) -> Path:
    head = f"flow: {flow}\nstart: {start}\ncase: {case}\nsteps:\n"
    return write(folder, name, head + textwrap.dedent(steps).strip("\n") + "\n")


def expect_step(key: str, value: str) -> str:
    return f"  - expect: {{{key}: {value}}}\n"


# ------------------------------------------------------------------ expectations


def test_every_expect_key_passes(project: Path) -> None:
    body = ", ".join(f"{k}: {v}" for k, v in ALL_PASSING.items())
    path = scenario(
        project, BASE_STEPS + f"  - expect: {{{body}}}\n  - expect: {{escalations: 1}}\n"
    )
    result = run_scenario(path)
    assert result.failures == []
    assert result.passed
    assert result.case is not None and result.case.state == "handling"


FAILING = [
    # key, expectation that does not hold, texts the failure must contain
    ("state", "closed", ["state", "handling", "closed"]),
    ("fields", "{reply_count: 2}", ["reply_count", "1", "2"]),
    ("fields", "{no_such_field: 1}", ["no_such_field"]),
    ("escalations", "2", ["escalations", "1", "2"]),
    ("escalations", "[客服]", ["escalations", "主管", "客服"]),
    ("sla", "{reply: breached}", ["reply", "met", "breached"]),
    ("sla", "{solve: met}", ["solve", "breached", "met"]),
    ("notified", "[客服, 财务部]", ["notified", "财务部", "工程部", "主管"]),
    ("notifications", "5", ["notifications", "3", "5"]),
    ("assignee", "客服", ["assignee", "工程部", "客服"]),
    ("callbacks", "{done: 1}", ["callbacks", "done", "0", "1"]),
    ("callbacks", "{opened: 2}", ["callbacks", "opened", "1", "2"]),
]


@pytest.mark.parametrize(
    ("key", "value", "texts"), FAILING, ids=[f"{k}={v}" for k, v, _ in FAILING]
)
def test_a_failing_expectation_names_the_key_and_both_values(
    project: Path, key: str, value: str, texts: list[str]
) -> None:
    path = scenario(project, BASE_STEPS + expect_step(key, value))
    result = run_scenario(path)
    assert not result.passed
    assert len(result.failures) == 1
    message = result.failures[0]
    for text in texts:
        assert text.lower() in message.lower(), f"{text!r} not in {message!r}"
    assert "step 4" in message


def test_notified_is_a_subset_and_notifications_count_escalations(project: Path) -> None:
    path = scenario(
        project,
        BASE_STEPS
        + "  - expect: {notified: [主管]}\n"
        + "  - expect: {notified: []}\n"
        + "  - expect: {notifications: 3, escalations: 1}\n",
    )
    assert run_scenario(path).failures == []


def test_sla_not_started_is_pending(project: Path) -> None:
    write(
        project,
        "late.flow",
        """
        flow late
        roles: a
        sla s within 1h from second until done
        state first:
            on go -> second
        state second:
            on finish -> done
        final done
        """,
    )
    path = scenario(
        project,
        """
        - expect: {sla: {s: pending}}
        - fire: go
          by: a
        - expect: {sla: {s: running}}
        - after: 2h
        - expect: {sla: {s: breached}}
        """,
        flow="late.flow",
        case="{}",
    )
    assert run_scenario(path).failures == []


# ------------------------------------------------------------------ moving the clock


def test_after_wait_and_at_move_the_clock(project: Path) -> None:
    path = scenario(
        project,
        """
        - after: 20m
        - expect: {state: received}
        - wait: 2 working hours
        - at: 2026-03-03 10:00
        - fire: dispatch
          by: 客服
        - wait: 1 working day
        - after: 1h
        """,
    )
    result = run_scenario(path)
    assert result.failures == []
    assert result.engine is not None
    # 16:50 + 2 working hours = Tue 09:50; then at 10:00; + 1 working day = Wed 10:00; + 1h
    assert result.engine.clock.now() == sh(2026, 3, 4, 11, 0)
    case = result.case
    assert case is not None
    fired = [(r.at, r.what) for r in case.audit if r.kind == "event"]
    assert fired == [(sh(2026, 3, 3, 10, 0), "dispatch")]
    # the reply SLA (2 working hours from Mon 16:30) breached Tue 09:30, on the way
    assert case.slas["reply"].status == "breached"
    assert case.escalations[0].at == sh(2026, 3, 3, 9, 30)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        ("3 working hours", sh(2026, 3, 3, 10, 30)),
        ("3工作小时", sh(2026, 3, 3, 10, 30)),
        ("2 working days", sh(2026, 3, 4, 16, 30)),
        ("2个工作日", sh(2026, 3, 4, 16, 30)),
        ("2工作日", sh(2026, 3, 4, 16, 30)),
        ("90m", sh(2026, 3, 2, 18, 0)),
        ("30分钟", sh(2026, 3, 2, 17, 0)),
        ("2d", sh(2026, 3, 4, 16, 30)),
        ("1周", sh(2026, 3, 9, 16, 30)),
    ],
)
def test_wait_units(project: Path, wait: str, expected: object) -> None:
    path = scenario(project, f"- wait: {wait}\n")
    result = run_scenario(path)
    assert result.engine is not None and result.engine.clock.now() == expected


def test_timers_fire_on_the_way_during_after(project: Path) -> None:
    path = scenario(
        project,
        """
        - fire: dispatch
          by: 客服
        - after: 1 working hour
        - expect: {notified: [客服], notifications: 2}
        """,
    )
    result = run_scenario(path)
    assert result.failures == []
    assert result.case is not None
    assert [r.at for r in result.case.audit if r.kind == "timer" and "handling" in r.what] == [
        sh(2026, 3, 3, 8, 30)
    ]


def test_at_backwards_is_a_scenario_error(project: Path) -> None:
    path = scenario(project, "- at: 2026-03-03 10:00\n- at: 2026-03-03 09:59\n")
    with pytest.raises(ScenarioError, match="backwards"):
        run_scenario(path)


def test_at_before_start_is_a_scenario_error(project: Path) -> None:
    path = scenario(project, "- at: 2026-03-01 10:00\n")
    with pytest.raises(ScenarioError):
        run_scenario(path)


# ------------------------------------------------------------------ error: true


def test_error_true_on_a_refused_event_passes(project: Path) -> None:
    path = scenario(
        project,
        """
        - fire: close
          by: 客服
          error: true
        - fire: dispatch
          by: 工程部
          error: true
        - fire: dispatch
          by: 客服
          data: {reply_text: x}
          error: true
        - expect: {state: received, notifications: 0}
        """,
    )
    result = run_scenario(path)
    assert result.failures == []
    assert [e.kind for e in result.timeline].count("error") == 3


def test_error_true_on_an_accepted_event_fails(project: Path) -> None:
    path = scenario(project, "- fire: dispatch\n  by: 客服\n  error: true\n")
    result = run_scenario(path)
    assert len(result.failures) == 1
    assert "dispatch" in result.failures[0] and "refused" in result.failures[0]


def test_a_refused_event_without_error_true_fails(project: Path) -> None:
    path = scenario(project, "- fire: close\n  by: 客服\n")
    result = run_scenario(path)
    assert len(result.failures) == 1
    assert "close" in result.failures[0]


# ------------------------------------------------------------------ where files come from


def test_flow_path_relative_to_the_scenario_and_calendars_beside_the_flow(tmp_path: Path) -> None:
    # a calendar `office` open only 09:00-10:00: only the file beside the flow says so
    write(tmp_path, "flows/complaint.flow", FLOW)
    write(
        tmp_path,
        "flows/calendars.yaml",
        """
        office:
          timezone: Asia/Shanghai
          hours: ["09:00-10:00"]
          weekdays: [mon, tue, wed, thu, fri]
        """,
    )
    path = scenario(
        tmp_path / "scenarios" / "deep",
        """
        - fire: dispatch
          by: 客服
        - at: 2026-03-03 09:59
        - expect: {notifications: 1}
        - at: 2026-03-03 10:00
        - expect: {notifications: 2, notified: [客服]}
        """,
        flow="../../flows/complaint.flow",
    )
    result = run_scenario(path)
    assert result.failures == []  # 1 working hour after Mon 16:30 = Tue 10:00 on this calendar


def test_calendars_option_overrides_the_file_beside_the_flow(project: Path) -> None:
    # beside the flow: the usual office hours; given with --calendars: open 09:00-10:00 only
    other = write(
        project,
        "elsewhere/cal.yaml",
        """
        office:
          timezone: Asia/Shanghai
          hours: ["09:00-10:00"]
        """,
    )
    steps = """
        - fire: dispatch
          by: 客服
        - at: 2026-03-03 09:30
        - expect: {notified: [客服]}
        """
    path = scenario(project, steps)
    assert run_scenario(path).failures == []  # Tue 08:30 with the calendar beside the flow
    assert run_scenario(path, other).failures != []  # Tue 10:00 with the one given
    assert cli.main(["simulate", "--scenario", str(path), "--calendars", str(other)]) == 1
    assert cli.main(["simulate", "--scenario", str(path)]) == 0


def test_flow_by_name_beside_the_scenario_else_shipped(tmp_path: Path) -> None:
    from engine.loader import find_flow

    write(tmp_path, "mine.flow", FLOW)
    assert find_flow("mine", tmp_path) == tmp_path / "mine.flow"
    assert find_flow("mine.flow", tmp_path) == tmp_path / "mine.flow"
    shipped = sorted(WORKFLOWS.glob("*.flow"))
    if not shipped:
        pytest.skip("no shipped flows yet")
    assert find_flow(shipped[0].stem, tmp_path).resolve() == shipped[0].resolve()
    write(tmp_path, shipped[0].name, FLOW)  # a flow beside the scenario wins
    assert find_flow(shipped[0].stem, tmp_path) == tmp_path / shipped[0].name


def test_start_is_in_the_calendar_zone(project: Path) -> None:
    path = scenario(project, "- expect: {state: received}\n", start="2026-03-02 08:00")
    result = run_scenario(path)
    assert result.case is not None and result.case.opened_at == sh(2026, 3, 2, 8, 0)


# ------------------------------------------------------------------ the CLI


def simulate(path: Path) -> int:
    return cli.main(["simulate", "--scenario", str(path)])


def test_cli_exit_0_when_every_expectation_holds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = ", ".join(f"{k}: {v}" for k, v in ALL_PASSING.items())
    assert simulate(scenario(project, BASE_STEPS + f"  - expect: {{{body}}}\n")) == 0
    assert "PASS" in capsys.readouterr().out


def test_cli_exit_1_when_an_expectation_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(scenario(project, BASE_STEPS + expect_step("state", "closed"))) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "closed" in out


@pytest.mark.parametrize(
    "steps",
    [
        "- at: 2026-03-03 10:00\n- at: 2026-03-02 10:00\n",  # backwards
        "- wait: soon\n",  # not a duration
        "- fire: dispatch\n  by: 客服\n  colour: red\n",  # unknown key
        "- expect: {mood: happy}\n",  # unknown expectation
        "- [not, a, step]\n",
    ],
    ids=["at-backwards", "bad-duration", "unknown-step-key", "unknown-expect-key", "not-a-mapping"],
)
def test_cli_exit_2_on_an_invalid_scenario(project: Path, steps: str) -> None:
    assert simulate(scenario(project, steps)) == 2


def test_cli_exit_2_on_a_missing_or_broken_flow(project: Path) -> None:
    assert simulate(scenario(project, "- wait: 1h\n", flow="nowhere.flow")) == 2
    write(
        project, "broken.flow", "flow broken\nroles: a\nstate s:\n    on go -> nowhere\nfinal e\n"
    )
    assert simulate(scenario(project, "- wait: 1h\n", flow="broken.flow")) == 2


def test_cli_exit_2_when_the_case_cannot_be_opened(project: Path) -> None:
    path = write(
        project,
        "s.yaml",
        "flow: complaint.flow\nstart: 2026-03-02 09:00\ncase: {category: feee}\nsteps: []\n",
    )
    assert simulate(path) == 2


def test_cli_exit_2_on_a_missing_file(tmp_path: Path) -> None:
    assert simulate(tmp_path / "nothing.yaml") == 2
    write(tmp_path, "bad.yaml", "flow: [unclosed\n")
    assert simulate(tmp_path / "bad.yaml") == 2


# ------------------------------------------------------------------ the acceptance examples


def _acceptance_scenarios() -> list[object]:
    if not ACCEPTANCE.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{ACCEPTANCE} is absent"))]
    found = sorted(p for p in ACCEPTANCE.glob("*.yaml") if p.name != "calendars.yaml")
    return [pytest.param(p, id=p.name) for p in found]


@pytest.mark.parametrize("path", _acceptance_scenarios())
def test_acceptance_scenario_passes(path: Path) -> None:
    result = run_scenario(path)
    assert result.failures == [], "\n".join(result.failures)
    assert simulate(path) == 0
