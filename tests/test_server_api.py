"""The JSON API over real HTTP (uvicorn + httpx), as a program in another language uses it:
who may knock, what each role may do, errors as problem details naming the field, retries
that never fire twice, stale versions refused, concurrent fires serialised."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SH
from tests.serving import Running, running_server

START = datetime(2026, 12, 7, 9, 0, tzinfo=SH)  # a Monday
REGISTER = {"complainant": "王先生", "content": "楼上漏水", "category": "building"}


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Running]:
    with running_server(tmp_path, START) as running:
        yield running


def opened(srv: Running, person: str = "zhang", **data: Any) -> dict[str, Any]:
    with srv.client(person) as c:
        r = c.post(
            "/api/cases", json={"flow": "complaint", "data": {"phone": "13800000000", **data}}
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_nothing_is_served_without_a_login_but_the_health_check(srv: Running) -> None:
    with srv.client() as c:
        assert c.get("/healthz").status_code == 200
        for method, path in [
            ("GET", "/api/flows"),
            ("GET", "/api/cases"),
            ("GET", "/api/cases/x"),
            ("POST", "/api/cases"),
            ("POST", "/api/cases/x/events"),
            ("GET", "/api/cases/x/history"),
            ("POST", "/api/cases/x/owner"),
            ("GET", "/api/me"),
            ("GET", "/api/flows/complaint/diagram"),
        ]:
            r = c.request(method, path, json={})
            assert r.status_code == 401, (method, path)
            assert r.json()["code"] == "unauthenticated"
            assert r.headers["content-type"].startswith("application/problem+json")
        for path in ["/queue", "/cases/x", "/supervisor", "/webhooks", "/flows/complaint/open"]:
            r = c.get(path, headers={"accept": "text/html"})
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        bad = c.get("/api/me", headers={"Authorization": "Bearer fd_not-a-token"})
        assert bad.status_code == 401


def test_a_case_reads_with_labels_clocks_and_what_the_caller_may_do(srv: Running) -> None:
    case = opened(srv)
    assert case["state"] == "incoming" and case["flow_label"] == "业主投诉处理"
    assert case["owner"] == "zhang"  # 首问负责制: the first person who acted owns it
    reply = next(s for s in case["slas"] if s["name"] == "reply")
    assert reply["status"] == "running" and reply["seconds_left"] == 24 * 3600
    assert reply["left_text"] == "1d"
    register = next(a for a in case["actions"] if a["event"] == "register")
    assert register["roles"] == ["客服专员"]
    params = {p["name"]: p for p in register["params"]}
    assert params["category"]["type"] == "choice" and "building" in params["category"]["choices"]
    assert params["major"]["optional"] and not params["content"]["optional"]
    with srv.client("zhang") as c:
        r = c.post(f"/api/cases/{case['id']}/events", json={"event": "register", "data": REGISTER})
        assert r.status_code == 200, r.text
        assert r.json()["case"]["state"] == "received"
        history = c.get(f"/api/cases/{case['id']}/history").json()
    event = next(h for h in history if h["kind"] == "event")
    assert (event["actor"], event["role"], event["what"]) == ("zhang", "客服专员", "register")


def test_roles_from_the_flow_guard_every_open_and_every_event(srv: Running) -> None:
    case = opened(srv)
    with srv.client("wang") as c:  # 工程部: a role of the flow, but not one that registers
        r = c.post(f"/api/cases/{case['id']}/events", json={"event": "register", "data": REGISTER})
        assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
        r = c.post(
            f"/api/cases/{case['id']}/events",
            json={"event": "register", "data": REGISTER, "role": "客服专员"},
        )
        assert r.status_code == 403 and r.json()["code"] == "forbidden"  # not a role he holds
        r = c.post("/api/cases", json={"flow": "renewal", "data": {}})
        assert r.status_code == 403  # not a role of that flow at all
        assert "renewal" not in [f["name"] for f in c.get("/api/flows").json()]
        assert c.get("/api/flows/no_such/diagram").status_code == 404
    with srv.client("zhang") as c:
        history = c.get(f"/api/cases/{case['id']}/history").json()
        assert not [h for h in history if h["kind"] == "event"]  # the refusals wrote nothing
        r = c.post(f"/api/cases/{case['id']}/events", json={"event": "reply", "data": {}})
        assert r.status_code == 409 and r.json()["code"] == "event_not_allowed_now"


def test_bad_data_names_the_field_and_changes_nothing(srv: Running) -> None:
    case = opened(srv)
    with srv.client("zhang") as c:
        before = c.get(f"/api/cases/{case['id']}").json()
        r = c.post(
            f"/api/cases/{case['id']}/events",
            json={"event": "register", "data": {**REGISTER, "category": "weather"}},
        )
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "invalid_data" and body["field"] == "category"
        assert "weather" in body["fields"]["category"]
        r = c.post(f"/api/cases/{case['id']}/events", json={"event": "register", "extra": 1})
        assert r.status_code == 422 and r.json()["field"] == "extra"
        assert c.get(f"/api/cases/{case['id']}").json()["version"] == before["version"]


def test_problem_details_speak_the_readers_language(srv: Running) -> None:
    with srv.client() as c:
        r = c.get("/api/me", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert r.status_code == 401 and "登录" in r.json()["detail"]


def test_a_stale_version_is_refused_and_nothing_changes(srv: Running) -> None:
    case = opened(srv)
    url = f"/api/cases/{case['id']}/events"
    with srv.client("zhang") as c:
        ok = c.post(
            url, json={"event": "register", "data": REGISTER, "expected_version": case["version"]}
        )
        assert ok.status_code == 200
        stale = c.post(
            url,
            json={
                "event": "classify",
                "data": {"category": "fee"},
                "expected_version": case["version"],
            },
        )
        assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
        assert c.get(f"/api/cases/{case['id']}").json()["version"] == ok.json()["case"]["version"]


def test_a_retried_request_with_its_idempotency_key_fires_once(srv: Running) -> None:
    case = opened(srv)
    url = f"/api/cases/{case['id']}/events"
    body = {"event": "register", "data": REGISTER}
    with srv.client("zhang") as c:
        first = c.post(url, json=body, headers={"Idempotency-Key": "k-1"})
        again = c.post(url, json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 200
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == first.json()
        other = c.post(
            url,
            json={**body, "data": {**REGISTER, "content": "x"}},
            headers={"Idempotency-Key": "k-1"},
        )
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        history = c.get(f"/api/cases/{case['id']}/history").json()
    assert [h["what"] for h in history if h["kind"] == "event"] == ["register"]


def test_concurrent_fires_on_one_version_make_exactly_one_step(srv: Running) -> None:
    case = opened(srv)
    url = f"/api/cases/{case['id']}/events"
    answers: list[int] = []
    go = threading.Barrier(4)

    def fire(person: str) -> None:
        with srv.client(person) as c:
            go.wait()
            r = c.post(
                url,
                json={"event": "register", "data": REGISTER, "expected_version": case["version"]},
            )
            answers.append(r.status_code)

    threads = [threading.Thread(target=fire, args=("zhang",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409, 409, 409]
    with srv.client("zhang") as c:
        history = c.get(f"/api/cases/{case['id']}/history").json()
    assert [h["what"] for h in history if h["kind"] == "event"] == ["register"]


def test_an_oversized_body_is_refused_with_413(srv: Running) -> None:
    with srv.client("zhang") as c:
        r = c.post(
            "/api/cases",
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_search_pages_by_cursor_and_finds_breaches_after_time_passes(srv: Running) -> None:
    ids = {opened(srv)["id"] for _ in range(5)}
    with srv.client("zhang") as c:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"flow": "complaint", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/cases", params=params).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(ids)
        assert c.get("/api/cases", params={"breached": True}).json()["items"] == []
        assert len(c.get("/api/cases", params={"breaching_within_hours": 25}).json()["items"]) == 5
        srv.advance(timedelta(hours=25))
        breached = c.get("/api/cases", params={"breached": True}).json()["items"]
        assert {i["id"] for i in breached} == ids
        assert c.get("/api/cases", params={"owner": "li"}).json()["items"] == []
        assert len(c.get("/api/cases", params={"owner": "zhang"}).json()["items"]) == 5
        bad = c.get("/api/cases", params={"cursor": "not-ours"})
        assert bad.status_code == 422 and bad.json()["field"] == "cursor"


def test_owners_hand_over_and_every_change_is_audited(srv: Running) -> None:
    case = opened(srv)
    url = f"/api/cases/{case['id']}/owner"
    with srv.client("li") as c:
        r = c.post(url, json={"to": "li"})
        assert r.status_code == 403  # zhang owns it and it was not escalated to li
    with srv.client("zhang") as c:
        assert c.post(url, json={"to": "nobody"}).json()["field"] == "to"
        r = c.post(url, json={"to": "li"})
        assert r.status_code == 200 and r.json()["owner"] == "li"
        notes = [h for h in c.get(f"/api/cases/{case['id']}/history").json() if h["kind"] == "note"]
    assert notes[-1]["actor"] == "zhang" and notes[-1]["data"]["owner"] == "li"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.dictionaries(
        st.text(max_size=30),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=50),
            st.lists(st.integers(), max_size=3),
        ),
        max_size=6,
    ),
    event=st.text(max_size=40),
)
def test_any_event_body_is_answered_with_a_clear_status(
    srv: Running, data: dict[str, Any], event: str
) -> None:
    case_id = getattr(srv, "_case", None) or opened(srv)["id"]
    srv._case = case_id  # type: ignore[attr-defined]
    with srv.client("zhang") as c:
        r = c.post(f"/api/cases/{case_id}/events", json={"event": event, "data": data})
    assert r.status_code in (200, 403, 409, 413, 422), r.text
    if r.status_code != 200:
        assert r.json()["code"] and r.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event": "register", "data": {"major": NaN}}',
        b'{"event": "register", "data": {"major": Infinity}}',
        b'{"event": "register", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"event": "register"',
        b"\xff\xfe",
        b"[]",
    ],
)
def test_malformed_json_is_a_clear_problem(srv: Running, raw: bytes) -> None:
    case = opened(srv)
    with srv.client("zhang") as c:
        r = c.post(
            f"/api/cases/{case['id']}/events",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert r.status_code in (400, 422), r.text
        assert r.json()["code"] in ("invalid_body", "invalid_request", "invalid_data")
        assert r.headers["content-type"].startswith("application/problem+json")
        assert c.get(f"/api/cases/{case['id']}").json()["version"] == case["version"]


def test_the_kpi_report_of_real_cases_stands_beside_the_forecast(srv: Running) -> None:
    for _ in range(3):
        opened(srv)
    srv.advance(timedelta(hours=25))
    period = {"from": "2026-12-07", "to": "2026-12-08"}
    with srv.client("li") as c:
        body = c.get("/api/reports/complaint", params=period).json()
        actual, forecast = body["actual"], body["forecast"]
        assert actual["source"] == "store" and actual["totals"]["opened"] == 3
        assert actual["sla"]["reply"]["breached"] == 3
        assert actual["escalations"]["by_role"] == {"业主服务主管": 3}
        assert forecast["cases"] > 0 and "source" not in forecast
        too_long = c.get(
            "/api/reports/complaint", params={"from": "2026-01-01", "to": "2027-06-01"}
        )
        assert too_long.status_code == 422 and too_long.json()["field"] == "to"
        earlier = c.get("/api/reports/complaint", params={"from": "2026-11-01", "to": "2026-11-30"})
        assert earlier.json()["actual"]["totals"]["opened"] == 0
    with srv.client("sun") as c:
        assert c.get("/api/reports/complaint", params=period).status_code == 403
