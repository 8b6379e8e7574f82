"""Messages in Chinese as well as English: the catalog is complete and in step with the code,
the language is chosen as documented, and every diagnostic goes through the catalog."""

from __future__ import annotations

import argparse
import inspect
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.diagnostics import render_concise, render_full
from dsl.frontend import compile_source
from dsl.source import Source
from engine.i18n import (
    Listing,
    Text,
    UnknownLanguage,
    choose_language,
    html_lang,
    language,
    localize,
    msg,
    msgn,
)
from engine.i18n import catalog as catalogs
from engine.i18n.argparse_words import MESSAGES, take_lang_option

GOLDEN = ROOT / "tests" / "golden"
CJK = re.compile(r"[\u4e00-\u9fff]")
HEAD = re.compile(r"^(.*?:\d+:\d+): \S+?\[([a-z-]+)\]: ", re.M)


def heads(concise: str) -> list[tuple[str, str]]:
    """(place, code) of every line of `--format concise` output, whatever the language."""
    return HEAD.findall(concise)


# ---------------------------------------------------------------- the catalog


def test_the_chinese_catalog_is_complete_and_its_placeholders_match() -> None:
    assert catalogs.problems("zh_CN") == []


def test_the_template_lists_exactly_the_messages_in_the_code() -> None:
    with catalogs.TEMPLATE.open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    in_code = {m.id for m in catalogs.extract() if m.id}
    assert template == in_code, "run `make catalogs`"


def test_the_compiled_catalog_is_the_po_compiled() -> None:
    assert catalogs.mo_path("zh_CN").read_bytes() == catalogs.compiled("zh_CN"), (
        "run `make catalogs`"
    )


@pytest.mark.parametrize(
    ("english", "chinese", "problem"),
    [
        ("unknown state `{n}`", "未知的状态 `{n}`", None),
        ("unknown state `{n}`", "未知的状态 `{name}`", "placeholders differ"),
        ("unknown state `{n}`", "未知的状态", "placeholders differ"),
        ("unknown state `{n}`", "", "untranslated"),
        ("expected %s argument", "需要 %s 个参数", None),
    ],
)
def test_a_translation_that_drops_or_renames_a_placeholder_is_refused(
    english: str, chinese: str, problem: str | None
) -> None:
    found = catalogs._entry_problems(Message(english, chinese))
    assert (found[0].split(":")[0] if found else None) == problem


def test_argparse_messages_in_the_catalog_are_argparses_own() -> None:
    source = inspect.getsource(argparse)
    for message in MESSAGES:
        assert repr(str(message)) in source or f'"{message}"' in source, message


# ---------------------------------------------------------------- choosing the language


@pytest.mark.parametrize(
    ("flag", "environ", "chosen"),
    [
        (None, {}, "en"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        (None, {"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh_CN"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh_CN"),
        (None, {"LANG": "de_DE.UTF-8"}, "en"),
        (None, {"LANG": "zh_CN.UTF-8", "FLOWDESK_LANG": "en"}, "en"),
        ("zh", {"FLOWDESK_LANG": "en"}, "zh_CN"),
        ("zh-CN", {}, "zh_CN"),
        ("en", {"LANG": "zh_CN.UTF-8"}, "en"),
    ],
)
def test_lang_then_flowdesk_lang_then_the_locale(
    flag: str | None, environ: dict[str, str], chosen: str
) -> None:
    assert choose_language(flag, environ) == chosen


def test_an_unknown_language_is_an_error_naming_where_it_came_from() -> None:
    with pytest.raises(UnknownLanguage, match="FLOWDESK_LANG: unknown language `fr`"):
        choose_language(None, {"FLOWDESK_LANG": "fr"})


@pytest.mark.parametrize(
    ("words", "value", "left"),
    [
        (["--lang", "zh_CN", "check", "a.flow"], "zh_CN", ["check", "a.flow"]),
        (["check", "--lang=en", "a.flow"], "en", ["check", "a.flow"]),
        (["check", "a.flow"], None, ["check", "a.flow"]),
        (["check", "--", "--lang", "x"], None, ["check", "--", "--lang", "x"]),
    ],
)
def test_the_lang_option_may_stand_anywhere(
    words: list[str], value: str | None, left: list[str]
) -> None:
    assert take_lang_option(words) == value
    assert words == left


# ---------------------------------------------------------------- messages as data


def test_a_message_is_english_text_until_the_edge_says_it_in_chinese() -> None:
    said = msg("unknown state `{n}`", n="recieved")
    assert said == "unknown state `recieved`" and isinstance(said, str)
    assert localize(said, "zh_CN") == "未知的状态 `recieved`"
    with language("zh_CN"):
        assert localize(said) == "未知的状态 `recieved`"
    assert localize(said) == "unknown state `recieved`"


def test_numbers_keep_their_format_in_every_language() -> None:
    said = msg("this file has {size:,} characters; a flow may have at most {most:,}",
               size=2_500_000, most=2_097_152)  # fmt: skip
    assert "2,500,000" in said and "2,500,000" in localize(said, "zh_CN")


def test_counts_and_lists_are_said_by_the_language() -> None:
    errors = msgn("{count} error", "{count} errors", 3)
    assert errors == "3 errors" and localize(errors, "zh_CN") == "3 个错误"
    listed = Listing([msg("a whole number"), "`->`"])
    assert listed == "a whole number, `->`"
    assert localize(listed, "zh_CN") == "整数、`->`"


def test_messages_survive_pickling_for_the_simulators_worker_processes() -> None:
    said = msg("expected {words}", words=Listing([msg("the end of the line"), "`:`"]))
    again = pickle.loads(pickle.dumps(said))
    assert isinstance(again, Text)
    assert localize(again, "zh_CN") == localize(said, "zh_CN") == "此处应为：行尾、`:`"


def test_an_exception_raised_with_a_message_is_said_in_the_language() -> None:
    error = ValueError(msg("no schedules"))
    assert localize(error, "zh_CN") == "没有定期任务"
    assert localize(OSError(2, "No such file"), "zh_CN") == "[Errno 2] No such file"


def test_pages_carry_the_language_tag() -> None:
    assert html_lang("zh_CN") == "zh-CN" and html_lang("en") == "en"


# ---------------------------------------------------------------- every diagnostic, both ways

FLOWS = sorted(GOLDEN.glob("*.flow"))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(FLOWS),
    st.integers(min_value=0, max_value=5000),
    st.sampled_from(["", "x", ":", "\n    ", "->", '"', "on", "状态", "(", "0"]),
    st.integers(min_value=0, max_value=8),
)
def test_random_diagnostics_render_in_both_languages_with_the_same_places(
    path: Path, at: int, insert: str, delete: int
) -> None:
    text = path.read_text(encoding="utf-8")
    at %= len(text) + 1
    source = Source(f"tests/golden/{path.name}", text[:at] + insert + text[at + delete :])
    diagnostics = compile_source(source).diagnostics
    english = render_concise(diagnostics, source.path)
    with language("zh_CN"):
        chinese = render_concise(diagnostics, source.path)
        render_full(diagnostics, source)
    assert heads(chinese) == heads(english)
    assert len(heads(english)) == len(diagnostics)
    for d in diagnostics:  # said through the catalog: Chinese words in every message
        assert isinstance(d.message, Text), d.message
        assert CJK.search(localize(d.message, "zh_CN")), d.message
        assert d.help is None or CJK.search(localize(d.help, "zh_CN")), d.help


# ---------------------------------------------------------------- the command line


def _flow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=60,
    )


def test_lang_zh_cn_check_prints_chinese_with_the_same_places_and_codes() -> None:
    broken = str(GOLDEN / "unknown-state.flow")
    english = _flow("check", "--format", "concise", broken, env={"FLOWDESK_LANG": "en"})
    chinese = _flow(
        "check", "--format", "concise", broken, env={"FLOWDESK_LANG": "", "LANG": "zh_CN.UTF-8"}
    )
    assert english.returncode == chinese.returncode == 1
    assert heads(chinese.stdout) == heads(english.stdout)
    assert len(heads(english.stdout)) == 8
    assert "error[unknown-state]: 未知的状态 `recieved`" in chinese.stdout


def test_help_and_argparse_errors_speak_chinese() -> None:
    help_text = _flow("--lang", "zh_CN", "check", "--help", env={}).stdout
    assert "用法：" in help_text and "报告" not in help_text.split("\n")[0]
    assert "显示帮助信息并退出" in help_text
    missing = _flow("compile", env={"FLOWDESK_LANG": "zh_CN"})
    assert missing.returncode == 2
    assert "缺少以下参数：FILE" in missing.stderr


def test_an_unknown_lang_exits_2_with_the_choices() -> None:
    done = _flow("--lang", "fr", "check", "x.flow", env={})
    assert done.returncode == 2
    assert "unknown language `fr`; Flowdesk speaks en, zh_CN" in done.stderr


def test_an_invalid_scenario_is_explained_in_chinese_key_by_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "flow: repair\nstart: 2026-03-02 09:00\nsteps:\n  - at: soon\n    colour: red\n"
        "  - fire: dispatch\n    by: 3\n",
        encoding="utf-8",
    )
    done = _flow("--lang", "zh_CN", "simulate", "--scenario", str(bad), env={})
    assert done.returncode == 2
    for line in (
        "steps.0.at：必须是 2026-03-06 16:30 这样的日期时间 ('soon')",
        "steps.0.colour：这个文件不接受这个键 ('red')",
        "steps.1.by：必须是文本 (3)",
    ):
        assert line in done.stderr, done.stderr
