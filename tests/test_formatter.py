"""`flow fmt`: one canonical layout, idempotent, and never a change of meaning."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from dsl.formatter import FormatError, format_source
from dsl.frontend import compile_source
from dsl.source import Source

ACCEPTANCE = Path(__file__).resolve().parents[2] / "shared" / "acceptance"
WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def fmt(text: str) -> str:
    return format_source(textwrap.dedent(text).lstrip("\n"))


def expected(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def content_hash(text: str, path: str = "t.flow") -> str:
    result = compile_source(Source(path, text))
    assert result.definition is not None, [d.message for d in result.errors]
    return result.definition.content_hash


# ---------------------------------------------------------------- golden examples


def test_indentation_tabs_and_odd_widths_become_four_spaces() -> None:
    messy = (
        "flow f\n"
        "roles: 客服\n"
        "state a:\n"
        "  on go -> b by 客服:\n"
        '\t  notify 客服 "去"\n'  # a tab then two spaces: column 6
        '\t  record "x"\n'
        "  enter:\n"
        '     record "进入"\n'
        "state b:\n"
        "\ton done -> c\n"
        "final c\n"
    )
    assert format_source(messy) == expected(
        """
        flow f

        roles: 客服

        state a:
            on go -> b by 客服:
                notify 客服 "去"
                record "x"
            enter:
                record "进入"

        state b:
            on done -> c

        final c
        """
    )


def test_spacing_around_operators_commas_colons_and_brackets() -> None:
    messy = """
        flow   f   "演示"
        roles:a,b
        fields:
            category :choice( fee ,facility )"类别"
            phone:text ?
            n:int=-1
        state a:
            on ev( phone ? ,n )when category=="fee"and(n>=2 or n<-3)->b by a ,b:
                set n=n+-1
            when category in[ "fee","facility" ]and not(n*2/3>1)-> b
            at now+ -10m:notify a "x"
        final b
        """
    assert fmt(messy) == expected(
        """
        flow f "演示"

        roles: a, b

        fields:
            category: choice(fee, facility) "类别"
            phone: text?
            n: int = -1

        state a:
            on ev(phone?, n) when category == "fee" and (n >= 2 or n < -3) -> b by a, b:
                set n = n + -1
            when category in ["fee", "facility"] and not (n * 2 / 3 > 1) -> b
            at now + -10m: notify a "x"

        final b
        """
    )


def test_comments_are_kept_full_line_and_trailing() -> None:
    messy = """
        # 投诉流程 — header comment
        flow f   # the name
        roles: 客服
        state a:       # 第一个状态
          # about go
          on go -> b     # trailing, two spaces
            # inside the state, badly indented
          on stop -> b
        # belongs to b
        final b
        # end of file
        """
    assert fmt(messy) == expected(
        """
        # 投诉流程 — header comment
        flow f  # the name

        roles: 客服

        state a:  # 第一个状态
            # about go
            on go -> b  # trailing, two spaces
            # inside the state, badly indented
            on stop -> b

        # belongs to b
        final b
        # end of file
        """
    )


def test_blank_lines_collapsed_headers_together_one_before_each_block() -> None:
    messy = (
        "\n\n"
        "flow f\n\n\n"
        "version 2\n"
        "\n"
        "calendar office\n"
        "roles: r\n"
        "fields:\n\n"
        "    x: text?   \n"
        "state a:\n\n\n"
        "    on go -> b\n"
        "\n\n\n"
        "    on stop -> b\t\n"
        "final b\n\n\n"
    )
    assert format_source(messy) == expected(
        """
        flow f
        version 2
        calendar office

        roles: r

        fields:
            x: text?

        state a:
            on go -> b

            on stop -> b

        final b
        """
    )


def test_literals_strings_durations_and_datetimes_stay_as_written() -> None:
    messy = """
        flow f
        roles: 客服
        fields:
            t: datetime?
        state a:
            after 2个工作日:notify 客服   "引号 \\"x\\" 反斜杠 \\\\ {id}"
            after 30 分钟 -> b
            every 2  working days at most 3 times: record "三次"
            when t == 2026-03-06 16:30 or t > 2026-03-06T09:00 -> b
            every working day at 9:05: record "早"
            on go -> b
        final b
        """
    assert fmt(messy) == expected(
        """
        flow f

        roles: 客服

        fields:
            t: datetime?

        state a:
            after 2个工作日: notify 客服 "引号 \\"x\\" 反斜杠 \\\\ {id}"
            after 30 分钟 -> b
            every 2  working days at most 3 times: record "三次"
            when t == 2026-03-06 16:30 or t > 2026-03-06T09:00 -> b
            every working day at 9:05: record "早"
            on go -> b

        final b
        """
    )


def test_tables_slas_tasks_and_roles_block() -> None:
    messy = """
        flow f
        roles:
          客服, 主管
          工程部
        fields:
          category: choice(fee, facility)
          d: text?
        sla reply "答复" within 24h from a until b pause in a:
          warn at 75%:notify 主管 "快"
          warn 2h before : notify 客服 "还剩2小时"
          breach:escalate to 主管 "超时"
        state a "受理":
          enter:set d=dept(category)
          task check "检查" by 工程部 within 1个工作日:
            overdue:escalate to 主管 "超期"
          when all tasks done->b
        final b "完成"
        table dept(category)"部门":
          "fee"|"facility"->"主管"
          _->"客服"
        """
    assert fmt(messy) == expected(
        """
        flow f

        roles:
            客服, 主管
            工程部

        fields:
            category: choice(fee, facility)
            d: text?

        sla reply "答复" within 24h from a until b pause in a:
            warn at 75%: notify 主管 "快"
            warn 2h before: notify 客服 "还剩2小时"
            breach: escalate to 主管 "超时"

        state a "受理":
            enter: set d = dept(category)
            task check "检查" by 工程部 within 1个工作日:
                overdue: escalate to 主管 "超期"
            when all tasks done -> b

        final b "完成"

        table dept(category) "部门":
            "fee" | "facility" -> "主管"
            _ -> "客服"
        """
    )


def test_line_breaks_inside_brackets_and_backslash_continuations_are_kept() -> None:
    messy = """
        flow f
        roles: 客服, 主管
        fields:
            category: choice(fee, facility, security)
        state a:
            when category in [ "fee",   # money
                     # or repairs
                "facility"
                          ] -> b
            on go -> b \\
                  by 客服,   主管
        final b
        """
    assert fmt(messy) == expected(
        """
        flow f

        roles: 客服, 主管

        fields:
            category: choice(fee, facility, security)

        state a:
            when category in ["fee",  # money
                # or repairs
                "facility"
            ] -> b
            on go -> b \\
                by 客服, 主管

        final b
        """
    )


def test_no_trailing_newline_crlf_and_bom_are_normalised() -> None:
    messy = "\ufeffflow f\r\nroles: r\r\nstate a:\r\n  on go -> b\r\nfinal b"
    assert format_source(messy) == "flow f\n\nroles: r\n\nstate a:\n    on go -> b\n\nfinal b\n"


# ---------------------------------------------------------------- shipped and acceptance flows


def _flow_files(folder: Path, reason: str) -> list[Any]:
    files = sorted(folder.glob("*.flow")) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(f, id=f.name) for f in files]


def _check_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    original = compile_source(Source(str(path), text))
    if original.flow is None:  # does not parse: fmt refuses and says where
        with pytest.raises(FormatError, match=r":\d+:\d+: error:"):
            format_source(text, str(path))
        return
    formatted = format_source(text, str(path))
    assert format_source(formatted, str(path)) == formatted
    if original.definition is not None:
        assert content_hash(formatted, str(path)) == original.definition.content_hash


@pytest.mark.parametrize("path", _flow_files(ACCEPTANCE, f"{ACCEPTANCE} is not available"))
def test_acceptance_flows_round_trip(path: Path) -> None:
    _check_round_trip(path)


@pytest.mark.parametrize("path", _flow_files(WORKFLOWS, "no workflows/*.flow yet"))
def test_shipped_workflows_round_trip(path: Path) -> None:
    _check_round_trip(path)


# ---------------------------------------------------------------- generated flows

# `␣` stands for required whitespace, `·` for optional whitespace; both are drawn at random.
_REQUIRED = [" ", "  ", "\t", " \t "]
_OPTIONAL = ["", "", " ", "  ", "\t"]
_INDENTS = ["    ", "  ", "\t", "   ", "        ", " \t"]
_DURATIONS = ["30m", "24h", "2d", "1w", "1.5h", "4 working hours", "2 working days",
              "2  working days", "1\tworking day", "30分钟", "24 小时", "3天", "2个工作日",
              "1工作日"]  # fmt: skip
_GUARDS = [
    "major", "n·>·2", 'category·==·"fee"', "n·+·1·>=·3␣and␣not␣major",
    "(·n·<·3␣or␣major·)␣and␣remark␣is␣set", 'category␣in·[·"fee"·,·"facility"·]',
    "appointment␣is␣not␣set", "n·*·2·-·-·1·>·0", 'not·(·category␣not␣in·[·"fee"·]·)',
    'category␣in·[·"fee"·,  # 费用\n            "facility"·]', "appointment·<·now·+·2d",
]  # fmt: skip
_ACTIONS = [
    "set␣n·=·n·+·1", 'notify␣{role}·,·{role}␣"消息 {id}"', "assign␣to␣{role}",
    'escalate␣to␣{role}␣"升级"', 'record␣"引号 \\"x\\" 反斜杠 \\\\"',
    'callback␣"回访"␣to␣{role}␣within␣{dur}', "set␣remark·=·dept·(·category·)",
]  # fmt: skip
_TIMERS = [
    "after␣{d}", "every␣{d}", "every␣{d}␣at␣most␣3␣times", "every␣working␣day␣at␣17:30",
    "every␣monday␣at␣09:00", "every␣month␣on␣day␣5␣at␣9:00", "at␣appointment·-·10m",
]  # fmt: skip
_COMMENTS = ["# 注释", "#", "# a comment: with ; and \\", '# "quoted" # again']


class _Writer:
    """Builds flow text line by line, spending hypothesis draws on layout choices."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw
        self.lines: list[str] = []

    def pick(self, options: list[str]) -> str:
        return str(self.draw(st.sampled_from(options)))

    def fill(self, template: str, **names: str) -> str:
        for key, value in names.items():
            template = template.replace("{" + key + "}", value)
        gaps = {"␣": _REQUIRED, "·": _OPTIONAL}
        return "".join(self.pick(gaps[ch]) if ch in gaps else ch for ch in template)

    def line(self, indent: str, template: str, **names: str) -> None:
        for _ in range(self.draw(st.integers(0, 2))):
            if self.draw(st.booleans()):
                self.lines.append(self.pick(["", "  ", "\t"]))
            else:
                self.lines.append(self.pick(["", indent, "   ", "\t\t"]) + self.pick(_COMMENTS))
        text = indent + self.fill(template, **names)
        if "\\\n" not in template and self.draw(st.integers(0, 3)) == 0:
            text += self.pick(_OPTIONAL) + self.pick(_COMMENTS)
        self.lines.append(text + self.pick(["", "", " ", "\t"]))

    def action(self, indent: str, roles: list[str]) -> None:
        template = self.pick(_ACTIONS)
        self.line(indent, template, role=self.pick(roles), dur=self.pick(_DURATIONS))


@st.composite
def flows(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    """A valid flow: random states, transitions, timers, tasks, SLA and table, laid out badly."""
    w = _Writer(draw)
    roles = ["客服", "主管", "r1"]
    w.line("", 'flow␣gen␣"生成的流程"')
    if draw(st.booleans()):
        w.line("", "version␣2")
    if draw(st.booleans()):
        w.line("", "calendar␣office")
    unit = w.pick(_INDENTS)
    if draw(st.booleans()):
        w.line("", "roles·:·客服·,·主管·,·r1")
    else:
        w.line("", "roles·:")
        w.line(unit, "客服·,·主管")
        w.line(unit, "r1")
    w.line("", "fields·:")
    for field in ['category·:·choice·(·fee·,·facility·)·"类别"', "major·:·bool·=·false",
                  "n·:·int·=·0", "remark·:·text·?", "appointment·:·datetime·?"]:  # fmt: skip
        w.line(unit, field)
    count = draw(st.integers(1, 4))
    states = [f"s{i}" for i in range(count)]
    finals = ["done", "closed"][: draw(st.integers(1, 2))]
    if draw(st.booleans()):
        sla = 'sla␣reply␣"答复"␣within␣{dur}␣from␣s0␣until␣done·:'
        w.line("", sla, dur=w.pick(["24h", "3d"]))
        w.line(unit, 'warn␣at␣75%·:·notify␣主管␣"快"')
        w.line(unit, 'warn␣1h␣before·:·notify␣客服␣"还剩1小时"')
        w.line(unit, 'breach·:·escalate␣to␣主管␣"超时"')
    for i, state in enumerate(states):
        unit = w.pick(_INDENTS)
        hooks = ["enter", "exit"]
        w.line("", 'state␣{s}␣"状态{s}"·:', s=state)
        w.line(unit, "on␣done_{i}·->·{f}␣by␣{r}", i=str(i), f=w.pick(finals), r=w.pick(roles))
        for k in range(draw(st.integers(0, 5))):
            kind = draw(st.integers(0, 7))
            target = w.pick(states + finals)
            if kind == 0:
                w.line(unit, "on␣e{i}x{k}·(·remark·?·)␣when␣{g}·->·{t}␣by␣{r}·,·{r2}·:",
                       i=str(i), k=str(k), g=w.pick(_GUARDS), t=target, r=w.pick(roles),
                       r2=w.pick(roles))  # fmt: skip
                for _ in range(draw(st.integers(1, 2))):
                    w.action(unit * 2, roles)
            elif kind == 1:
                w.line(unit, 'on␣note{i}x{k}·(·remark·)·:·record␣"{remark}"', i=str(i), k=str(k))
            elif kind == 2:
                w.line(unit, "when␣{g}·->·{t}", g=w.pick(_GUARDS), t=target)
            elif kind == 3:
                w.line(unit, "after␣{d}·->·{t}", d=w.pick(_DURATIONS), t=target)
            elif kind == 4:
                timer = w.pick(_TIMERS)
                w.line(unit, timer + "·:", d=w.pick(_DURATIONS))
                for _ in range(draw(st.integers(1, 2))):
                    w.action(unit * 2, roles)
            elif kind == 5 and hooks:
                w.line(unit, hooks.pop(draw(st.integers(0, len(hooks) - 1))) + "·:")
                w.action(unit * 2, roles)
            elif kind == 6:
                w.line(unit, "on␣e{i}y{k}·->·{t}␣\\\n     by␣{r}", i=str(i), k=str(k), t=target,
                       r=w.pick(roles))  # fmt: skip
            elif kind == 7:
                w.line(unit, 'task␣t{i}x{k}␣"检查"␣by␣主管·:', i=str(i), k=str(k))
                w.line(unit * 2, 'overdue·:·escalate␣to␣主管␣"超期"')
                w.line(unit, "when␣all␣tasks␣done·->·{t}", t=target)
    for final in finals:
        w.line("", 'final␣{f}␣"结束"', f=final)
    unit = w.pick(_INDENTS)
    w.line("", 'table␣dept·(·category·)␣"部门"·:')
    w.line(unit, '"fee"·|·"facility"·->·"主管"')
    w.line(unit, 'else·->·"客服"')
    ending = w.pick(["\n", "", "\n\n\n", "\n  "])
    return "\n".join(w.lines) + ending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_generated_flows_format_idempotently_and_keep_their_meaning(text: str) -> None:
    before = content_hash(text)
    formatted = format_source(text)
    assert format_source(formatted) == formatted
    assert content_hash(formatted) == before
    lines = formatted.split("\n")
    assert formatted.endswith("\n") and not formatted.endswith("\n\n")
    assert "\n\n\n" not in formatted
    for line in lines:
        assert line == line.rstrip()
        indent = line[: len(line) - len(line.lstrip(" "))]
        assert len(indent) % 4 == 0 and not line[len(indent) :].startswith("\t")


# ---------------------------------------------------------------- errors and the CLI


def test_syntax_error_is_a_format_error_with_the_full_diagnostic() -> None:
    text = "flow f\nroles: r\nstate a:\n\non go -> b\nfinal b\n"
    with pytest.raises(FormatError) as caught:
        format_source(text, "bad.flow")
    rendered = caught.value.rendered
    assert rendered.startswith("bad.flow:5:1: error: a block was expected after `state a:`")
    assert "5 | on go -> b" in rendered and rendered.endswith("\n")


def test_unexpected_character_is_a_format_error() -> None:
    with pytest.raises(FormatError, match=r"^x\.flow:1:8: error: unexpected character"):
        format_source("flow f 'label'\n", "x.flow")


def test_cli_fmt_check_exit_codes_and_rewrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tidy = tmp_path / "tidy.flow"
    tidy.write_text("flow f\n\nroles: r\n\nstate a:\n    on go -> b\n\nfinal b\n", encoding="utf-8")
    messy = tmp_path / "messy.flow"
    messy_text = "flow f\nroles:r\nstate a:\n  on go->b\nfinal b\n"
    messy.write_text(messy_text, encoding="utf-8")

    assert cli.main(["fmt", "--check", str(tidy)]) == 0
    assert cli.main(["fmt", "--check", str(tidy), str(messy)]) == 1
    assert "would reformat" in capsys.readouterr().out
    assert messy.read_text(encoding="utf-8") == messy_text  # --check changes nothing

    assert cli.main(["fmt", str(messy)]) == 0
    assert messy.read_text(encoding="utf-8") == tidy.read_text(encoding="utf-8")
    assert cli.main(["fmt", "--check", str(messy)]) == 0


def test_cli_fmt_leaves_a_broken_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.flow"
    text = "flow f\nstate a:\n\non go -> b\n"
    broken.write_text(text, encoding="utf-8")
    assert cli.main(["fmt", str(broken)]) == 1
    assert f"{broken}:4:1: error:" in capsys.readouterr().err
    assert broken.read_text(encoding="utf-8") == text
