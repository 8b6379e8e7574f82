"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every figure the page shows from the JSON report sits in an element carrying
`data-kpi="dotted.path"` (the key `report.flatten` gives it), so a test or a tool can check
the page against the JSON figure by figure.
"""

from __future__ import annotations

from html import escape
from typing import Any

from engine.loadsim.charts import PALETTE, bar_chart, line_chart, stacked_bars
from engine.loadsim.report import Report

CSS = """
:root { color-scheme: light; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
       "Microsoft YaHei", "WenQuanYi Micro Hei", system-ui, sans-serif; margin: 24px auto;
       max-width: 1060px; color: #1f2937; line-height: 1.45; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
     border-bottom: 2px solid #e5e7eb; padding-bottom: 4px; }
.sub { color: #4b5563; margin: 0; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 14px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #15803d; font-weight: 700; } .fail { color: #b91c1c; font-weight: 700; }
.na { color: #a16207; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.tile { background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 12px; }
.tile .v { font-size: 22px; font-weight: 700; } .tile .k { color: #6b7280; font-size: 13px; }
.row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
svg { display: block; margin: 8px 0; max-width: 100%; height: auto; }
details summary { cursor: pointer; color: #2563eb; }
.note { color: #92400e; }
footer { margin-top: 32px; color: #9ca3af; font-size: 12px; }
"""


def fmt_num(value: Any) -> str:
    """A number exactly as the JSON has it (integral floats without `.0`); None as —."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kpi(key: str, value: Any, unit: str = "") -> str:
    """A figure in a span that names its report key."""
    return f'<span data-kpi="{escape(key)}">{fmt_num(value)}</span>{escape(unit)}'


def _td(key: str, value: Any) -> str:
    return f'<td class="num" data-kpi="{escape(key)}">{fmt_num(value)}</td>'


def _th(*names: str, num_from: int = 1) -> str:
    cells = "".join(
        f'<th class="num">{escape(n)}</th>' if i >= num_from else f"<th>{escape(n)}</th>"
        for i, n in enumerate(names)
    )
    return f"<tr>{cells}</tr>"


def render_html(report: Report) -> str:
    """The whole page."""
    title = f"{report['label']} 负载模拟报告 — load simulation"
    body = [
        _header(report),
        _targets(report),
        _tiles(report),
        _slas(report),
        _escalations(report),
        _callbacks(report),
        _times(report),
        _queues(report),
        _daily(report),
        _events(report),
        "<footer>Flowdesk <code>flow simulate</code> — one self-contained page: "
        "no script, no network.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _header(r: Report) -> str:
    t = r["totals"]
    return (
        f"<h1>{escape(r['label'])} 负载模拟报告</h1>"
        f'<p class="sub">flow <code>{escape(r["flow"])}</code> · calendar '
        f"<code>{escape(r['calendar'])}</code> · {_kpi('cases', r['cases'])} cases arriving "
        f"over {_kpi('days', r['days'])} days from {escape(r['start'][:10])} · seed "
        f"{_kpi('seed', r['seed'])} · run ends {escape(r['end'][:10])}</p>"
        f'<p class="sub">closed {_kpi("totals.closed", t["closed"])}, still open at the end '
        f"{_kpi('totals.open_at_end', t['open_at_end'])}, left out of the rates "
        f"{_kpi('totals.excluded', t['excluded'])} (rates are over "
        f"{_kpi('totals.counted', t['counted'])} cases)</p>"
    )


def _targets(r: Report) -> str:
    if not r["targets"]:
        return ""
    rows = [_th("指标 KPI", "目标 target", "模拟 simulated", "结果 result", num_from=1)]
    for i, row in enumerate(r["targets"]):
        verdict = {
            True: '<td class="pass" data-pass="true">✓ 达标 pass</td>',
            False: '<td class="fail" data-pass="false">✗ 未达标 fail</td>',
            None: '<td class="na" data-pass="none">– n/a</td>',
        }[row["pass"]]
        rows.append(
            f"<tr><td>{escape(row['label'])} <small><code>{escape(row['kpi'])}</code></small>"
            f'</td><td class="num">{escape(row["op"])} '
            f'<span data-kpi="targets.{i}.target">{fmt_num(row["target"])}</span></td>'
            f"{_td(f'targets.{i}.value', row['value'])}{verdict}</tr>"
        )
    return "<h2>手册指标 Manual targets</h2><table>" + "".join(rows) + "</table>"


def _tiles(r: Report) -> str:
    ttc = r["time_to_close_h"]
    tiles = [
        ("案件 cases", "totals.arrived", r["totals"]["arrived"], ""),
        ("已结案 closed", "totals.closed", r["totals"]["closed"], ""),
        ("升级 escalations", "escalations.total", r["escalations"]["total"], ""),
        ("回访率 callback rate", "callbacks.rate_pct", r["callbacks"]["rate_pct"], "%"),
        ("返工率 reopen rate", "reopen.rate_pct", r["reopen"]["rate_pct"], "%"),
        ("重复率 repeat rate", "repeat.rate_pct", r["repeat"]["rate_pct"], "%"),
        ("满意率 satisfaction", "satisfaction.pct", r["satisfaction"]["pct"], "%"),
        ("结案 p50 / p90 h", "time_to_close_h.p50", ttc["p50"], ""),
    ]
    cells = []
    for name, key, value, unit in tiles:
        extra = ""
        if key == "time_to_close_h.p50":
            extra = " / " + _kpi("time_to_close_h.p90", ttc["p90"])
        cells.append(
            f'<div class="tile"><div class="v">{_kpi(key, value, unit)}{extra}</div>'
            f'<div class="k">{escape(name)}</div></div>'
        )
    return '<h2>概览 Overview</h2><div class="tiles">' + "".join(cells) + "</div>"


def _slas(r: Report) -> str:
    if not r["sla"]:
        return ""
    rows = [_th("SLA", "started", "met", "breached", "running", "met %", "breached %",
                "running %", "warnings 预警")]  # fmt: skip
    chart_rows = []
    for name, s in r["sla"].items():
        p = f"sla.{name}."
        rows.append(
            f"<tr><td>{escape(s['label'])} <small><code>{escape(name)}</code></small></td>"
            + _td(p + "started", s["started"]) + _td(p + "met", s["met"])
            + _td(p + "breached", s["breached"]) + _td(p + "running", s["running"])
            + _td(p + "met_pct", s["met_pct"]) + _td(p + "breached_pct", s["breached_pct"])
            + _td(p + "running_pct", s["running_pct"])
            + _td(f"warnings.{name}", r["warnings"][name]) + "</tr>"
        )  # fmt: skip
        chart_rows.append(
            (f"{s['label']}", [s["met_pct"] or 0, s["breached_pct"] or 0, s["running_pct"] or 0])
        )
    chart = stacked_bars(
        "SLA 达成 met / 超时 breached / 未结 running (%)",
        chart_rows,
        [("met 达成", "#16a34a"), ("breached 超时", "#dc2626"), ("running 未结", "#9ca3af")],
    )
    return "<h2>时限 SLAs</h2><table>" + "".join(rows) + "</table>" + chart


def _escalations(r: Report) -> str:
    e = r["escalations"]
    head = (
        f"<p>{_kpi('escalations.total', e['total'])} escalations in "
        f"{_kpi('escalations.cases', e['cases'])} cases "
        f"({_kpi('escalations.rate_pct', e['rate_pct'], '%')} of the cases).</p>"
    )
    levels = [_th("level 级别", "escalations")]
    levels += [
        f"<tr><td>{escape(k)}</td>{_td(f'escalations.by_level.{k}', v)}</tr>"
        for k, v in e["by_level"].items()
    ]
    roles = [_th("role 角色", "escalations")]
    roles += [
        f"<tr><td>{escape(k)}</td>{_td(f'escalations.by_role.{k}', v)}</tr>"
        for k, v in e["by_role"].items()
    ]
    chart = bar_chart("升级 by role", list(e["by_role"].items()), colour=PALETTE[3])
    return (
        "<h2>升级 Escalations</h2>" + head + '<div class="row"><table>' + "".join(levels)
        + "</table><table>" + "".join(roles) + "</table>" + chart + "</div>"
    )  # fmt: skip


def _callbacks(r: Report) -> str:
    c, s = r["callbacks"], r["satisfaction"]
    rows = [
        ("回访 callbacks opened", "callbacks.opened", c["opened"]),
        ("回访 callbacks done", "callbacks.done", c["done"]),
        ("回访率 callback rate %", "callbacks.rate_pct", c["rate_pct"]),
        ("with a deadline", "callbacks.with_deadline", c["with_deadline"]),
        ("done on time", "callbacks.on_time", c["on_time"]),
        ("按时回访率 on time %", "callbacks.on_time_pct", c["on_time_pct"]),
        ("返工 reopened cases", "reopen.cases", r["reopen"]["cases"]),
        ("返工率 reopen rate %", "reopen.rate_pct", r["reopen"]["rate_pct"]),
        ("重复 repeat cases", "repeat.cases", r["repeat"]["cases"]),
        ("重复率 repeat rate %", "repeat.rate_pct", r["repeat"]["rate_pct"]),
        ("回访答复 answers", "satisfaction.answers", s["answers"]),
        ("满意 satisfied", "satisfaction.satisfied", s["satisfied"]),
        ("满意率 satisfaction %", "satisfaction.pct", s["pct"]),
    ]
    body = "".join(f"<tr><td>{escape(n)}</td>{_td(k, v)}</tr>" for n, k, v in rows)
    return "<h2>回访与质量 Callbacks and quality</h2><table>" + body + "</table>"


def _times(r: Report) -> str:
    rows = [_th("", "count", "mean h", "p50 h", "p90 h", "max h")]
    ttc = r["time_to_close_h"]
    rows.append("<tr><td>结案 time to close</td>" + "".join(
        _td(f"time_to_close_h.{k}", ttc[k]) for k in ("count", "mean", "p50", "p90", "max")
    ) + "</tr>")  # fmt: skip
    for name, s in r["time_in_state_h"].items():
        rows.append(
            f"<tr><td>{escape(s['label'])} <small><code>{escape(name)}</code></small></td>"
            + "".join(
                _td(f"time_in_state_h.{name}.{k}", s[k])
                for k in ("count", "mean", "p50", "p90", "max")
            )
            + "</tr>"
        )
    chart = bar_chart(
        "各状态平均停留 mean time in state (h)",
        [(s["label"], s["mean"] or 0.0) for s in r["time_in_state_h"].values()],
        width=1000,
        unit=" h",
    )
    reached = [_th("state 状态", "cases reaching it", "%")]
    for name, s in r["reached"].items():
        reached.append(
            f"<tr><td>{escape(s['label'])} <small><code>{escape(name)}</code></small></td>"
            f"{_td(f'reached.{name}.cases', s['cases'])}{_td(f'reached.{name}.pct', s['pct'])}"
            "</tr>"
        )
    return (
        "<h2>时长 Time in state and to close</h2><table>" + "".join(rows) + "</table>" + chart
        + "<h3>到达各状态的案件 Cases reaching each state</h3><table>" + "".join(reached)
        + "</table>"
    )  # fmt: skip


def _queues(r: Report) -> str:
    if not r["queues"]:
        return ""
    rows = [_th("role 角色", "staff", "jobs", "max waiting", "wait p50 h", "wait p90 h",
                "busy %")]  # fmt: skip
    for role, q in r["queues"].items():
        p = f"queues.{role}."
        rows.append(
            f"<tr><td>{escape(role)}</td>" + _td(p + "capacity", q["capacity"])
            + _td(p + "jobs", q["jobs"]) + _td(p + "max_waiting", q["max_waiting"])
            + _td(p + "wait_h.p50", q["wait_h"]["p50"]) + _td(p + "wait_h.p90", q["wait_h"]["p90"])
            + _td(p + "utilisation_pct", q["utilisation_pct"]) + "</tr>"
        )  # fmt: skip
    return "<h2>人手 Staff queues</h2><table>" + "".join(rows) + "</table>"


def _daily(r: Report) -> str:
    days = r["daily"]
    if not days:
        return ""
    labels = [d["day"] for d in days]
    backlog = line_chart(
        "每日积压 backlog (open cases at day end) · 待回访 callbacks owed",
        labels,
        [
            ("积压 backlog", [d["backlog"] for d in days]),
            ("待回访 callbacks owed", [d["callbacks_owed"] for d in days]),
        ],
    )
    flow = line_chart(
        "每日新增 / 结案 / 升级 opened, closed, escalations per day",
        labels,
        [("升级 escalations", [d["escalations"] for d in days])],
        bars=[
            ("新增 opened", [d["opened"] for d in days]),
            ("结案 closed", [d["closed"] for d in days]),
        ],
    )
    b = r["backlog"]
    summary = (
        f"<p>backlog max {_kpi('backlog.max', b['max'])}, mean {_kpi('backlog.mean', b['mean'])}"
        f"; callbacks owed at a day's end, max {_kpi('backlog.callbacks_owed_max', b['callbacks_owed_max'])}.</p>"  # noqa: E501
    )
    rows = [_th("day 日期", "opened", "closed", "escalations", "breaches", "backlog",
                "callbacks owed")]  # fmt: skip
    for i, d in enumerate(days):
        rows.append(
            f"<tr><td>{escape(d['day'])}</td>"
            + "".join(
                _td(f"daily.{i}.{k}", d[k])
                for k in (
                    "opened",
                    "closed",
                    "escalations",
                    "breaches",
                    "backlog",
                    "callbacks_owed",
                )
            )
            + "</tr>"
        )
    return (
        "<h2>每日 Per day</h2>" + summary + backlog + flow
        + "<details><summary>每日明细 the figures day by day</summary><table>"
        + "".join(rows) + "</table></details>"
    )  # fmt: skip


def _events(r: Report) -> str:
    ev = r["events"]
    parts = [
        "<h2>运行 The run</h2><p>",
        f"{_kpi('events.steps', ev['steps'])} steps: {_kpi('events.fired', ev['fired'])} events "
        f"fired by people, {_kpi('events.timers', ev['timers'])} timers; "
        f"{_kpi('events.refused', ev['refused'])} events refused by the flow.</p>",
    ]
    if ev["refused_by_reason"]:
        parts.append("<table>" + _th("refused 被拒事件", "count"))
        parts += [
            f'<tr><td>{escape(k)}</td><td class="num">{v}</td></tr>'
            for k, v in ev["refused_by_reason"].items()
        ]
        parts.append("</table>")
    for note in r["notes"]:
        parts.append(f'<p class="note">note: {escape(note)}</p>')
    return "".join(parts)
