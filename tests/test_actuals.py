"""The KPI report of real cases is the forecast's report read from the cases' own logs: on
the cases a simulation kept, it gives the simulation's own figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.loader import calendars_for, compile_flow_file
from engine.loadsim import build_report, find_profile, load_profile, simulate
from engine.loadsim.actuals import actual_result
from engine.runtime import FlowRuntime
from tests.conftest import ROOT

SAME = [
    "totals", "final_states", "open_states", "sla", "warnings", "escalations", "callbacks",
    "reopen", "repeat", "satisfaction", "reached", "time_to_close_h", "time_in_state_h",
]  # fmt: skip


@pytest.mark.parametrize("flow", ["complaint", "repair", "move_in"])
def test_actual_figures_of_kept_cases_equal_the_simulations(flow: str) -> None:
    path = ROOT / "workflows" / f"{flow}.flow"
    calendars = calendars_for(path)
    definition = compile_flow_file(path, calendars)
    found = find_profile(path, flow)
    assert found is not None
    profile = load_profile(found)
    result = simulate(definition, calendars, profile, cases=300, days=10, seed=7, keep_cases=True)
    assert result.kept
    runtime = FlowRuntime(definition, calendars[definition.calendar])
    end = result.start + timedelta(days=result.days)
    actual = actual_result(runtime, profile, result.kept, result.start, end)
    forecast, measured = build_report(result), build_report(actual)
    for key in SAME:
        assert measured[key] == forecast[key], key
    assert [d["opened"] for d in measured["daily"]] == [d["opened"] for d in forecast["daily"]][
        : len(measured["daily"])
    ]
