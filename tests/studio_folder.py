"""A small folder of flows for the studio's tests, and the studio served over it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from studio.app import create_studio_app
from studio.folder import Folder
from tests.serving import serving

DESK = """\
flow desk "前台投诉"
calendar always

roles: 客服专员, 主管

fields:
    phone: text? "联系电话"

sla reply "答复" within 24h from received until answered:
    breach: escalate to 主管 "答复超时 {phone}"

state received "已受理":
    on answer -> answered by 客服专员

state answered "已答复":
    wait "业主确认后关闭"
    on close -> closed by 客服专员

final closed "已关闭"
"""

HAPPY = """\
flow: desk
start: 2026-03-02T09:00:00
role: 客服专员
steps:
  - after: 2h
    fire: answer
    by: 客服专员
    expect: {state: answered, sla: {reply: met}}
"""


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "desk.flow").write_text(DESK, encoding="utf-8")
    (root / "scenarios" / "desk").mkdir(parents=True)
    (root / "scenarios" / "desk" / "happy.yaml").write_text(HAPPY, encoding="utf-8")
    return root


@dataclass
class Studio:
    url: str
    folder: Path
    csrf: str

    def client(self, **headers: str) -> httpx.Client:
        sent = {"X-CSRF-Token": self.csrf, "Accept-Language": "zh-CN", **headers}
        return httpx.Client(base_url=self.url, headers=sent, timeout=30)


def page_config(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="studio-config">(.*?)</script>', html)
    assert found, "the page carries its config"
    config: dict[str, object] = json.loads(found.group(1))
    return config


@contextmanager
def running_studio(root: Path) -> Iterator[Studio]:
    folder = make_folder(root)
    with serving(create_studio_app(Folder(folder), "127.0.0.1", "zh_CN")) as url:
        config = page_config(httpx.get(f"{url}/studio", timeout=30).text)
        yield Studio(url, folder, str(config["csrf"]))
