"""`flow simulate --coverage`: which branches of a flow the scenarios exercised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main

FLOW = """flow cov "覆盖"
roles: 客服
state open:
    after 1h: notify 客服 "一小时"
    after 2h -> late
    on done -> closed by 客服
state late:
    on done -> closed by 客服
final closed
"""


def _scenario(folder: Path, name: str, steps: str) -> None:
    text = f"flow: cov.flow\nstart: 2026-03-02 09:00\ncase: {{}}\nsteps:\n{steps}"
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "cov.flow").write_text(FLOW, encoding="utf-8")
    _scenario(tmp_path, "a.yaml", "  - fire: done\n    by: 客服\n")
    return tmp_path


def _coverage(folder: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["simulate", "--scenario", str(folder), "--coverage", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (flow,) = document["coverage"]
    assert isinstance(flow, dict)
    return flow


def test_coverage_counts_what_was_exercised(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _coverage(suite, capsys)
    assert flow["counts"]["transitions"] == {"hit": 1, "total": 2}  # type: ignore[index]
    assert flow["counts"]["timers"] == {"hit": 0, "total": 2}  # type: ignore[index]
    assert "late --done--> closed (line 8)" in flow["missed"]  # type: ignore[operator]


def test_a_second_scenario_completes_coverage(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _scenario(suite, "b.yaml", "  - wait: 3h\n  - fire: done\n    by: 客服\n")
    flow = _coverage(suite, capsys)
    assert flow["missed"] == []
    assert flow["counts"]["timers"] == {"hit": 2, "total": 2}  # type: ignore[index]


def test_coverage_table_names_missed_branches(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--scenario", str(suite), "--coverage", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scenario coverage" in out
    assert "not exercised cov: open: after timer (line 5)" in out
    assert "0% (0/2)" in out
