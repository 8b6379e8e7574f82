"""The `flow check` and `flow compile` commands as an operator runs them: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main

CLEAN = 'flow ok "好"\nroles: 客服\nstate open "待处理":\n    after 1h -> done\nfinal done\n'
WARNED = "flow warned\nroles: 客服\nstate open:\n    on go -> done by 客服\nfinal done\n"
BROKEN = (
    "flow broken\nroles: 客服\nstate open:\n    after 1h -> done\n    on go -> dnoe by 客服\n"
    "final done\n"
)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", _write(tmp_path, "ok.flow", CLEAN)]) == 0
    assert main(["check", _write(tmp_path, "warned.flow", WARNED)]) == 0  # warnings only
    assert main(["check", _write(tmp_path, "broken.flow", BROKEN)]) == 1
    assert main(["check", str(tmp_path / "missing.flow")]) == 2
    out = capsys.readouterr().out
    assert "missing.flow:1:1: error: cannot read the file" in out


def test_check_full_output_points_at_the_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "broken.flow", BROKEN)
    main(["check", path])
    out = capsys.readouterr().out
    assert f"{path}:5:14: error: unknown state `dnoe`" in out
    assert "5 |     on go -> dnoe by 客服" in out
    assert "  | " + " " * 13 + "^^^^\n" in out
    assert "help: did you mean `done`?" in out
    assert "1 file checked: 1 error" in out


def test_check_concise_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "broken.flow", BROKEN)
    main(["check", path, "--format", "concise"])
    assert capsys.readouterr().out == (f"{path}:5:14: error[unknown-state]: unknown state `dnoe`\n")
    assert main(["check", path, "--format", "json"]) == 1
    (item,) = json.loads(capsys.readouterr().out)
    assert item["code"] == "unknown-state" and item["severity"] == "error"
    assert (item["line"], item["column"], item["end_column"]) == (5, 14, 18)
    assert item["help"] == "did you mean `done`?"


def test_compile_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", _write(tmp_path, "ok.flow", CLEAN), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["name"] == "ok" and table["label"] == "好"
    assert table["schema_version"] == 1 and table["content_hash"].startswith("sha256:")
    assert [s["name"] for s in table["states"]] == ["open", "done"]
    assert main(["compile", _write(tmp_path, "broken.flow", BROKEN)]) == 1


def test_check_takes_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "ok.flow", CLEAN)
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "broken.flow", BROKEN)
    assert main(["check", str(tmp_path), "--format", "concise"]) == 1
    assert "sub/broken.flow:5:14: error[unknown-state]" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "sub"), str(tmp_path / "ok.flow")]) == 1
    assert "2 files checked" in capsys.readouterr().out
