"""Shared helpers: compile flow text, and an Engine on a SimulatedClock at a Shanghai time."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from dsl.diagnostics import render_full
from dsl.frontend import compile_source
from dsl.source import Source
from engine.calendar import Calendar, CalendarSpec
from engine.case import Case, Notification
from engine.clock import SimulatedClock
from engine.definition import FlowDefinition
from engine.engine import Engine

# Messages in English whatever the machine's locale; tests of the Chinese catalog ask for it.
os.environ["FLOWDESK_LANG"] = "en"
SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent
# The shared acceptance examples sit beside the project (tests skip when they are absent).
ACCEPTANCE = next(
    (
        p
        for p in (ROOT.parent / "shared" / "acceptance", Path("/work/shared/acceptance"))
        if p.is_dir()
    ),
    Path("/work/shared/acceptance"),
)
WORKFLOWS = ROOT / "workflows"

# The `office` calendar of section 9 (with its extra holiday on 2026-12-31).
OFFICE = Calendar.from_spec(
    "office",
    CalendarSpec(
        timezone="Asia/Shanghai",
        hours=["08:00-12:00", "13:00-17:00"],
        weekdays=["mon", "tue", "wed", "thu", "fri"],
        holidays="CN",
        extra_holidays=[date(2026, 12, 31)],
    ),
)
CALENDARS: dict[str, Calendar] = {"office": OFFICE, "always": Calendar.always()}
# A calendars.yaml with `office` (no extra holiday) and `always`, for tests that write a
# flow folder.
CALENDARS_YAML = """\
office:
  timezone: Asia/Shanghai
  hours: ["08:00-12:00", "13:00-17:00"]
  weekdays: [mon, tue, wed, thu, fri]
  holidays: CN
always:
  timezone: Asia/Shanghai
  hours: 24/7
"""


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A wall-clock time in Shanghai."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


def compile_flow(text: str, name: str = "t.flow") -> FlowDefinition:
    """Compile flow text (dedented); fail the test with the diagnostics if it does not compile."""
    known = {n: c.official_data_until for n, c in CALENDARS.items()}
    result = compile_source(Source(name, textwrap.dedent(text)), calendars=known)
    if result.definition is None:
        pytest.fail("flow does not compile:\n" + render_full(result.errors, result.source))
    return result.definition


@dataclass
class Harness:
    """An Engine on a SimulatedClock with one flow loaded, and everything it sent out."""

    engine: Engine
    definition: FlowDefinition
    sent: list[Notification] = field(default_factory=list)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return self.engine.clock.now()

    def open(self, data: Mapping[str, Any] | None = None, role: str | None = None) -> Case:
        return self.engine.open(self.definition.name, dict(data or {}), role, role)

    def fire(
        self, case: Case, event: str, role: str | None = None, data: Mapping[str, Any] | None = None
    ) -> Case:
        self.engine.fire(case.id, event, role, role, dict(data) if data is not None else None)
        return case

    def advance(self, to: datetime) -> None:
        self.engine.advance(to)

    def messages(self) -> list[tuple[str, str]]:
        """(role, message) of every notification delivered so far, in order."""
        return [(n.role, n.message) for n in self.sent]

    def sent_at(self) -> list[tuple[datetime, str, str]]:
        return [(n.at, n.role, n.message) for n in self.sent]


def make_harness(
    text: str,
    at: datetime | None = None,
    hooks: Mapping[str, Callable[..., Any]] | None = None,
    calendars: Mapping[str, Calendar] | None = None,
) -> Harness:
    """Compile `text`, build an Engine whose clock reads `at` (default Mon 2026-03-02 09:00)."""
    definition = compile_flow(text)
    engine = Engine(dict(calendars or CALENDARS), SimulatedClock(at or sh(2026, 3, 2, 9, 0)))
    harness = Harness(engine, definition)
    for name, fn in (hooks or {}).items():

        def recording(*args: Any, _name: str = name, _fn: Callable[..., Any] = fn) -> Any:
            harness.calls.append((_name, args))
            return _fn(*args)

        engine.register_hook(name, recording)
    engine.add_notifier(harness.sent.append)
    engine.load(definition)
    return harness


@pytest.fixture
def flow() -> Callable[..., Harness]:
    """`flow(text, at=sh(...), hooks={...})` → a Harness with the flow loaded."""
    return make_harness


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`code` (a documentation example) run as a program from the project's root; fails the
    test with its error output unless it exits 0."""
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr
    return run


# ---------------------------------------------------------------- the CLI under limits
MEMORY = 768 * 1024 * 1024  # bytes of address space a CLI run may take
CPU_SECONDS = 30


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run_cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`flow ARGS` in a child process under `_limits`."""
    return subprocess.run(
        [sys.executable, "-c", "import sys, cli; sys.exit(cli.main())", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        preexec_fn=_limits,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        timeout=300,  # a hang guard only: the CPU limit is the bound
    )


def refused(run: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    """The run ended with `code`, no traceback, and said each of `expected`."""
    said = run.stdout + run.stderr
    assert run.returncode == code, f"exit {run.returncode} (killed by a limit if < 0):\n{said}"
    assert "Traceback" not in said, said
    for text in expected:
        assert text in said, f"{text!r} not in:\n{said}"
    return said


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL from `scripts/postgres.sh`, or a skip that says why."""
    script = ROOT / "scripts" / "postgres.sh"
    try:
        proc = subprocess.run([str(script), "start"], capture_output=True, text=True, timeout=600)
        ok = proc.returncode == 0
        why = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
    except (OSError, subprocess.TimeoutExpired) as exc:
        ok, why = False, [str(exc)]
    if not ok:
        reason = f"PostgreSQL tests skipped: scripts/postgres.sh failed: {why[0]}"
        print(reason)
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    url, folder = proc.stdout.strip().splitlines()[-1].split()
    yield url
    subprocess.run([str(script), "stop", folder], check=False, timeout=60)


def fresh_database(server_url: str, name: str) -> str:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser, installed by scripts/browser.sh; skip (with its reason) if not."""
    try:
        done = subprocess.run(
            ["sh", str(ROOT / "scripts" / "browser.sh")],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"scripts/browser.sh could not run: {exc}")
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no reason given"]
        pytest.skip(f"no headless browser: {reason[0]}")
    return done.stdout.strip().splitlines()[-1]


SHOTS = ROOT / "build" / "screenshots"  # kept as CI artifacts


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """The system Chromium, headless, driven by Playwright (one per test module)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot in build/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
