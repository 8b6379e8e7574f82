"""Hostile input at every door, by class: whatever a person or program sends ends in a clear
error that names the place (file:line:col, or the field), with exit code 1 or 2 or a typed
error, no traceback, in bounded time and memory, and nothing changed.

CLI runs happen in a child process under resource limits (address space and CPU seconds:
`conftest.run_cli`), so a blow-up is a kill the test sees, not a slow test; the limits are the
bounds. Engine and service doors are driven in-process, with hypothesis where the input
varies, and compared byte for byte before and after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, make_harness, refused, sh
from conftest import run_cli as flow
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import limits
from engine.clock import SimulatedClock
from engine.engine import Engine
from engine.errors import InvalidData, UnknownEvent
from engine.service import Service
from engine.store.serialize import encode

HOTLINE = ROOT / "docs" / "examples"
FLOW = """flow f
roles: r
fields:
    x: bool = false
    n: int = 0
state a:
    on go when {guard} -> b by r
    after 1h: notify r "hi"
final b
"""


def _flow(tmp_path: Path, text: str, name: str = "f.flow") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- .flow files
@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ("(" + " and ".join(["x"] * 300) + ")", "nests operators, calls or lists more than 48"),
        ("n == 0" + " + n" * 300, "nests operators, calls or lists more than 48"),
        ("not " * 300 + "x", "nests operators, calls or lists more than 48"),
        ("n == " + "9" * 1900, "this number has 1,900 characters"),
        ("n == " + "9" * 4301, "this line has 4,331 characters"),
        ("n == 1.5" + "5" * 30, "this number has 33 characters"),
        ("n > 0 and now > 9999-01-01 10:00", "the year 9999 is outside"),
    ],
    ids=["and-chain", "plus-chain", "not-chain", "int-1900", "int-4301", "decimal", "year"],
)
def test_expressions_past_a_limit_are_located_errors(
    tmp_path: Path, guard: str, message: str
) -> None:
    text = FLOW.format(guard=guard.replace(" and ", " and\\\n    "))
    said = refused(flow("check", _flow(tmp_path, text)), 1, "f.flow:", message)
    assert "error:" in said


def test_brackets_alone_add_no_depth(tmp_path: Path) -> None:
    """Parentheses make no node: 400 around one name parse (the parser is iterative)."""
    text = FLOW.format(guard="(" * 400 + "x" + ")" * 400)
    run = flow("check", _flow(tmp_path, text))
    assert run.returncode == 0 and "0 errors" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("timer", "message"),
    [
        ("after 99999999999999999999999h", "this number has 23 characters"),
        ("after 99999999h", "is longer than the longest duration"),
        ("every 40000 working days", "is longer than the longest duration"),
        ("after 5300w", "is longer than the longest duration"),
    ],
)
def test_durations_past_100_years_are_located_errors(
    tmp_path: Path, timer: str, message: str
) -> None:
    text = FLOW.format(guard="x").replace("after 1h", timer)
    refused(flow("check", _flow(tmp_path, text)), 1, "f.flow:8:11: error:", message)


def test_a_huge_line_is_refused_and_not_echoed_whole(tmp_path: Path) -> None:
    label = "x" * 1_500_000
    path = _flow(tmp_path, f'flow f\nroles: r\nstate a "{label}":\n    on go -> b\nfinal b\n')
    said = refused(flow("check", path), 1, "f.flow:3:2001: error: this line has 1,500,011")
    assert len(said) < 2_000


def test_a_file_past_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = _flow(tmp_path, "# " + "x" * 80 + "\n" * 30_000)
    path.write_text("# comment\n" * (limits.MAX_FILE_BYTES // 10 + 1), encoding="utf-8")
    refused(flow("check", path), 2, "cannot read the file", "larger than 2 MiB")


def test_devices_and_empty_folders_are_errors(tmp_path: Path) -> None:
    refused(flow("check", "/dev/zero"), 2, "/dev/zero is not a regular file")
    refused(flow("fmt", "--check", "/dev/zero"), 2, "/dev/zero is not a regular file")
    (tmp_path / "empty").mkdir()
    refused(flow("check", tmp_path / "empty"), 2, "no .flow files in this folder")


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\x00", "U+0000"),
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\x1b", "U+001B"),
        ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ],
)
def test_invisible_characters_are_named_never_printed(
    tmp_path: Path, char: str, shown: str
) -> None:
    path = _flow(tmp_path, f"flow f\nroles: r\nstate a{char}:\n    on go -> b by r\nfinal b\n")
    said = refused(flow("check", path), 1, "f.flow:3:8: error: unexpected character", shown)
    assert char not in said
    assert f"<{shown.split()[0]}>" in said  # the source line shows where it is


def test_not_utf8_is_a_located_read_error(tmp_path: Path) -> None:
    path = tmp_path / "f.flow"
    path.write_bytes(b"flow f\nroles: r\xff\xfe\n")
    refused(flow("check", path), 2, "f.flow:2:9: error: cannot read the file: byte 0xFF is not")
    scenario = tmp_path / "s.yaml"
    scenario.write_bytes(b"flow: complaint\nstart: \xff\n")
    refused(flow("simulate", "--scenario", scenario), 2, "s.yaml:2:8: cannot read the scenario")


# ---------------------------------------------------------------- YAML: scenarios, profiles
def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_alias_bombs_are_refused_where_they_pass_the_budget(tmp_path: Path, levels: int) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("flow: complaint\nstart: 2026-03-02 09:00\n" + _laughs(levels))
    refused(flow("simulate", "--scenario", scenario), 2, "s.yaml:", "limit yaml-nodes")
    profile = tmp_path / "p.yaml"
    profile.write_text("cases: 10\n" + _laughs(levels))
    refused(flow("simulate", "complaint", "--profile", profile), 2, "p.yaml:", "yaml-nodes")


def test_small_anchors_stay_usable(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "flow: complaint\nstart: 2026-03-02 09:00\n"
        "base: &who {by: 客服专员}\n"  # an unknown key: refused as such, not as YAML
    )
    refused(flow("simulate", "--scenario", scenario), 2, "base: not a key this file takes")


def test_deeply_nested_case_data_is_refused_at_its_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "flow: complaint\nstart: 2026-03-02 09:00\ncase:\n  x: " + "[" * 50_000 + "]" * 50_000
    )
    refused(flow("simulate", "--scenario", scenario), 2, "s.yaml:4:", "limit yaml-depth")


def test_a_scenario_reads_only_flow_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FIRST-LINE\n")
    (tmp_path / "sub").mkdir()
    scenario = tmp_path / "sub" / "s.yaml"
    for target in ("../secret.txt", "../secret", "/etc/passwd"):
        scenario.write_text(f"flow: {target}\nstart: 2026-03-02 09:00\n")
        said = refused(flow("simulate", "--scenario", scenario), 2, "not found")
        assert "TOP-SECRET" not in said and "root:" not in said


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("after: 99999999999d", "steps.0.after:"),
        ("wait: 999999999999999999999999 working days", "steps.0.wait:"),
        ("at: 9999-01-01 10:00", "steps.0.at: the year 9999 is outside"),
    ],
)
def test_scenario_steps_past_a_limit_name_the_step(tmp_path: Path, step: str, message: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"flow: complaint\nstart: 2026-03-02 09:00\nsteps:\n  - {step}\n")
    refused(flow("simulate", "--scenario", scenario), 2, "s.yaml: invalid scenario", message)


def test_a_profile_naming_an_unknown_event_or_role_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "flow: complaint\ncases: 5\nstates:\n  received:\n"
        "    - {p: 1, steps: [{event: dispatchh, by: 客服专员}, {event: go, by: 老板}]}\n"
    )
    refused(
        flow("simulate", "complaint", "--profile", profile),
        2,
        "`dispatchh` is not an event of the flow (did you mean `dispatch`?)",
        "`by: 老板` is not a role of the flow",
    )


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("fields:\n  complainant: {format: '{n:100000000}'}\n", "format takes a text like"),
        ("fields:\n  complainant: {format: '{n.__class__}'}\n", "format takes a text like"),
        ("fields:\n  complainant: 12345\n", "complainant: expected a text, got the whole"),
        ("fields:\n  category: {choice: {fee: .inf}}\n", "choice takes a list"),
        ("arrivals:\n  hours: {'08-12': .nan}\n", "weights must be finite"),
        (
            "states:\n  received:\n    - {steps: [{event: dispatch, delay: 99999999d}]}\n",
            "is longer than 100 years",
        ),
        (
            "states:\n  received:\n    - {steps: [{event: dispatch, delay: {dist: lognormal, "
            "median: 1h, sigma: 50}}]}\n",
            "must be at most 3",
        ),
        ("cases: 100000000000\n", "must be at most 10000000"),
    ],
    ids=[
        "format-width",
        "format-attr",
        "int-as-text",
        "inf-weight",
        "nan-hours",
        "delay",
        "sigma",
        "cases",
    ],
)
def test_profile_values_the_flow_would_refuse_are_refused_up_front(
    tmp_path: Path, profile: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("flow: complaint\ncases: 3\n" + profile.replace("cases: 3\n", ""))
    refused(flow("simulate", "complaint", "--profile", path), 2, message)


def test_a_scenario_clock_cannot_run_past_the_year_limit(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    steps = "".join("  - wait: 36000d\n" for _ in range(50))
    scenario.write_text(
        f"flow: {HOTLINE / 'hotline.flow'}\ncase: {{caller: 张三}}\nstart: 2026-03-02 09:00\n"
        f"steps:\n{steps}"
    )
    refused(flow("simulate", "--scenario", scenario), 2, "step 2: the clock would pass the year")
    refused(flow("simulate", "complaint", "--cases", "10", "--start", "9999-01-01"), 2, "start:")


FLOOD = """\
flow flood "洪水"
roles: 主管
fields:
    n: int = 0

schedule often "每天" every day at 09:00:
    open case
    summary to 主管 "日报"

state open "进行中":
    every 1m: set n = n + 1
    on done -> closed by 主管

final closed "完成"
"""


@pytest.mark.parametrize("chaser", ["    every 1m: set n = n + 1\n", ""])
def test_timers_and_schedules_over_decades_end_in_an_error_not_a_hang(
    tmp_path: Path, chaser: str
) -> None:
    (tmp_path / "flood.flow").write_text(FLOOD.replace("    every 1m: set n = n + 1\n", chaser))
    (tmp_path / "s.yaml").write_text(
        "flow: flood.flow\nstart: 2026-03-02 09:00\nsteps:\n  - at: 2199-01-01 00:00\n"
    )
    refused(flow("simulate", "--scenario", tmp_path / "s.yaml"), 2,
            "step 1: more than 20,000 timer firings and schedule occurrences")  # fmt: skip


@pytest.mark.parametrize("command", ["worker", "schedules"])
def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path: Path, command: str) -> None:
    db = f"sqlite:///{tmp_path / 'no such folder' / 'x.db'}"
    run = flow(command, "--db", db, "--workflows", ROOT / "workflows")
    refused(run, 2, "cannot open the database sqlite:///", "unable to open database file")


# ---------------------------------------------------------------- case and event data


@pytest.fixture
def engine() -> Engine:
    return Engine.from_folder(HOTLINE, clock=SimulatedClock(sh(2026, 3, 2, 9, 0)))


def _frozen(engine: Engine) -> str:
    return json.dumps(
        {k: encode(c.snapshot()) for k, c in engine.cases.items()}, sort_keys=True, default=str
    )


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"caller": 123}, "caller", "expected a text, got the whole number 123"),
        ({"caller": None}, "caller", "must be given"),
        ({"caller": ["a"]}, "caller", "expected a text, got a list"),
        ({"caller": "\ud800"}, "caller", "contains U+D800"),
        ({"caller": "a\x00b"}, "caller", "contains U+0000"),
        ({"caller": "x" * 50_000_000}, "caller", "a text may have at most 10,000"),
        ({"caller": "张三", "nosuch": 1}, "nosuch", "not a field of this flow"),
        ({"caller": "张三", "phone": 13800000000}, "phone", 'write it in quotes: "13800000000"'),
        ({f"k{i}": 1 for i in range(10_000)}, "data", "has 10,000 keys"),
        ({1: "x"}, "data", "is not a field name"),
    ],
    ids=[
        "int-as-text",
        "null",
        "list",
        "surrogate",
        "nul",
        "50MB",
        "unknown",
        "phone",
        "many-keys",
        "int-key",
    ],
)
def test_bad_case_data_names_the_field_and_opens_nothing(
    engine: Engine, data: dict[Any, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidData) as caught:
        engine.open("hotline", data, "a", "客服专员")
    assert field in caught.value.problems and says in caught.value.problems[field]
    assert len(str(caught.value)) < 1_000  # the value is echoed cut to size
    assert engine.cases == {}


@pytest.mark.parametrize("data", [["caller", "张三"], "caller=张三", 42])
def test_data_that_is_not_a_mapping_is_invalid_data(engine: Engine, data: Any) -> None:
    with pytest.raises(InvalidData, match="`data`: must be a mapping of field names"):
        engine.open("hotline", data, "a", "客服专员")
    case = engine.open("hotline", {"caller": "张三"}, "a", "客服专员")
    before = _frozen(engine)
    with pytest.raises(InvalidData, match="`data`: must be a mapping"):
        engine.fire(case.id, "call_back", "a", "客服专员", data)
    assert _frozen(engine) == before


# Values of each JSON/YAML/Python kind a caller can send, for every field type.
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "yes",
            "no",
            "1",
            "0",
            "2026-03-06",
            "2026-03-06 16:30",
            "30m",
            "3 working days",
            "12.50",
            "1e400",
            "2026-13-45",
            "9999-12-31",
            "fee",
            "",
        ]
    ),
    st.dates(),
    st.datetimes(),
    st.timedeltas(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

TYPES_FLOW = """flow typed
roles: r
fields:
    t: text?
    i: int?
    d: decimal?
    b: bool?
    day: date?
    at: datetime?
    dur: duration?
    c: choice(fee, facility)?
state a:
    on set(t?, i?, d?, b?, day?, at?, dur?, c?) by r
    on go -> z by r
final z
"""
EXPECTED_TYPE = {"t": str, "i": int, "d": Decimal, "b": bool, "day": date, "at": datetime,
                 "dur": timedelta, "c": str}  # fmt: skip


@pytest.fixture(scope="module")
def typed() -> Engine:
    return make_harness(TYPES_FLOW).engine


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(EXPECTED_TYPE)), value=ANY_VALUE)
def test_any_value_for_any_field_is_taken_as_its_type_or_refused_by_name(
    typed: Engine, name: str, value: Any
) -> None:
    case = typed.open("typed", {}, "a", "r")
    before = encode(case.snapshot())
    try:
        typed.fire(case.id, "set", "a", "r", {name: value})
    except InvalidData as exc:
        assert list(exc.problems) == [name]
        assert encode(case.snapshot()) == before
        return
    got = case.fields[name]
    assert got is None or type(got) is EXPECTED_TYPE[name]
    if value is not None:  # nothing loosely coerced: what was taken is what was meant
        assert not isinstance(value, bool) or name == "b"
        assert not (isinstance(value, int | float) and name in ("t", "day", "at", "dur"))
        assert not (isinstance(value, str) and name in ("i", "b"))
    if isinstance(got, datetime):
        assert got.tzinfo is not None
    if isinstance(got, str):
        assert len(got) <= limits.MAX_TEXT_CHARS


def test_null_is_not_a_value_for_a_required_parameter() -> None:
    h = make_harness(
        "flow p\nroles: r\nfields:\n    note: text?\n"
        "state a:\n    on reply(note) -> b by r\nfinal b\n"
    )
    case = h.open({}, "r")
    with pytest.raises(InvalidData, match=r"`note`: required by `reply` .* may not be null"):
        h.fire(case, "reply", "r", {"note": None})
    assert case.state == "a"


def test_names_from_outside_are_echoed_cut_and_visible(engine: Engine) -> None:
    case = engine.open("hotline", {"caller": "张三"}, "a", "客服专员")
    with pytest.raises(UnknownEvent) as caught:
        engine.fire(case.id, "x" * 100_000 + "\x1b[2J", "a", "客服专员")
    assert len(str(caught.value)) < 300 and "\x1b" not in str(caught.value)
    with pytest.raises(InvalidData) as refused_role:
        engine.fire(case.id, "call_back", "a", "\u200b客服专员")  # looks like the right role
    said = str(refused_role.value)
    assert "\u200b" not in said and "\\u200b客服专员" in said  # shown escaped, not raw


# ---------------------------------------------------------------- the durable store
def _dump(service: Service) -> list[Any]:
    with service.store.read() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]  # fmt: skip
        return [(t, conn.exec_driver_sql(f"SELECT * FROM {t}").all()) for t in tables]


def test_hostile_calls_change_nothing_in_the_store(tmp_path: Path) -> None:
    clock = SimulatedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    service = Service(f"sqlite:///{tmp_path / 'h.db'}", HOTLINE, clock=clock)
    service.open("hotline", {"caller": "张三"}, "a", "客服专员", case_id="H")
    before = _dump(service)
    attempts: list[tuple[str, tuple[Any, ...]]] = [
        ("open", ("hotline", {"caller": 5}, "a", "客服专员")),
        ("open", ("hotline", {"caller": "x" * 20_000}, "a", "客服专员")),
        ("open", ("hotline", ["caller"], "a", "客服专员")),
        ("open", ("hotline", {"caller": "李四"}, "a", "外人")),
        ("open", ("hotline", {"caller": "李四"}, "a", "客服专员", "H")),  # id taken
        ("fire", ("H", "call_back", "a", "业主服务主管")),
        ("fire", ("H", "call_back", "a", "客服专员", {"note": 1})),
        ("fire", ("H", "call_back", "a", "客服专员", {"nosuch": "x"})),
        ("fire", ("H", "nosuch", "a", "客服专员")),
        ("fire", ("H-missing", "call_back", "a", "客服专员")),
    ]
    for method, args in attempts:
        with pytest.raises(Exception) as caught:
            getattr(service, method)(*args)
        assert caught.type.__module__ == "engine.errors", caught.value
        assert _dump(service) == before, f"{method}{args[:2]} changed the store"
    service.close()


def test_the_worker_stops_within_two_seconds_whatever_the_backlog(tmp_path: Path) -> None:
    """SIGTERM while catching up on a long backlog of overdue timers: the step in hand is
    finished, the rest is left for the next start, and the worker exits at once."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "chase.flow").write_text(
        'flow chase\nroles: r\nstate open:\n    every 1m: notify r "chase"\n'
        "    on close -> done by r\nfinal done\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'w.db'}"
    days_ago = datetime.now(UTC) - timedelta(days=2)  # 2,880 overdue firings a case
    service = Service(url, folder, clock=SimulatedClock(days_ago))
    for n in range(10):
        service.open("chase", {}, "a", "r", case_id=f"c{n}")
    service.close()
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine.scheduling.worker", "--db", url, "--workflows", folder],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert worker.stderr is not None
    try:
        assert "ready" in worker.stderr.readline()
        time.sleep(1.5)  # well into the backlog
        worker.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        worker.wait(timeout=30)
        stopped_after = time.monotonic() - sent
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, worker.stderr.read()
    assert stopped_after < 2.0
    with Service(url, folder).store.read() as conn:
        fired, pending = conn.exec_driver_sql(
            "SELECT SUM(fired_at IS NOT NULL), SUM(fired_at IS NULL) FROM timers"
        ).one()
    assert fired > 0 and pending == 10  # it stopped mid-backlog; each case still armed


@pytest.mark.parametrize("who", ["actor", "role"])
@pytest.mark.parametrize("value", ["x" * 50_000, "a\x1bb", 42])
def test_actors_and_roles_are_names_not_payloads(engine: Engine, who: str, value: Any) -> None:
    case = engine.open("hotline", {"caller": "张三"}, "a", "客服专员")
    before = _frozen(engine)
    caller = {"actor": "a", "role": "客服专员", who: value}
    with pytest.raises(InvalidData, match=f"`{who}`: "):
        engine.fire(case.id, "call_back", caller["actor"], caller["role"])
    with pytest.raises(InvalidData, match=f"`{who}`: "):
        engine.open("hotline", {"caller": "张三"}, caller["actor"], caller["role"])
    with pytest.raises(InvalidData, match="`case_id`: "):
        engine.open("hotline", {"caller": "张三"}, "a", "客服专员", case_id="c" * 10_000)
    assert _frozen(engine) == before


def test_a_stop_during_start_up_is_a_clean_exit(tmp_path: Path) -> None:
    """SIGTERM as soon as the worker says it is ready (before its scheduler runs): exit 0,
    no traceback (it used to be a SchedulerNotRunningError, or a worker waiting forever)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    for delay in (0.0, 0.05, 0.2):
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine.scheduling.worker", "--db", url, "--workflows",
             HOTLINE],
            cwd=ROOT, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert worker.stderr is not None
        assert "ready" in worker.stderr.readline()
        time.sleep(delay)
        worker.send_signal(signal.SIGTERM)
        try:
            _, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert worker.returncode == 0 and "Traceback" not in err, err
