"""Load simulation (`flow simulate FLOW`): figures on tiny deterministic profiles equal the
hand-computed ones; runs are reproducible; memory does not grow with the number of cases."""

from __future__ import annotations

import gc
import json
import math
import random
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import CALENDARS, SH, WORKFLOWS, compile_flow, sh

import cli
from engine.loader import calendars_for, compile_flow_file
from engine.loadsim import (
    Profile,
    ProfileError,
    build_report,
    flatten,
    load_profile,
    parse_profile,
    simulate,
)
from engine.loadsim.behaviour import seconds_of, value_of
from engine.loadsim.profile import Arrivals, Delay
from engine.loadsim.sampling import ArrivalStream
from engine.loadsim.stats import Quantiles

START = date(2026, 3, 2)  # a Monday

TINY = """
flow tiny "小流程"
roles: 客服, 主管
fields:
    satisfied: bool?
    repeat_count: int = 0
sla reply "答复" within {within} from waiting until replied:
    warn at 50%: notify 主管 "答复时限过半"
    breach: escalate to 主管 "超时未答复"
state waiting "待答复":
    on reply -> replied by 客服
state replied "已答复":
    enter: callback "回访" to 客服
    on callback_done(satisfied) when not satisfied and repeat_count == 0 -> waiting by 客服, 主管:
        set repeat_count = repeat_count + 1
    on callback_done(satisfied) -> closed by 客服, 主管
final closed "已结案"
"""


def tiny(within: str = "24h") -> Any:
    return compile_flow(TINY.format(within=within))


def profile(**overrides: Any) -> Profile:
    """10 cases on day one; reply after exactly 2 h, satisfied callback after exactly 30 min."""
    raw: dict[str, Any] = {
        "cases": 10,
        "days": 1,
        "seed": 7,
        "states": {
            "waiting": [{"event": "reply", "by": "客服", "delay": "2h"}],
            "replied": [
                {
                    "event": "callback_done",
                    "by": "客服",
                    "delay": "30m",
                    "data": {"satisfied": True},
                }
            ],
        },
        "targets": [
            {"kpi": "sla.reply.met_pct", "label": "及时答复率", "min": 100},
            {"kpi": "repeat.rate_pct", "label": "重复投诉率", "max": 1},
        ],
    }
    raw.update(overrides)
    return parse_profile(raw)


def run(definition: Any, prof: Profile, **kw: Any) -> dict[str, Any]:
    kw.setdefault("start", START)
    return build_report(simulate(definition, CALENDARS, prof, **kw))


# ---------------------------------------------------------------- hand-computed figures


def test_replied_after_2h_within_24h_sla_is_all_met() -> None:
    r = run(tiny("24h"), profile())
    assert r["totals"] == {"arrived": 10, "opened": 10, "closed": 10, "open_at_end": 0,
                           "excluded": 0, "counted": 10}  # fmt: skip
    reply = r["sla"]["reply"]
    assert (reply["started"], reply["met"], reply["breached"], reply["running"]) == (10, 10, 0, 0)
    assert (reply["met_pct"], reply["breached_pct"], reply["running_pct"]) == (100.0, 0.0, 0.0)
    assert r["warnings"] == {"reply": 0}  # the warning is due at 12 h
    assert r["escalations"]["total"] == 0 and r["escalations"]["by_level"] == {}
    assert r["callbacks"] == {"opened": 10, "done": 10, "rate_pct": 100.0, "with_deadline": 0,
                              "on_time": 0, "on_time_pct": None}  # fmt: skip
    assert r["time_to_close_h"] == {"count": 10, "mean": 2.5, "p50": 2.5, "p90": 2.5, "max": 2.5}
    assert r["time_in_state_h"]["waiting"]["p50"] == 2.0
    assert r["time_in_state_h"]["replied"]["mean"] == 0.5
    assert r["satisfaction"] == {"answers": 10, "satisfied": 10, "pct": 100.0}
    assert r["repeat"]["rate_pct"] == 0.0 and r["reopen"]["rate_pct"] == 0.0
    assert r["reached"]["closed"]["pct"] == 100.0
    assert sum(d["opened"] for d in r["daily"]) == 10
    assert sum(d["closed"] for d in r["daily"]) == 10
    assert [t["pass"] for t in r["targets"]] == [True, True]
    assert r["events"]["steps"] == 30 and r["events"]["refused"] == 0  # open, reply, callback


def test_replied_after_2h_with_1h_sla_is_all_breached_and_escalated() -> None:
    r = run(tiny("1h"), profile())
    reply = r["sla"]["reply"]
    assert (reply["met"], reply["breached"], reply["breached_pct"]) == (0, 10, 100.0)
    assert r["warnings"] == {"reply": 10}  # at 30 min, before the breach
    assert r["escalations"] == {"total": 10, "cases": 10, "rate_pct": 100.0,
                                "by_level": {"1": 10}, "by_role": {"主管": 10}}  # fmt: skip
    assert sum(d["escalations"] for d in r["daily"]) == 10
    assert sum(d["breaches"] for d in r["daily"]) == 10
    assert r["targets"][0]["pass"] is False and r["targets"][0]["value"] == 0.0
    assert r["time_to_close_h"]["p50"] == 2.5  # escalation changes nothing else


def test_unsatisfied_callback_reopens_once_repeat_and_satisfaction_rates() -> None:
    unsatisfied = {"event": "callback_done", "by": "主管", "delay": "30m",
                   "data": {"satisfied": False}}  # fmt: skip
    prof = profile(states={"waiting": [{"event": "reply", "by": "客服", "delay": "2h"}],
                           "replied": [unsatisfied]})  # fmt: skip
    r = run(tiny(), prof)
    # reply 2 h, callback 30 min (unsatisfied → waiting, repeat 1), reply 2 h, callback → closed
    assert r["time_to_close_h"]["p50"] == 5.0 and r["time_to_close_h"]["p90"] == 5.0
    assert r["callbacks"]["opened"] == 20 and r["callbacks"]["done"] == 20
    assert r["repeat"] == {"cases": 10, "rate_pct": 100.0}
    assert r["reopen"] == {"cases": 10, "rate_pct": 100.0}  # `waiting` entered again
    assert r["satisfaction"] == {"answers": 20, "satisfied": 0, "pct": 0.0}
    assert r["time_in_state_h"]["waiting"]["count"] == 20
    assert r["sla"]["reply"]["met_pct"] == 100.0  # met at the first reply
    assert r["targets"][1]["pass"] is False


def test_the_garbage_collector_is_back_on_after_a_run() -> None:
    assert gc.isenabled()
    run(tiny(), profile())
    assert gc.isenabled()
    with pytest.raises(ProfileError):
        simulate(tiny(), CALENDARS, parse_profile({"cases": 1, "work_calendar": "nowhere"}))
    assert gc.isenabled()


def test_branch_probabilities_zero_and_one() -> None:
    never = {"p": 0, "event": "callback_done", "by": "客服", "delay": "1m",
             "data": {"satisfied": False}}  # fmt: skip
    always = {"p": 1, "event": "callback_done", "by": "客服", "delay": "1h",
              "data": {"satisfied": True}}  # fmt: skip
    prof = profile(states={"waiting": [{"event": "reply", "by": "客服", "delay": "2h"}],
                           "replied": [never, always]})  # fmt: skip
    r = run(tiny(), prof)
    assert r["satisfaction"]["pct"] == 100.0
    assert r["time_to_close_h"]["mean"] == 3.0


def test_refused_events_are_counted_by_reason_not_fatal() -> None:
    prof = profile(states={"waiting": [{"event": "reply", "by": "主管", "delay": "2h"}]})
    r = run(tiny("24h"), prof)
    assert r["events"]["refused"] == 10
    assert r["events"]["refused_by_reason"] == {"reply in waiting: RoleNotAllowed": 10}
    assert r["totals"]["open_at_end"] == 10 and r["totals"]["closed"] == 0
    assert r["open_states"] == {"waiting": 10}
    assert r["sla"]["reply"]["breached"] == 10  # nobody could reply: every clock ran out
    assert r["time_to_close_h"]["count"] == 0 and r["time_to_close_h"]["p50"] is None


def test_staff_capacity_makes_a_queue() -> None:
    """One agent, four cases arriving within the first hour, 2 h of work each: the replies
    come one after the other at first arrival + 2, 4, 6, 8 h."""
    prof = profile(
        cases=4,
        arrivals={"hours": {"0": 1}},
        staff={"客服": 1},
        states={
            "waiting": [{"event": "reply", "by": "客服", "delay": "2h"}],
            "replied": [
                {
                    "event": "callback_done",
                    "by": "主管",
                    "delay": "30m",
                    "data": {"satisfied": True},
                }
            ],
        },
    )
    result = simulate(tiny(), CALENDARS, prof, start=START, keep_cases=True)
    r = build_report(result)
    assert result.kept is not None
    arrivals = sorted(c.opened_at for c in result.kept)
    assert all(a - sh(2026, 3, 2) < timedelta(hours=1) for a in arrivals)
    replies = [arrivals[0] + timedelta(hours=2 * k) for k in range(1, 5)]
    waiting = sorted(
        (done - a).total_seconds() / 3600 for a, done in zip(arrivals, replies, strict=True)
    )
    closed = sorted(c.closed_at for c in result.kept if c.closed_at)
    assert closed == [t + timedelta(minutes=30) for t in replies]
    q = r["queues"]["客服"]
    assert (q["capacity"], q["jobs"], q["max_waiting"]) == (1, 4, 3)
    assert r["time_in_state_h"]["waiting"]["max"] == round(waiting[-1], 3)
    assert r["time_in_state_h"]["waiting"]["mean"] == round(sum(waiting) / 4, 3)
    assert q["wait_h"]["count"] == 4 and q["wait_h"]["p50"] == round(
        (replies[1] - timedelta(hours=2) - arrivals[1]).total_seconds() / 3600, 3
    )


def test_working_delays_skip_the_weekend() -> None:
    """Arrivals Friday 18:00–19:00; the reply takes 1 working hour on `office`: Monday 09:00."""
    prof = profile(
        work_calendar="office",
        arrivals={"hours": {"18": 1}, "weekdays": {"fri": 1}},
        states={
            "waiting": [{"event": "reply", "by": "客服",
                         "delay": {"dist": "fixed", "value": "1h", "working": True}}],
            "replied": [{"event": "callback_done", "by": "客服", "delay": "30m",
                         "data": {"satisfied": True}}],
        },
    )  # fmt: skip
    result = simulate(tiny("24h"), CALENDARS, prof, start=START, days=7, keep_cases=True)
    assert result.kept is not None
    assert {c.closed_at for c in result.kept} == {sh(2026, 3, 9, 9, 30)}
    assert all(c.opened_at.weekday() == 4 and c.opened_at.hour == 18 for c in result.kept)
    assert build_report(result)["sla"]["reply"]["breached_pct"] == 100.0


def test_field_generators_give_case_data() -> None:
    flow = compile_flow(
        """
        flow gen
        roles: 客服
        fields:
            phone: text
            kind: choice(a, b)
            vip: bool = false
            score: int = 0
            due: datetime?
        state open:
            on close -> closed by 客服
        final closed
        """
    )
    prof = parse_profile(
        {
            "cases": 50,
            "days": 2,
            "fields": {
                "phone": {"format": "138{n:08d}"},
                "kind": {"choice": {"a": 1, "b": 0}},
                "vip": {"bernoulli": 1},
                "score": {"randint": [3, 3]},
                "due": {"after": "2d"},
            },
            "states": {"open": [{"event": "close", "by": "客服", "delay": "1h"}]},
        }
    )
    result = simulate(flow, CALENDARS, prof, start=START, keep_cases=True)
    assert result.kept is not None and len(result.kept) == 50
    for case in result.kept:
        number = int(case.id.rsplit("-", 1)[1])
        assert case.fields["phone"] == f"138{number:08d}"
        assert (case.fields["kind"], case.fields["vip"], case.fields["score"]) == ("a", True, 3)
        assert case.fields["due"] == case.opened_at + timedelta(days=2)


# ---------------------------------------------------------------- reproducibility


def _complaint() -> tuple[Any, Any, Profile]:
    path = WORKFLOWS / "complaint.flow"
    calendars = calendars_for(path)
    return (
        compile_flow_file(path, calendars),
        calendars,
        load_profile(WORKFLOWS / "profiles" / "complaint.yaml"),
    )


def test_same_seed_same_json_other_seed_other_arrivals() -> None:
    definition, calendars, prof = _complaint()
    state = random.getstate()

    def report(seed: int) -> dict[str, Any]:
        return build_report(simulate(definition, calendars, prof, cases=300, days=14, seed=seed))

    a, b, c = report(3), report(3), report(4)
    assert json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)
    assert [d["opened"] for d in a["daily"]] != [d["opened"] for d in c["daily"]]
    assert random.getstate() == state  # the global RNG is never used


def test_shipped_complaint_profile_yields_every_kpi() -> None:
    definition, calendars, prof = _complaint()
    r = build_report(simulate(definition, calendars, prof, cases=400, days=30, seed=1))
    flat = flatten(r)
    for key in (
        "sla.reply.met_pct", "sla.reply.breached_pct", "sla.reply.running_pct",
        "sla.solve.met_pct", "sla.return_call.started", "warnings.reply", "escalations.total",
        "escalations.rate_pct", "callbacks.opened", "callbacks.done", "callbacks.rate_pct",
        "reopen.rate_pct", "repeat.rate_pct", "satisfaction.pct", "time_to_close_h.mean",
        "time_to_close_h.p50", "time_to_close_h.p90", "time_in_state_h.handling.p90",
        "reached.replied.pct", "backlog.max", "daily.0.backlog", "daily.0.callbacks_owed",
    ):  # fmt: skip
        assert key in flat and flat[key] is not None, key
    assert r["escalations"]["by_level"] and r["escalations"]["by_role"]
    assert r["totals"]["arrived"] == 400
    labels = [t["label"] for t in r["targets"]]
    assert len(labels) == 5 and all(t["pass"] in (True, False) for t in r["targets"])
    assert any("答复率" in label for label in labels)
    assert r["events"]["refused"] == 0, r["events"]["refused_by_reason"]
    assert len(r["daily"]) >= 30


def _shipped(name: str) -> tuple[Any, Any, Profile]:
    path = WORKFLOWS / f"{name}.flow"
    calendars = calendars_for(path)
    profile_ = load_profile(WORKFLOWS / "profiles" / f"{name}.yaml")
    return compile_flow_file(path, calendars), calendars, profile_


@pytest.mark.parametrize("name", ["complaint", "repair", "move_in", "move_out", "fee_collection"])
def test_every_shipped_profile_fits_its_flow(name: str) -> None:
    definition, calendars, prof = _shipped(name)
    assert prof.flow == name
    r = build_report(simulate(definition, calendars, prof, cases=150, days=20, seed=3))
    assert r["totals"]["arrived"] == 150 and r["totals"]["closed"] > 0
    refused = r["events"]["refused_by_reason"]
    # move_out deliberately files some applications less than two weeks ahead
    assert set(refused) <= {"apply in application: NoGuardHolds"}, refused
    assert all(t["pass"] is not None for t in r["targets"]), r["targets"]


def test_shipped_repair_profile_staffs_engineering() -> None:
    definition, calendars, prof = _shipped("repair")
    r = build_report(simulate(definition, calendars, prof, cases=200, days=30, seed=2))
    assert r["callbacks"]["opened"] > 0 and r["callbacks"]["on_time_pct"] is not None
    assert r["queues"]["工程部"]["jobs"] > 0 and r["queues"]["工程部"]["capacity"] == 4
    assert {t["kpi"] for t in r["targets"]} >= {"callbacks.on_time_pct", "satisfaction.pct"}


def test_a_short_staffed_role_is_reported() -> None:
    definition, calendars, prof = _shipped("repair")
    prof = prof.model_copy(update={"staff": parse_profile({"staff": {"工程部": 1}}).staff})
    r = build_report(simulate(definition, calendars, prof, cases=600, days=30, seed=2))
    assert r["queues"]["工程部"]["waiting_at_end"] > 0
    assert any("工程部" in note and "cannot keep up" in note for note in r["notes"])


# ---------------------------------------------------------------- bounded memory


def _peak_bytes(cases: int, days: int) -> int:
    definition = tiny("24h")
    prof = profile(
        states={
            "waiting": [{"event": "reply", "by": "客服",
                         "delay": {"dist": "lognormal", "median": "3h", "sigma": 1.0}}],
            "replied": [{"event": "callback_done", "by": "客服",
                         "delay": {"dist": "exponential", "mean": "6h"},
                         "data": {"satisfied": True}}],
        },
    )  # fmt: skip
    gc.collect()
    tracemalloc.start()
    try:
        simulate(definition, CALENDARS, prof, cases=cases, days=days, start=START)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_cases() -> None:
    """Same arrival rate, 10× the cases: closed cases are folded in and dropped."""
    small = _peak_bytes(1_000, 5)
    large = _peak_bytes(10_000, 50)
    assert large < 3 * small, (small, large)


# ---------------------------------------------------------------- building blocks


def test_quantiles_exact_for_equal_values_and_close_otherwise() -> None:
    q = Quantiles()
    for _ in range(1000):
        q.add(7200.0)
    assert (q.quantile(0.5), q.quantile(0.9), q.mean()) == (7200.0, 7200.0, 7200.0)
    rng = random.Random(1)
    values = [rng.lognormvariate(8, 1.5) for _ in range(50_000)]
    q = Quantiles()
    for v in values:
        q.add(v)
    values.sort()
    for p in (0.5, 0.9, 0.99):
        exact = values[math.ceil(p * len(values)) - 1]
        assert q.quantile(p) == pytest.approx(exact, rel=0.01)
    assert q.buckets < 2000  # bounded by the range of the values, not their number


def test_draws_are_the_random_methods_own() -> None:
    """The compiled draws inline `random.Random`'s formulas: same seed, same numbers."""
    specs: list[tuple[dict[str, Any], Any]] = [
        ({"dist": "exponential", "mean": "10m"}, lambda r: r.expovariate(1 / 600)),
        ({"dist": "uniform", "min": "1m", "max": "2h"}, lambda r: r.uniform(60, 7200)),
        ({"dist": "lognormal", "median": "1h", "sigma": 0.8},
         lambda r: r.lognormvariate(math.log(3600), 0.8)),
    ]  # fmt: skip
    for spec, method in specs:
        draw = seconds_of(Delay.model_validate(spec), random.Random(4))
        expected = random.Random(4)
        assert [draw() for _ in range(200)] == [method(expected) for _ in range(200)], spec
    weights = {"a": 3, "b": 1, "c": 0, "d": 2.5}
    pick = value_of({"choice": weights}, random.Random(9), CALENDARS["office"])
    expected = random.Random(9)
    picks = [pick(1, datetime(2026, 3, 2, tzinfo=SH)) for _ in range(500)]
    assert picks == [
        expected.choices(list(weights), weights=list(weights.values()))[0] for _ in range(500)
    ]


def test_quantiles_nearest_rank() -> None:
    q = Quantiles()
    for v in [2.0] * 5 + [4.0] * 5:
        q.add(v * 3600)
    assert q.quantile(0.5) == 7200.0 and q.quantile(0.9) == 14400.0
    assert Quantiles().quantile(0.5) is None


def test_arrivals_sorted_in_period_and_weighted() -> None:
    arrivals = Arrivals.model_validate(
        {"hours": {"08-12": 1, "13-17": 1}, "weekdays": {"mon": 1, "tue": 1}}
    )
    times = list(ArrivalStream(random.Random(5), 3000, START, 14, arrivals,
                               CALENDARS["office"], SH))  # fmt: skip
    assert len(times) == 3000 and times == sorted(times)
    assert all(datetime(2026, 3, 2, tzinfo=SH) <= t < datetime(2026, 3, 16, tzinfo=SH)
               for t in times)  # fmt: skip
    assert all(t.weekday() in (0, 1) and (8 <= t.hour < 12 or 13 <= t.hour < 17) for t in times)


def test_holiday_weight_uses_the_calendar() -> None:
    """2026-04-06 (Mon) is a Qingming holiday on the CN office calendar: weight 0 there."""
    arrivals = Arrivals.model_validate({"weekdays": {"mon": 1}, "holiday": 0})
    times = list(ArrivalStream(random.Random(1), 500, date(2026, 3, 30), 14, arrivals,
                               CALENDARS["office"], SH))  # fmt: skip
    assert {t.date() for t in times} == {date(2026, 3, 30)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"states": {"nowhere": [{"event": "x"}]}}, "no state `nowhere`"),
        ({"states": {"waiting": [{"event": "reply", "by": "老板"}]}}, "not a role"),
        ({"staff": {"老板": 2}}, "staff.老板"),
        ({"fields": {"colour": "red"}}, "fields.colour"),
    ],
)
def test_profile_that_does_not_fit_the_flow(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        simulate(tiny(), CALENDARS, parse_profile(raw), start=START)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"states": {"a": [{"p": 0.7, "event": "x"}, {"p": 0.7, "event": "y"}]}}, "add up to"),
        ({"states": {"a": [{"event": "x", "delay": "2 hours"}]}}, "not a duration"),
        ({"states": {"a": [{"event": "x", "delay": {"dist": "exponential"}}]}}, "needs mean"),
        ({"arrivals": {"hours": [1, 2]}}, "24 hourly weights"),
        ({"fields": {"x": {"pick": [1, 2]}}}, "one generator"),
        ({"targets": [{"kpi": "a", "label": "b"}]}, "exactly one of min, max"),
        ({"cases": 0}, "cases"),
    ],
)
def test_invalid_profiles_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(raw)


# ---------------------------------------------------------------- command line


def test_cli_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "complaint", "--cases", "150", "--days", "7", "--seed", "9",
            "--start", "2026-03-02"]  # fmt: skip
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["arrived"] == 150 and report["seed"] == 9
    assert report["start"].startswith("2026-03-02")
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "manual targets" in text and ("✓ pass" in text or "✗ FAIL" in text)


def test_cli_flow_and_scenario_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = next((WORKFLOWS / "scenarios" / "complaint").glob("*.yaml"))
    assert cli.main(["simulate", "complaint", "--scenario", str(scenario)]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_bad_profile_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("states: {nowhere: [{event: x}]}\n", encoding="utf-8")
    assert cli.main(["simulate", "complaint", "--profile", str(bad), "--cases", "5"]) == 2
    assert "no state `nowhere`" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--cases", "0"], ["--days", "0"]])
def test_cli_refuses_an_empty_run(option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["simulate", "complaint", *option]) == 2
    assert "a run takes 1 to 10,000,000 cases over 1 to 3,660 days" in capsys.readouterr().err


def test_arrivals_with_no_possible_day_are_a_profile_error() -> None:
    prof = profile(arrivals={"weekdays": {"sun": 1}})
    with pytest.raises(ProfileError, match="no arrival is possible"):
        simulate(tiny(), CALENDARS, prof, start=START, days=3)  # Mon–Wed


def test_cli_keep_cases_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["simulate", "complaint", "--cases", "20", "--days", "3", "--json",
                     "--keep-cases"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert len(report["case_list"]) == 20
    assert {"id", "state", "sla", "fields"} <= set(report["case_list"][0])
