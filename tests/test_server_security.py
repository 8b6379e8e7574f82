"""The console's door as a browser meets it, over real HTTP: log-in with lock-out, session
cookies that cannot be forged or borrowed, CSRF on every form, text rendered inert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from server.gate import COOKIE
from tests.conftest import SH
from tests.serving import PASSWORDS, Running, running_server

START = datetime(2026, 12, 7, 9, 0, tzinfo=SH)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Running]:
    with running_server(tmp_path, START) as running:
        yield running


def login_form(c: httpx.Client) -> str:
    page = c.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def log_in(c: httpx.Client, person: str, password: str | None = None) -> httpx.Response:
    token = login_form(c)
    return c.post(
        "/login",
        data={
            "id": person,
            "password": password or PASSWORDS[person],
            "csrf": token,
            "next": "/queue",
        },
    )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_a_person_logs_in_and_gets_a_new_httponly_session(srv: Running) -> None:
    with httpx.Client(base_url=srv.url) as c:
        r = log_in(c, "zhang")
        assert r.status_code == 303 and r.headers["location"] == "/queue"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        first = c.cookies[COOKIE]
        assert "张敏" in c.get("/queue").text
    with httpx.Client(base_url=srv.url) as c:
        log_in(c, "zhang")
        assert c.cookies[COOKIE] != first  # a new session id at every log-in


def test_wrong_passwords_lock_the_account_even_for_the_right_one(srv: Running) -> None:
    with httpx.Client(base_url=srv.url) as c:
        assert log_in(c, "nobody", "whatever-password").status_code == 401
        for _ in range(5):
            assert log_in(c, "zhang", "wrong-password").status_code == 401
        locked = log_in(c, "zhang")
        assert locked.status_code == 429 and COOKIE not in c.cookies
    with httpx.Client(base_url=srv.url) as c:
        assert log_in(c, "li").status_code == 303  # others are not locked out


def test_a_login_without_its_form_token_is_refused(srv: Running) -> None:
    with httpx.Client(base_url=srv.url) as c:
        r = c.post("/login", data={"id": "zhang", "password": PASSWORDS["zhang"]})
        assert r.status_code == 403 and COOKIE not in c.cookies


def test_forged_or_borrowed_cookies_are_refused(srv: Running) -> None:
    with httpx.Client(base_url=srv.url) as c:
        log_in(c, "zhang")
        genuine = c.cookies[COOKIE]
        log_in(c, "zhang")  # a new log-in
        c.post("/logout", data={"csrf": csrf_of(c.get("/queue").text)})
        current = c.get("/queue", headers={"accept": "text/html"})
        assert current.status_code == 303  # logged out: the session is gone
    for forged in [genuine[:-2] + "xx", "e30.bogus", "a" * 500]:
        with httpx.Client(base_url=srv.url, cookies={COOKIE: forged}) as c:
            assert c.get("/api/me").status_code == 401


def test_forms_without_the_csrf_token_change_nothing(srv: Running) -> None:
    with httpx.Client(base_url=srv.url) as c:
        log_in(c, "zhang")
        page = c.get("/flows/complaint/open")
        token = csrf_of(page.text)
        r = c.post("/flows/complaint/open", data={"p.phone": "1"})
        assert r.status_code == 403
        assert c.get("/api/cases").json()["items"] == []
        r = c.post("/flows/complaint/open", data={"p.phone": "1", "csrf": token})
        assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
        # a browser session calling the API must carry the token too
        assert (
            c.post("/api/cases", json={"flow": "complaint", "data": {"phone": "2"}}).status_code
            == 403
        )
        ok = c.post(
            "/api/cases",
            json={"flow": "complaint", "data": {"phone": "2"}},
            headers={"X-CSRF-Token": token},
        )
        assert ok.status_code == 201


def test_script_in_any_field_is_rendered_inert(srv: Running) -> None:
    evil = "<script>alert(1)</script>"
    with srv.client("zhang") as api:
        case = api.post(
            "/api/cases", json={"flow": "complaint", "data": {"phone": evil, "complainant": evil}}
        ).json()
    with httpx.Client(base_url=srv.url) as c:
        log_in(c, "zhang")
        for path in (f"/cases/{case['id']}", "/queue"):
            html = c.get(path).text
            assert evil not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in c.get(f"/cases/{case['id']}").text


def test_a_page_the_person_may_not_see_is_403(srv: Running) -> None:
    with srv.client("zhang") as api:
        case = api.post("/api/cases", json={"flow": "complaint", "data": {"phone": "1"}}).json()
    with httpx.Client(base_url=srv.url) as c:
        log_in(c, "sun")  # 销售部: no role in complaint
        assert c.get("/flows/complaint/open").status_code == 403
        assert c.get(f"/cases/{case['id']}").status_code == 403
        assert c.get("/api/cases").json()["items"] == []
        token = csrf_of(c.get("/queue").text)
        r = c.post(f"/cases/{case['id']}/fire", data={"csrf": token, "event": "register"})
        assert r.status_code == 403
    with srv.client("zhang") as api:
        history = api.get(f"/api/cases/{case['id']}/history").json()
    assert not [h for h in history if h["kind"] == "event"]
