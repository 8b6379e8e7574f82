"""`flow users`: the people file an operator edits — roles checked against the flows,
passwords hashed, tokens shown once, bad files refused with their place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server.users import Directory
from tests.conftest import ROOT


def flow_users(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "users", *args, "--users",
         str(tmp_path / "users.yaml")],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_people_are_added_with_flow_roles_and_hashed_passwords(tmp_path: Path) -> None:
    added = flow_users(tmp_path, "add", "zhang", "--name", "张敏", "--role", "客服专员",
                       "--password-stdin", stdin="a-long-password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    text = (tmp_path / "users.yaml").read_text("utf-8")
    assert "张敏" in text and "a-long-password" not in text and "$argon2id$" in text
    directory = Directory.load(tmp_path / "users.yaml")
    assert directory.verify_password("zhang", "a-long-password") is not None
    assert directory.verify_password("zhang", "wrong-password") is None
    listed = flow_users(tmp_path, "list")
    assert listed.stdout.split("\t")[:2] == ["zhang", "张敏"]


def test_roles_no_flow_has_and_short_passwords_are_refused(tmp_path: Path) -> None:
    wrong = flow_users(tmp_path, "add", "x", "--role", "客服", "--password-stdin", stdin="p" * 12)
    assert wrong.returncode == 2 and "客服专员" in wrong.stderr  # it lists the real roles
    short = flow_users(tmp_path, "add", "x", "--role", "客服专员", "--password-stdin", stdin="abc")
    assert short.returncode == 2 and "at least 10" in short.stderr
    assert not (tmp_path / "users.yaml").exists()  # nothing was written


def test_a_token_is_shown_once_and_works_until_the_person_is_disabled(tmp_path: Path) -> None:
    flow_users(tmp_path, "add", "ci", "--role", "工程部", "--password-stdin", stdin="x" * 12)
    made = flow_users(tmp_path, "token", "ci", "build")
    assert made.returncode == 0 and made.stdout.startswith("fd_")
    token = made.stdout.strip()
    assert token not in (tmp_path / "users.yaml").read_text("utf-8")
    assert Directory.load(tmp_path / "users.yaml").by_token(token) is not None
    assert flow_users(tmp_path, "token", "ci", "build").returncode == 2  # the name is taken
    assert flow_users(tmp_path, "disable", "ci").returncode == 0
    assert Directory.load(tmp_path / "users.yaml").by_token(token) is None


def test_a_broken_users_file_names_its_place(tmp_path: Path) -> None:
    (tmp_path / "users.yaml").write_text("users:\n  - id: [\n", "utf-8")
    broken = flow_users(tmp_path, "list")
    assert broken.returncode == 2 and "users.yaml:" in broken.stderr
    (tmp_path / "users.yaml").write_text("users:\n  - id: a b\n    name: x\n", "utf-8")
    invalid = flow_users(tmp_path, "list")
    assert invalid.returncode == 2 and "users.0.id" in invalid.stderr
