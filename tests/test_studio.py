"""The studio over HTTP and its language server over a real websocket: the door, the folder
it may touch, saving, the diagram, playing a case and running a scenario file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import ROOT, SH
from tests.serving import free_port, running_server
from tests.studio_folder import DESK, Studio, page_config, running_studio


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    with running_studio(tmp_path_factory.mktemp("studio") / "flows") as running:
        yield running


# ---------------------------------------------------------------- the page and the door
def test_page_lists_the_folders_flows_in_the_readers_language(studio: Studio) -> None:
    page = httpx.get(f"{studio.url}/studio", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    config = page_config(page.text)
    assert config["flows"] == ["desk.flow"]
    assert config["language"] == "zh_CN"
    assert str(config["folder_uri"]).startswith("file://")
    assert "流程工作室" in page.text  # the page's words come from the catalog
    assert re.search(r'/studio/static/studio\.js\?v=[0-9a-f]{12}"', page.text)  # no stale bundle


def test_the_local_door_refuses_other_hosts_other_sites_and_changes_without_the_secret(
    studio: Studio,
) -> None:
    body = {"name": "desk.flow", "text": DESK}
    with httpx.Client(base_url=studio.url, timeout=30) as bare:
        assert bare.get("/studio/api/files", headers={"Host": "evil.example"}).status_code == 403
        assert bare.post("/studio/api/diagram", json=body).status_code == 403  # no secret
        wrong = {"X-CSRF-Token": "not-the-secret"}
        assert bare.post("/studio/api/diagram", json=body, headers=wrong).status_code == 403
        foreign = {"X-CSRF-Token": studio.csrf, "Origin": "http://evil.example"}
        assert bare.post("/studio/api/diagram", json=body, headers=foreign).status_code == 403
    with studio.client() as c:
        assert c.post("/studio/api/diagram", json=body).status_code == 200


HOSTILE_NAMES = [
    "../desk.flow", "..%2Fescape.flow", "%2Fetc%2Fpasswd", ".hidden.flow", "a%5Cb.flow",
    "notes.txt", "desk", "x" * 300 + ".flow", "con%00.flow",
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_names_outside_the_folder_or_not_flows_are_refused(studio: Studio, name: str) -> None:
    with studio.client() as c:
        read = c.get(f"/studio/api/files/{name}")
        wrote = c.put(f"/studio/api/files/{name}", json={"text": DESK})
    assert read.status_code in (403, 404, 422)
    assert wrote.status_code in (403, 404, 422)
    assert sorted(p.name for p in studio.folder.parent.iterdir()) == ["flows"]
    assert sorted(p.name for p in studio.folder.iterdir()) == ["desk.flow", "scenarios"]


def test_a_link_out_of_the_folder_is_not_followed(studio: Studio, tmp_path: Path) -> None:
    outside = tmp_path / "secret.flow"
    outside.write_text("flow secret\n", encoding="utf-8")
    link = studio.folder / "link.flow"
    link.symlink_to(outside)
    try:
        with studio.client() as c:
            assert c.get("/studio/api/files/link.flow").json()["code"] == "outside"
            assert c.put("/studio/api/files/link.flow", json={"text": DESK}).status_code == 403
        assert outside.read_text(encoding="utf-8") == "flow secret\n"
    finally:
        link.unlink()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=1, max_size=40))
def test_any_name_is_answered_without_a_crash_or_a_file_outside(studio: Studio, name: str) -> None:
    # the URL layer answers these before any route: `.` and `..` are dot segments the client
    # removes, and a path ending in `/` is redirected (the studio never sees the name)
    assume(name not in (".", "..") and not name.endswith("/"))
    with studio.client() as c:
        got = c.get(f"/studio/api/files/{quote(name, safe='')}")
        put = c.put(f"/studio/api/files/{quote(name, safe='')}", json={"text": "flow x\n"})
    assert got.status_code in (200, 403, 404, 422), got.text
    assert put.status_code in (200, 403, 404, 422), put.text
    if put.status_code == 200:  # a new flow of the folder: gone again for the next example
        (studio.folder / name).unlink()
    assert sorted(p.name for p in studio.folder.parent.iterdir()) == ["flows"]


# ---------------------------------------------------------------- saving
def test_a_flow_with_errors_is_saved_only_when_confirmed(studio: Studio) -> None:
    broken = DESK.replace("-> answered by", "-> answerd by")
    path = studio.folder / "desk.flow"
    with studio.client() as c:
        refused = c.put("/studio/api/files/desk.flow", json={"text": broken})
        assert refused.status_code == 409
        assert refused.json()["code"] == "flow_has_errors"
        assert "1" in refused.json()["detail"] and "未保存" in refused.json()["detail"]
        assert path.read_text(encoding="utf-8") == DESK
        forced = c.put("/studio/api/files/desk.flow", json={"text": broken, "confirm": True})
        assert forced.status_code == 200 and forced.json()["errors"] == 1
        assert "answerd" in path.read_text(encoding="utf-8")
        restored = c.put("/studio/api/files/desk.flow", json={"text": DESK})
    assert restored.json() == {"name": "desk.flow", "text": DESK, "formatted": False, "errors": 0}


def test_a_clean_flow_is_saved_formatted(studio: Studio) -> None:
    tidy = "    on answer -> answered by 客服专员"
    untidy = DESK.replace(tidy, "  on answer->answered   by 客服专员")
    with studio.client() as c:
        saved = c.put("/studio/api/files/desk.flow", json={"text": untidy}).json()
        c.put("/studio/api/files/desk.flow", json={"text": DESK})
    assert saved["formatted"] is True
    assert "    on answer -> answered by 客服专员" in saved["text"]


# ---------------------------------------------------------------- the diagram
def test_the_diagram_is_drawn_escaped_and_withheld_while_the_text_is_broken(
    studio: Studio,
) -> None:
    hostile = DESK.replace('"已受理"', '"<script>alert(1)</script>"')
    with studio.client() as c:
        drawn = c.post("/studio/api/diagram", json={"name": "desk.flow", "text": hostile,
                                                    "current": "answered"}).json()  # fmt: skip
        broken = c.post("/studio/api/diagram", json={"name": "desk.flow", "text": "flow ?"})
    assert "<script>" not in drawn["svg"] and "&lt;script&gt;" in drawn["svg"]
    assert 'class="box current" data-state="answered"' in drawn["svg"]
    assert drawn["roles"] == ["客服专员", "主管"]
    assert broken.json() == {"svg": None}


# ---------------------------------------------------------------- playing
def play(studio: Studio, steps: list[dict[str, Any]], text: str = DESK) -> httpx.Response:
    body = {"name": "desk.flow", "text": text, "role": "客服专员",
            "start": "2026-03-02T09:00:00+08:00", "steps": steps}  # fmt: skip
    with studio.client() as c:
        return c.post("/studio/api/play", json=body)


def test_a_case_played_by_hand_breaches_and_escalates_on_the_simulated_clock(
    studio: Studio,
) -> None:
    opened = play(studio, []).json()
    assert opened["state"] == "received" and opened["state_label"] == "已受理"
    assert [a["event"] for a in opened["actions"]] == ["answer"]
    assert opened["actions"][0]["roles"] == ["客服专员"]
    late = play(studio, [{"wait": "25h"}]).json()
    assert late["now"].startswith("2026-03-03T10:00")
    assert late["slas"][0]["status"] == "breached" and late["slas"][0]["band"] == "breached"
    assert [e["role"] for e in late["escalations"]] == ["主管"]
    assert any("答复超时" in e["text"] for e in late["timeline"])
    answered = play(studio, [{"wait": "25h"}, {"fire": "answer", "by": "客服专员"}]).json()
    assert answered["state"] == "answered"


def test_a_refused_step_shows_in_the_timeline_and_a_bad_step_names_its_field(
    studio: Studio,
) -> None:
    refused = play(studio, [{"fire": "answer", "by": "主管"}]).json()
    assert refused["state"] == "received"
    assert refused["timeline"][-1]["kind"] == "error"
    bad = play(studio, [{"wait": "soon"}])
    assert bad.status_code == 422
    assert bad.json()["field"] == "steps.0.wait"
    broken = play(studio, [], text="flow ?")
    assert broken.status_code == 422 and broken.json()["code"] == "flow_has_errors"


def test_a_scenario_file_runs_against_the_text_in_the_editor(studio: Studio) -> None:
    with studio.client() as c:
        files = c.get("/studio/api/files").json()
        assert files["scenarios"] == [{"name": "desk/happy.yaml", "flow": "desk"}]
        body = {"name": "desk.flow", "text": DESK, "scenario": "desk/happy.yaml"}
        passed = c.post("/studio/api/scenario", json=body).json()
        slow = DESK.replace("within 24h", "within 1h")
        failed = c.post("/studio/api/scenario", json={**body, "text": slow}).json()
        outside = c.post("/studio/api/scenario", json={**body, "scenario": "../../x.yaml"})
    assert passed["passed"] is True and passed["state"] == "answered"
    assert failed["passed"] is False and "reply" in failed["failures"][0]
    assert outside.status_code == 422


# ---------------------------------------------------------------- the language server
def lsp_socket(studio: Studio) -> ClientConnection:
    ws = studio.url.replace("http://", "ws://") + f"/studio/lsp?csrf={studio.csrf}"
    return connect(ws, additional_headers={"Accept-Language": "zh-CN"}, open_timeout=30)


def rpc(ws: ClientConnection, message: dict[str, Any]) -> None:
    ws.send(json.dumps({"jsonrpc": "2.0", **message}))


def wait_for(ws: ClientConnection, wanted: str | int) -> dict[str, Any]:
    """The next message with this method (a notification) or id (a response)."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=30))
        if message.get("method") == wanted or message.get("id") == wanted:
            return message


def initialized(ws: ClientConnection) -> None:
    rpc(ws, {"id": 1, "method": "initialize", "params": {"capabilities": {}, "processId": None}})
    wait_for(ws, 1)
    rpc(ws, {"method": "initialized", "params": {}})


def test_the_language_server_speaks_over_the_websocket_in_utf16_and_chinese(
    studio: Studio,
) -> None:
    uri = (studio.folder / "desk.flow").as_uri()
    line = '    on answer when phone != "答复😀" -> answerd by 客服专员'
    text = DESK.replace("    on answer -> answered by 客服专员", line)
    with lsp_socket(studio) as ws:
        initialized(ws)
        rpc(ws, {"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "flow", "version": 1, "text": text}}})  # fmt: skip
        published = wait_for(ws, "textDocument/publishDiagnostics")["params"]
    [unknown] = [d for d in published["diagnostics"] if d["code"] == "FD201"]
    before = line[: line.index("answerd")]
    units = len(before.encode("utf-16-le")) // 2  # the emoji is two UTF-16 units
    assert units == len(before) + 1
    assert unknown["range"]["start"] == {"line": 12, "character": units}
    assert unknown["message"].startswith("未知的状态 `answerd`")


def test_the_websocket_refuses_documents_outside_the_folder_and_survives_exit(
    studio: Studio, tmp_path: Path
) -> None:
    outside = (tmp_path / "other.flow").as_uri()
    with lsp_socket(studio) as ws:
        initialized(ws)
        where = {"textDocument": {"uri": outside}, "position": {"line": 0, "character": 0}}
        rpc(ws, {"id": 2, "method": "textDocument/hover", "params": where})
        assert wait_for(ws, 2)["error"]["code"] == -32602
        rpc(ws, {"method": "exit"})
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
    with lsp_socket(studio) as again:  # the server process is still there
        initialized(again)
    with pytest.raises(InvalidStatus, match="403"):  # no secret: refused before it opens
        connect(studio.url.replace("http://", "ws://") + "/studio/lsp", open_timeout=30)


# ---------------------------------------------------------------- under `flow serve`
def test_under_the_server_the_studio_is_for_people_allowed_it(tmp_path: Path) -> None:
    with running_server(tmp_path, datetime(2026, 3, 2, 9, 0, tzinfo=SH)) as srv:
        with srv.client("ma") as allowed:
            files = allowed.get("/studio/api/files")
            page = allowed.get("/studio")
        with srv.client("zhang") as other:
            refused = other.get("/studio/api/files", headers={"Accept": "application/json"})
        with httpx.Client(base_url=srv.url, timeout=30) as nobody:
            anonymous = nobody.get("/studio")
    assert files.status_code == 200 and "complaint.flow" in files.json()["flows"]
    assert page.status_code == 200 and page_config(page.text)["csrf"] is None
    assert refused.status_code == 403 and "studio: true" in refused.json()["detail"]
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/studio"


def test_flow_lsp_ws_serves_editors_over_websockets(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "lsp", "--ws", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}/", open_timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        with ws:
            initialized(ws)
            uri = (tmp_path / "desk.flow").as_uri()
            text = DESK.replace("-> answered by", "-> answerd by")
            rpc(ws, {"method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "flow", "version": 1, "text": text}}})  # fmt: skip
            published = wait_for(ws, "textDocument/publishDiagnostics")["params"]
        assert "FD201" in [d["code"] for d in published["diagnostics"]]
    finally:
        server.terminate()
        server.wait(timeout=30)
