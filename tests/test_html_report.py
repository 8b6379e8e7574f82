"""The HTML report: one self-contained page whose figures equal the JSON report's, rendered
in a real headless Chromium (installed by scripts/browser.sh when it can be)."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import WORKFLOWS

import cli
from engine.i18n import language, tr
from engine.loader import calendars_for, compile_flow_file
from engine.loadsim import build_report, flatten, load_profile, simulate
from engine.loadsim.html import CSS, fmt_num, render_html

KPI = re.compile(r'data-kpi="([^"]*)"[^>]*>([^<]*)<')


def complaint_report(cases: int = 300, days: int = 14) -> dict[str, Any]:
    path = WORKFLOWS / "complaint.flow"
    calendars = calendars_for(path)
    definition = compile_flow_file(path, calendars)
    profile = load_profile(WORKFLOWS / "profiles" / "complaint.yaml")
    return build_report(simulate(definition, calendars, profile, cases=cases, days=days))


def figures(page: str) -> dict[str, str]:
    """Every `data-kpi` figure of a page (or a dumped DOM): key → the text shown."""
    return {html.unescape(k): html.unescape(v).strip() for k, v in KPI.findall(page)}


def assert_figures_equal_json(shown: dict[str, str], report: dict[str, Any]) -> None:
    flat = flatten(report)
    assert len(shown) > 100
    for key, text in shown.items():
        assert key in flat, key
        expected = flat[key]
        if expected is None:
            assert text == "—", key
        else:
            assert float(text) == expected, (key, text, expected)


def test_page_is_self_contained_with_svg_charts() -> None:
    page = render_html(complaint_report())
    assert "http" not in page.lower()
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page
    assert page.count("<svg") >= 4
    assert '<html lang="en">' in page and "业主投诉处理" in page and "manual targets" in page


def test_the_page_in_chinese_says_so_and_shows_the_same_figures() -> None:
    report = complaint_report()
    with language("zh_CN"):
        page = render_html(report)
    assert '<html lang="zh-CN">' in page
    for heading in ("业主投诉处理 — 负载模拟报告", "手册指标", "回访与质量", "每日明细"):
        assert heading in page, heading
    assert "manual targets" not in page and "2026年3月2日" in page
    assert figures(page) == figures(render_html(report))


def test_every_figure_on_the_page_equals_the_json() -> None:
    report = complaint_report()
    shown = figures(render_html(report))
    assert_figures_equal_json(shown, report)
    for key in ("sla.reply.met_pct", "callbacks.rate_pct", "repeat.rate_pct",
                "satisfaction.pct", "time_to_close_h.p90", "escalations.by_level.1",
                "targets.0.value", "daily.0.backlog", "reached.replied.pct"):  # fmt: skip
        assert key in shown, key


def test_pass_and_fail_marks_follow_the_targets() -> None:
    report = complaint_report()
    page = render_html(report)
    marks = re.findall(r'data-pass="(\w+)"', page)
    assert marks == [str(t["pass"]).lower() for t in report["targets"]]


def test_cli_html_equals_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    code = cli.main(["simulate", "complaint", "--cases", "250", "--days", "10", "--seed", "5",
                     "--json", "--html", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert_figures_equal_json(figures(out.read_text(encoding="utf-8")), report)


def test_number_format_round_trips() -> None:
    for value in (0, 7, 2.0, 97.25, 1234567.891, 0.001):
        assert float(fmt_num(value)) == value
    assert fmt_num(None) == "—"


# ---------------------------------------------------------------- a real browser


def _browser(chromium: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *extra],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_headless_chromium_renders_the_chinese_report(chromium: str, tmp_path: Path) -> None:
    report = complaint_report()
    page = tmp_path / "report.html"
    with language("zh_CN"):
        page.write_text(render_html(report), encoding="utf-8")
    dumped = _browser(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert "<svg" in dom and "业主投诉处理" in dom and "手册指标" in dom  # no mojibake
    shown = figures(dom)
    assert_figures_equal_json(shown, report)
    assert shown["sla.reply.met_pct"] == fmt_num(report["sla"]["reply"]["met_pct"])
    shot = tmp_path / "shot.png"
    done = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000",
                    page.as_uri())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def _shot(chromium: str, tmp_path: Path, text: str) -> bytes:
    page = tmp_path / "glyphs.html"
    page.write_text(
        '<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8"><body style="margin:0;'
        f'font: 48px {_FONTS}">{text}</body></html>',
        encoding="utf-8",
    )
    shot = tmp_path / "glyphs.png"
    done = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=400,80",
                    page.as_uri())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return shot.read_bytes()


_FONTS = re.search(r"font-family: ([^;]+);", CSS).group(1)  # type: ignore[union-attr]


def test_chinese_renders_as_glyphs_not_tofu(chromium: str, tmp_path: Path) -> None:
    """The report's Chinese, in the report's fonts, must not look like characters no font
    has (private-use code points, drawn as empty boxes: tofu)."""
    with language("zh_CN"):
        words = tr("manual targets") + tr("callbacks and quality")
    tofu = "".join(chr(0xF0000 + i) for i in range(len(words)))
    assert _shot(chromium, tmp_path, words) != _shot(chromium, tmp_path, tofu)
