"""The studio in a real headless Chromium, in Chinese, as a process owner uses it: type a
transition to an unknown state, see the underline on that line with the Chinese message and
the rule's explanation, apply the quick fix, see the diagram gain the arrow, save, and play
a case to a breach. Screenshots are kept in build/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shot
from tests.studio_folder import Studio, running_studio

pytest.importorskip("playwright.sync_api")
NEW_LINE = "    on reopen -> receivd by 客服专员"


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with running_studio(tmp_path / "flows") as running:
        yield running


@pytest.fixture
def page(browser: Any, studio: Studio) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.goto(f"{studio.url}/studio?file=desk.flow")
    opened.wait_for_selector("#problems li.clean")  # the language server has checked it
    opened.wait_for_selector("#diagram svg")
    yield opened
    context.close()


def type_after(page: Any, line_text: str, typed: str) -> None:
    """Put the cursor at the end of the line holding `line_text` and type a new line."""
    page.locator(".cm-line", has_text=line_text).click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Home")  # whatever indentation the editor offered
    page.keyboard.type(typed, delay=5)


def test_an_unknown_state_is_underlined_explained_fixed_and_drawn(
    page: Any, studio: Studio
) -> None:
    assert "流程工作室" in page.inner_text("header")
    assert page.locator("#diagram line.arrow, #diagram path.arrow").count() == 2
    type_after(page, "on close -> closed", NEW_LINE)

    problem = page.locator("#problems li.error")
    problem.wait_for()
    assert problem.inner_text().startswith("18:")  # the new line is line 18
    assert "未知的状态 `receivd`" in problem.inner_text() and "FD201" in problem.inner_text()
    underline = page.locator(".cm-lintRange-error")
    assert underline.count() == 1
    assert "receivd" in page.locator(".cm-line", has=underline).inner_text()
    page.wait_for_selector("#diagram.stale")  # the last good drawing, greyed
    assert not page.locator("#diagram-note").is_hidden() or page.locator("#diagram svg").count()

    page.locator(".cm-lintRange-error").hover()
    tooltip = page.locator(".cm-tooltip-hover, .cm-tooltip-lint").first
    tooltip.wait_for()
    page.wait_for_function("document.querySelector('.cm-tooltip').innerText.includes('FD201')")
    assert "未知的状态" in page.locator(".cm-tooltip").first.inner_text()
    shot(page, "studio-unknown-state")

    page.click("#problems li.error")  # jumps to the line
    assert "receivd" in page.locator(".cm-activeLine").inner_text()
    page.locator(".cm-lintRange-error").hover()  # the fix is offered beside the message
    page.locator(".cm-diagnosticAction", has_text="received").first.click()
    page.wait_for_selector("#problems li.clean")
    assert page.locator(".cm-line", has_text="on reopen -> received by").count() == 1
    page.wait_for_selector("#diagram:not(.stale)")
    page.wait_for_function("document.querySelectorAll('#diagram .arrow').length === 3")
    shot(page, "studio-fixed")

    page.click("#save")
    page.wait_for_function("document.getElementById('status').innerText.includes('已保存')")
    saved = (studio.folder / "desk.flow").read_text(encoding="utf-8")
    assert "    on reopen -> received by 客服专员\n" in saved


def test_a_flow_with_errors_is_saved_only_after_confirming(page: Any, studio: Studio) -> None:
    before = (studio.folder / "desk.flow").read_text(encoding="utf-8")
    type_after(page, "on close -> closed", NEW_LINE)
    page.locator("#problems li.error").wait_for()
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#save")
    page.wait_for_function("document.getElementById('status').innerText === '未保存。'")
    assert asked and "1 个错误" in asked[0]
    assert (studio.folder / "desk.flow").read_text(encoding="utf-8") == before
    page.once("dialog", lambda d: d.accept())
    page.click("#save")
    page.wait_for_function("document.getElementById('status').innerText.includes('已保存')")
    assert "receivd" in (studio.folder / "desk.flow").read_text(encoding="utf-8")


def test_a_case_played_by_hand_reaches_a_breach(page: Any) -> None:
    page.select_option("#open-role", "客服专员")
    page.click("#play-open")
    page.wait_for_selector("#play-case:not([hidden])")
    assert page.inner_text("#play-state") == "已受理"
    page.wait_for_selector("#diagram .box.current[data-state=received]")
    page.fill("#wait", "25h")
    page.click("#play-wait")
    page.wait_for_selector("#play-slas tr[data-status=breached]")
    assert "超时" in page.inner_text("#play-slas")
    assert "答复超时" in page.inner_text("#play-timeline")
    shot(page, "studio-play-breach")

    page.click("#play-actions form[data-event=answer] button")
    page.wait_for_function("document.getElementById('play-state').innerText === '已答复'")
    page.wait_for_selector("#diagram .box.current[data-state=answered]")
    page.click("#play-undo")
    page.wait_for_function("document.getElementById('play-state').innerText === '已受理'")

    page.select_option("#scenario", "desk/happy.yaml")
    page.click("#scenario-run")
    page.wait_for_selector("#scenario-result.passed")
    assert page.inner_text("#scenario-result") == "通过"
