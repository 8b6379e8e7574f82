"""The scale-out path, as an operator runs it: two `flow serve --no-worker` processes and a
`flow worker` on one database. A case opened through one server is worked through the
other; a session and an idempotency key made on one hold on the other; the worker fires
the timers. On SQLite (one file) and on PostgreSQL (scripts/postgres.sh)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, fresh_database
from tests.serving import PASSWORDS, WORKFLOWS, free_port, people

FLOW = [sys.executable, str(ROOT / "cli.py")]


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen([*FLOW, *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer: {log.read_text()}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    server: str = request.getfixturevalue("pg_server")
    return fresh_database(server, "flowdesk_scaleout")


@pytest.fixture
def cluster(db_url: str, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    flows = tmp_path / "flows"  # the complaint flow, and one whose timers fall due in seconds
    flows.mkdir()
    for path in [WORKFLOWS / "complaint.flow", WORKFLOWS / "calendars.yaml",
                 ROOT / "tests" / "crash_flows" / "crash.flow"]:  # fmt: skip
        shutil.copy(path, flows)
    directory, tokens = people(tmp_path / "users.yaml")
    directory.add("bot", "bot", ["agent"], None)
    tokens["bot"] = directory.new_token("bot", "test")
    directory.save()
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    common = ["--db", db_url, "--workflows", str(flows)]
    try:
        for n in range(2):
            port = free_port()
            log = tmp_path / f"serve-{n}.log"
            users = ["--users", str(tmp_path / "users.yaml")]
            procs.append(start(["serve", *common, *users, "--port", str(port), "--no-worker"], log))
            urls.append(f"http://127.0.0.1:{port}")
            wait_healthy(urls[-1], procs[-1], log)
        procs.append(start(["worker", *common, "--poll", "0.2"], tmp_path / "worker.log"))
        yield urls, tokens
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_two_servers_and_a_worker_share_one_database(
    cluster: tuple[list[str], dict[str, str]],
) -> None:
    (a, b), tokens = cluster
    auth = {"Authorization": f"Bearer {tokens['zhang']}"}
    opened = httpx.post(a + "/api/cases", headers=auth, timeout=30,
                        json={"flow": "complaint", "data": {"phone": "13800000000"}})  # fmt: skip
    assert opened.status_code == 201, opened.text
    case = opened.json()
    body = {"event": "register", "expected_version": case["version"],
            "data": {"complainant": "王", "content": "漏水", "category": "building"}}  # fmt: skip
    keyed = {**auth, "Idempotency-Key": "scale-1"}
    first = httpx.post(f"{b}/api/cases/{case['id']}/events", headers=keyed, json=body, timeout=30)
    again = httpx.post(f"{a}/api/cases/{case['id']}/events", headers=keyed, json=body, timeout=30)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert httpx.get(f"{a}/api/cases/{case['id']}", headers=auth).json()["state"] == "received"

    with httpx.Client(base_url=a) as browser:  # a session made on one server holds on the other
        page = browser.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token
        browser.post("/login", data={"id": "li", "password": PASSWORDS["li"],
                                     "csrf": token.group(1)})  # fmt: skip
        cookies = browser.cookies
    with httpx.Client(base_url=b, cookies=cookies) as other:
        assert other.get("/api/me").json()["id"] == "li"


def test_the_worker_beside_the_servers_fires_timers(
    cluster: tuple[list[str], dict[str, str]],
) -> None:
    (a, _b), tokens = cluster
    auth = {"Authorization": f"Bearer {tokens['bot']}"}
    now = datetime.now(UTC)
    far = (now + timedelta(days=1)).isoformat()
    soon = (now + timedelta(seconds=1)).isoformat()
    data = {"t1": soon, "t2": far, "t3": far, "t4": far, "r1": far, "r2": far, "r3": far,
            "r4": far}  # fmt: skip
    case = httpx.post(a + "/api/cases", headers=auth, json={"flow": "crash", "data": data})
    assert case.status_code == 201, case.text
    deadline = time.monotonic() + 30
    state = case.json()["state"]
    while state == "s1" and time.monotonic() < deadline:
        time.sleep(0.2)
        state = httpx.get(f"{a}/api/cases/{case.json()['id']}", headers=auth).json()["state"]
    assert state == "s2"  # `at t1 -> s2`, fired by the worker process
