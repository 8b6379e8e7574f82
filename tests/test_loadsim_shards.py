"""Sharded load simulation: a run without staff limits is split by case number into shards
that add up to the whole run, whatever the number of worker processes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import CALENDARS, WORKFLOWS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_loadsim import START, profile, tiny

import cli
from engine.loader import calendars_for, compile_flow_file
from engine.loadsim import build_report, load_profile, simulate
from engine.loadsim.shards import SHARDS, shard_count
from engine.loadsim.simulator import Simulation
from engine.loadsim.stats import Daily, Quantiles
from engine.loadsim.tally import Tally
from engine.runtime import FlowRuntime


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, sort_keys=True, default=str)


def test_worker_processes_never_change_the_numbers() -> None:
    flow = WORKFLOWS / "complaint.flow"
    calendars = calendars_for(flow)
    definition = compile_flow_file(flow, calendars)
    prof = load_profile(WORKFLOWS / "profiles" / "complaint.yaml")
    runs = [
        simulate(
            definition,
            calendars,
            prof,
            cases=400,
            days=10,
            seed=3,
            workers=workers,
            keep_cases=True,
        )
        for workers in (1, 2)
    ]
    one, two = (build_report(r) for r in runs)
    assert one["totals"]["arrived"] == 400
    assert _json(one) == _json(two)
    kept = [[c.snapshot() for c in r.kept or ()] for r in runs]
    assert len(kept[0]) == 400 and kept[0] == kept[1]


def test_shards_add_up_to_the_run_in_one_piece() -> None:
    """With behaviour that draws nothing at random, the shards' own random streams do not
    matter, so the sharded run must report exactly what one unsharded simulation does."""
    definition = tiny("1h")  # every case breaches its reply SLA and escalates
    prof = profile(
        cases=300,
        days=4,
        arrivals={"hours": {"20-24": 1}},  # evening arrivals: cases close after midnight
    )
    assert shard_count(prof) == SHARDS > 1
    sharded = build_report(simulate(definition, CALENDARS, prof, start=START))
    whole = Simulation(FlowRuntime(definition, CALENDARS["always"]), CALENDARS, prof,
                       cases=300, days=4, seed=prof.seed, start=START).run()  # fmt: skip
    assert sharded["sla"]["reply"]["breached"] == 300
    assert _json(sharded) == _json(build_report(whole))


def test_a_staffed_run_is_one_shard() -> None:
    prof = profile(staff={"客服": 1})
    assert shard_count(prof) == 1
    one = build_report(simulate(tiny(), CALENDARS, prof, start=START))
    again = build_report(simulate(tiny(), CALENDARS, prof, start=START, workers=2))
    assert _json(one) == _json(again)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10**7), max_size=40),
    st.lists(st.integers(0, 10**7), max_size=40),
)
def test_quantiles_of_two_streams_absorbed_equal_one_stream(
    first: list[int], second: list[int]
) -> None:
    a, b, both = Quantiles(), Quantiles(), Quantiles()
    for x in first:
        a.add(float(x))
    for x in second:
        b.add(float(x))
    for x in first + second:
        both.add(float(x))
    a.absorb(b)
    assert (a.count, a.total, a.low, a.high) == (both.count, both.total, both.low, both.high)
    for q in (0.1, 0.5, 0.9, 1.0):
        assert a.quantile(q) == pytest.approx(both.quantile(q))


def test_cli_refuses_zero_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["simulate", "complaint", "--cases", "5", "--workers", "0"]) == 2
    assert "--workers must be 1 or more" in capsys.readouterr().err


def test_a_shard_that_ended_early_keeps_its_standing_until_the_end() -> None:
    """A shard stops counting days once its cases are done; what it still holds (open
    cases, callbacks owed) stands on the days the other shards went on counting."""
    long, short = Tally(["reply"]), Tally(["reply"])
    long.daily = [Daily(opened=2, backlog=2), Daily(closed=1, backlog=1), Daily(backlog=1)]
    short.daily = [Daily(opened=3, backlog=1, callbacks_owed=2)]
    short.absorb(long)
    assert short.daily == [
        Daily(opened=5, backlog=3, callbacks_owed=2),
        Daily(closed=1, backlog=2, callbacks_owed=2),
        Daily(backlog=2, callbacks_owed=2),
    ]
