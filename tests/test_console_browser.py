"""The staff console in a real headless Chromium (Playwright driving the system Chromium
that scripts/browser.sh installs), in Chinese as the staff read it: a 客服专员 logs in,
opens a complaint and registers it, and sees the state and the SLA clock change; after
virtual time passes, the 主管 sees the breach and the escalation. Screenshots are kept in
build/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import SH, shot
from tests.serving import PASSWORDS, Running, running_server

playwright = pytest.importorskip("playwright.sync_api")
START = datetime(2026, 12, 7, 9, 0, tzinfo=SH)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Running]:
    with running_server(tmp_path, START) as running:
        yield running


def log_in(browser: playwright.Browser, srv: Running, person: str) -> playwright.Page:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(srv.url + "/queue")
    assert "/login" in page.url
    page.fill("#id", person)
    page.fill("#password", PASSWORDS[person])
    page.click("button[type=submit] >> nth=-1")
    page.wait_for_url("**/queue")
    return page


def test_staff_answer_a_complaint_and_the_supervisor_sees_the_breach(
    browser: playwright.Browser, srv: Running
) -> None:
    page = log_in(browser, srv, "zhang")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "我的待办" in page.inner_text("header")
    page.click("text=业主投诉处理")
    page.fill("#f-phone", "13800000000")
    page.click("form button[type=submit] >> nth=-1")
    page.wait_for_url("**/cases/**")
    assert page.inner_text("#state") == "来电登记"
    reply = page.locator('#slas tr[data-sla="reply"]')
    assert reply.get_attribute("data-status") == "running"
    assert "1天" in reply.inner_text()

    form = page.locator('form[data-event="register"]')
    form.locator("textarea[name='p.complainant']").fill("王先生")
    form.locator("textarea[name='p.content']").fill("楼上漏水")
    form.locator("select[name='p.category']").select_option("building")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.inner_text("#state") == "已受理"
    assert page.locator(".flash-ok").is_visible()
    assert page.locator('#timeline tr[data-kind="event"]').last.inner_text().count("register")
    assert page.locator("svg g.current").get_attribute("data-state") == "received"
    shot(page, "01-registered")
    case_url = page.url

    srv.advance(timedelta(hours=25))
    page.goto(case_url)
    assert page.locator('#slas tr[data-sla="reply"]').get_attribute("data-status") == "breached"

    boss = log_in(browser, srv, "li")
    row = boss.locator("#queue tr").nth(1)
    assert row.get_attribute("data-band") == "breached"
    shot(boss, "02-supervisor-queue")
    boss.click("text=总览")
    today = boss.inner_text("#today")
    assert "escalate" not in today or "业主服务主管" in today
    assert "reply: breached" in today
    shot(boss, "03-supervisor-overview")
    boss.click("text=考核报表")
    assert boss.inner_text('#kpis tr[data-kpi="totals.opened"] .actual') == "1"
    assert boss.inner_text('#kpis tr[data-kpi="sla.reply.met_pct"] .actual') == "0%"
    shot(boss, "05-kpi-report")
    boss.click("text=实际工单的完整报表")
    assert "实际工单考核报表" in boss.title()
    shot(boss, "06-kpi-report-full")


def test_a_refused_event_shows_why_on_the_page_in_chinese(
    browser: playwright.Browser, srv: Running
) -> None:
    with srv.client("zhang") as api:
        case = api.post("/api/cases", json={"flow": "complaint", "data": {"phone": "1"}}).json()
    page = log_in(browser, srv, "zhang")
    page.goto(f"{srv.url}/cases/{case['id']}")
    form = page.locator('form[data-event="register"]')
    form.locator("textarea[name='p.complainant']").fill("王先生")
    form.locator("textarea[name='p.content']").fill("x")
    form.locator("select[name='p.category']").select_option("fee")
    srv.service.fire(
        case["id"], "re_raised", actor="zhang", role="客服专员", data={"remark": "催办"}
    )  # the page is now stale
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "已有人办理" in page.inner_text(".flash-error")
    assert page.inner_text("#state") == "来电登记"
    shot(page, "04-stale-version")
