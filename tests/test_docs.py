"""The language reference's examples are executed, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dsl.frontend import compile_file
from engine.scenario import run_scenario

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
BLOCK = re.compile(r"```(flow|yaml)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def doc_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every flow of the page as `NAME.flow`, beside the page's own calendars.yaml."""
    folder = tmp_path_factory.mktemp("docs")
    for kind, text in _blocks():
        if kind == "flow":
            name = re.match(r"flow (\w+)", text)
            assert name, "every flow example starts with its `flow NAME` line"
            (folder / f"{name.group(1)}.flow").write_text(text, encoding="utf-8")
        elif "flow" not in yaml.safe_load(text):
            (folder / "calendars.yaml").write_text(text, encoding="utf-8")
    assert (folder / "calendars.yaml").exists(), "the page shows a calendars.yaml"
    return folder


def _flow_names() -> list[str]:
    names = []
    for kind, text in _blocks():
        match = re.match(r"flow (\w+)", text)
        if kind == "flow" and match:
            names.append(match.group(1))
    return names


def _scenarios() -> list[str]:
    return [text for kind, text in _blocks() if kind == "yaml" and "flow:" in text]


def test_the_page_has_examples() -> None:
    assert len(_flow_names()) >= 6
    assert len(_scenarios()) >= 6


@pytest.mark.parametrize("name", _flow_names())
def test_flow_example_compiles_without_errors(doc_folder: Path, name: str) -> None:
    result = compile_file(doc_folder / f"{name}.flow")
    assert result.errors == [], result.errors
    assert result.definition is not None


@pytest.mark.parametrize("index", range(len(_scenarios())))
def test_scenario_example_passes(doc_folder: Path, index: int) -> None:
    path = doc_folder / f"scenario_{index}.yaml"
    path.write_text(_scenarios()[index], encoding="utf-8")
    result = run_scenario(path)
    assert result.passed, result.failures


def test_the_limits_table_is_engine_limits() -> None:
    """docs/language.md §12 lists exactly `engine.limits.LIMITS`, with their values."""
    from engine.limits import LIMITS

    text = DOC.read_text(encoding="utf-8").split("## 12. Limits", 1)[1]
    rows = re.findall(r"^\| ([a-z-]+) \| ([\d,]+) (.*?) \| (.*?) \|$", text, re.M)
    assert [
        (name, int(value.replace(",", "")), unit, bounds) for name, value, unit, bounds in rows
    ] == [(limit.name, limit.value, limit.unit, limit.bounds) for limit in LIMITS]


# ---------------------------------------------------------------- the Chinese quick start

QUICK_START = DOC.parent / "zh" / "快速上手.md"


def _quick_start_blocks(kind: str) -> list[str]:
    text = QUICK_START.read_text(encoding="utf-8")
    return re.findall(rf"```{kind}\n(.*?)```", text, re.S)


def test_the_chinese_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The walk-through's flow, its broken line, the Chinese diagnostics it shows and the
    scenario's timeline are what `flow` really does."""
    import subprocess
    import sys

    def flow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(DOC.parents[1] / "cli.py"), "--lang", "zh_CN", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
        )  # fmt: skip

    (tmp_path / "我的流程").mkdir()
    broken, scenario = _quick_start_blocks("flow")[0], _quick_start_blocks("yaml")[0]
    shown = _quick_start_blocks("text")
    (tmp_path / "我的流程" / "repair.flow").write_text(broken, encoding="utf-8")
    checked = flow("check", "我的流程/repair.flow")
    assert checked.returncode == 1
    for line in shown[0].splitlines() + shown[1].splitlines():
        assert line in checked.stdout, line
    fixed = broken.replace("-> don by", "-> done by")
    (tmp_path / "我的流程" / "repair.flow").write_text(fixed, encoding="utf-8")
    assert flow("check", "我的流程/repair.flow").returncode == 0
    (tmp_path / "我的流程" / "repair_slow.yaml").write_text(scenario, encoding="utf-8")
    replayed = flow("simulate", "--scenario", "我的流程/repair_slow.yaml")
    assert replayed.returncode == 0, replayed.stdout
    for line in shown[3].splitlines():
        assert line in replayed.stdout, line
