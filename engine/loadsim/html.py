"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every figure the page shows from the JSON report sits in an element carrying
`data-kpi="dotted.path"` (the key `report.flatten` gives it), so a test or a tool can check
the page against the JSON figure by figure.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from engine.i18n import html_lang, localize, tr
from engine.i18n.formats import format_date
from engine.loadsim.charts import PALETTE, bar_chart, line_chart, stacked_bars
from engine.loadsim.report import Report, mark

CSS = """
:root { color-scheme: light; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
       "Microsoft YaHei", "WenQuanYi Micro Hei", system-ui, sans-serif; margin: 24px auto;
       max-width: 1060px; color: #1f2937; line-height: 1.45; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
     border-bottom: 2px solid #e5e7eb; padding-bottom: 4px; }
h1::first-letter, h2::first-letter, h3::first-letter { text-transform: uppercase; }
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
    """The whole page, in the reader's language (its `lang` attribute says which)."""
    title = _title(report)
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
        _footer(),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang()}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _title(r: Report) -> str:
    if r.get("source") == "store":
        return tr("{label} — KPI report of real cases", label=r["label"])
    return tr("{label} — load simulation report", label=r["label"])


def _footer() -> str:
    said = tr("Flowdesk <code>flow simulate</code> — one self-contained page: no script, no "
              "network.")  # fmt: skip
    return f"<footer>{said}</footer>"


def _h(level: int, text: str) -> str:
    return f"<h{level}>{escape(text)}</h{level}>"


def _named(label: str, name: str) -> str:
    """A state's or SLA's label with its name in the flow, small, beside it."""
    return f"{escape(label)} <small><code>{escape(name)}</code></small>"


def _header(r: Report) -> str:
    t = r["totals"]
    flow, calendar = (f"<code>{escape(r[k])}</code>" for k in ("flow", "calendar"))
    if r.get("source") == "store":  # real cases: no seed, no run
        sub = tr(
            "flow {flow} · calendar {calendar} · {cases} cases opened from {start} to "
            "{end}, as they stand now",
            flow=flow,
            calendar=calendar,
            cases=_kpi("cases", r["cases"]),
            start=escape(_day(r["start"])),
            end=escape(_day(r["end"])),
        )
    else:
        sub = tr(
            "flow {flow} · calendar {calendar} · {cases} cases arriving over {days} days "
            "from {start} · seed {seed} · run ends {end}",
            flow=flow,
            calendar=calendar,
            cases=_kpi("cases", r["cases"]),
            days=_kpi("days", r["days"]),
            start=escape(_day(r["start"])),
            seed=_kpi("seed", r["seed"]),
            end=escape(_day(r["end"])),
        )
    return (
        _h(1, _title(r))
        + '<p class="sub">'
        + sub
        + '</p><p class="sub">'
        + tr("closed {closed}, still open at the end {open}, left out of the rates "
             "{excluded} (rates are over {counted} cases)",
             closed=_kpi("totals.closed", t["closed"]),
             open=_kpi("totals.open_at_end", t["open_at_end"]),
             excluded=_kpi("totals.excluded", t["excluded"]),
             counted=_kpi("totals.counted", t["counted"]))
        + "</p>"
    )  # fmt: skip


def _day(moment: str) -> str:
    return format_date(date.fromisoformat(moment[:10]))


def _targets(r: Report) -> str:
    if not r["targets"]:
        return ""
    rows = [_th(tr("KPI"), tr("target"), tr("simulated"), tr("result"), num_from=1)]
    for i, row in enumerate(r["targets"]):
        css, flag = {True: ("pass", "true"), False: ("fail", "false"), None: ("na", "none")}[
            row["pass"]
        ]
        verdict = f'<td class="{css}" data-pass="{flag}">{escape(mark(row["pass"]))}</td>'
        rows.append(
            f'<tr><td>{_named(row["label"], row["kpi"])}</td><td class="num">'
            f'{escape(row["op"])} <span data-kpi="targets.{i}.target">{fmt_num(row["target"])}'
            f"</span></td>{_td(f'targets.{i}.value', row['value'])}{verdict}</tr>"
        )
    return _h(2, tr("manual targets")) + "<table>" + "".join(rows) + "</table>"


def _tiles(r: Report) -> str:
    ttc = r["time_to_close_h"]
    tiles = [
        (tr("cases"), "totals.arrived", r["totals"]["arrived"], ""),
        (tr("closed"), "totals.closed", r["totals"]["closed"], ""),
        (tr("escalations"), "escalations.total", r["escalations"]["total"], ""),
        (tr("callback rate"), "callbacks.rate_pct", r["callbacks"]["rate_pct"], "%"),
        (tr("reopen rate"), "reopen.rate_pct", r["reopen"]["rate_pct"], "%"),
        (tr("repeat rate"), "repeat.rate_pct", r["repeat"]["rate_pct"], "%"),
        (tr("satisfaction"), "satisfaction.pct", r["satisfaction"]["pct"], "%"),
        (tr("time to close p50 / p90 h"), "time_to_close_h.p50", ttc["p50"], ""),
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
    return _h(2, tr("overview")) + '<div class="tiles">' + "".join(cells) + "</div>"


def _slas(r: Report) -> str:
    if not r["sla"]:
        return ""
    rows = [_th(tr("SLA"), tr("started"), tr("met"), tr("breached"), tr("running"), tr("met %"),
                tr("breached %"), tr("running %"), tr("warnings"))]  # fmt: skip
    chart_rows = []
    for name, s in r["sla"].items():
        p = f"sla.{name}."
        rows.append(
            f"<tr><td>{_named(s['label'], name)}</td>"
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
        tr("SLAs met / breached / still running (%)"),
        chart_rows,
        [(tr("met"), "#16a34a"), (tr("breached"), "#dc2626"), (tr("running"), "#9ca3af")],
    )
    return _h(2, tr("SLAs")) + "<table>" + "".join(rows) + "</table>" + chart


def _escalations(r: Report) -> str:
    e = r["escalations"]
    head = "<p>{}</p>".format(tr(
        "{total} escalations in {cases} cases ({rate} of the cases).",
        total=_kpi("escalations.total", e["total"]), cases=_kpi("escalations.cases", e["cases"]),
        rate=_kpi("escalations.rate_pct", e["rate_pct"], "%")))  # fmt: skip
    levels = [_th(tr("level"), tr("escalations"))]
    levels += [
        f"<tr><td>{escape(k)}</td>{_td(f'escalations.by_level.{k}', v)}</tr>"
        for k, v in e["by_level"].items()
    ]
    roles = [_th(tr("role"), tr("escalations"))]
    roles += [
        f"<tr><td>{escape(k)}</td>{_td(f'escalations.by_role.{k}', v)}</tr>"
        for k, v in e["by_role"].items()
    ]
    chart = bar_chart(tr("escalations by role"), list(e["by_role"].items()), colour=PALETTE[3])
    return (
        _h(2, tr("escalations")) + head + '<div class="row"><table>' + "".join(levels)
        + "</table><table>" + "".join(roles) + "</table>" + chart + "</div>"
    )  # fmt: skip


def _callbacks(r: Report) -> str:
    c, s = r["callbacks"], r["satisfaction"]
    rows = [
        (tr("callbacks opened"), "callbacks.opened", c["opened"]),
        (tr("callbacks done"), "callbacks.done", c["done"]),
        (tr("callback rate %"), "callbacks.rate_pct", c["rate_pct"]),
        (tr("with a deadline"), "callbacks.with_deadline", c["with_deadline"]),
        (tr("done on time"), "callbacks.on_time", c["on_time"]),
        (tr("on time %"), "callbacks.on_time_pct", c["on_time_pct"]),
        (tr("reopened cases"), "reopen.cases", r["reopen"]["cases"]),
        (tr("reopen rate %"), "reopen.rate_pct", r["reopen"]["rate_pct"]),
        (tr("repeat cases"), "repeat.cases", r["repeat"]["cases"]),
        (tr("repeat rate %"), "repeat.rate_pct", r["repeat"]["rate_pct"]),
        (tr("callback answers"), "satisfaction.answers", s["answers"]),
        (tr("satisfied"), "satisfaction.satisfied", s["satisfied"]),
        (tr("satisfaction %"), "satisfaction.pct", s["pct"]),
    ]
    body = "".join(f"<tr><td>{escape(n)}</td>{_td(k, v)}</tr>" for n, k, v in rows)
    return _h(2, tr("callbacks and quality")) + "<table>" + body + "</table>"


def _times(r: Report) -> str:
    figures = ("count", "mean", "p50", "p90", "max")
    rows = [_th("", tr("count"), tr("mean h"), "p50 h", "p90 h", tr("max h"))]
    ttc = r["time_to_close_h"]
    to_close = "".join(_td(f"time_to_close_h.{k}", ttc[k]) for k in figures)
    rows.append(f"<tr><td>{escape(tr('time to close'))}</td>{to_close}</tr>")
    for name, s in r["time_in_state_h"].items():
        rows.append(
            f"<tr><td>{_named(s['label'], name)}</td>"
            + "".join(_td(f"time_in_state_h.{name}.{k}", s[k]) for k in figures)
            + "</tr>"
        )
    chart = bar_chart(
        tr("mean time in state (h)"),
        [(s["label"], s["mean"] or 0.0) for s in r["time_in_state_h"].values()],
        width=1000,
        unit=" h",
    )
    reached = [_th(tr("state"), tr("cases reaching it"), "%")]
    for name, s in r["reached"].items():
        reached.append(
            f"<tr><td>{_named(s['label'], name)}</td>"
            f"{_td(f'reached.{name}.cases', s['cases'])}{_td(f'reached.{name}.pct', s['pct'])}"
            "</tr>"
        )
    return (
        _h(2, tr("time in state and to close")) + "<table>" + "".join(rows) + "</table>"
        + chart + _h(3, tr("cases reaching each state")) + "<table>" + "".join(reached)
        + "</table>"
    )  # fmt: skip


def _queues(r: Report) -> str:
    if not r["queues"]:
        return ""
    rows = [_th(tr("role"), tr("staff"), tr("jobs"), tr("max waiting"), tr("wait p50 h"),
                tr("wait p90 h"), tr("busy %"))]  # fmt: skip
    for role, q in r["queues"].items():
        p = f"queues.{role}."
        rows.append(
            f"<tr><td>{escape(role)}</td>" + _td(p + "capacity", q["capacity"])
            + _td(p + "jobs", q["jobs"]) + _td(p + "max_waiting", q["max_waiting"])
            + _td(p + "wait_h.p50", q["wait_h"]["p50"]) + _td(p + "wait_h.p90", q["wait_h"]["p90"])
            + _td(p + "utilisation_pct", q["utilisation_pct"]) + "</tr>"
        )  # fmt: skip
    return _h(2, tr("staff queues")) + "<table>" + "".join(rows) + "</table>"


_DAILY = ("opened", "closed", "escalations", "breaches", "backlog", "callbacks_owed")


def _daily(r: Report) -> str:
    days = r["daily"]
    if not days:
        return ""
    labels = [d["day"] for d in days]
    backlog = line_chart(
        tr("backlog (open cases at the end of the day) · callbacks owed"),
        labels,
        [
            (tr("backlog"), [d["backlog"] for d in days]),
            (tr("callbacks owed"), [d["callbacks_owed"] for d in days]),
        ],
    )
    flow = line_chart(
        tr("opened, closed and escalations per day"),
        labels,
        [(tr("escalations"), [d["escalations"] for d in days])],
        bars=[
            (tr("opened"), [d["opened"] for d in days]),
            (tr("closed"), [d["closed"] for d in days]),
        ],
    )
    b = r["backlog"]
    summary = "<p>{}</p>".format(tr(
        "backlog max {most}, mean {mean}; callbacks owed at a day's end, max {owed}.",
        most=_kpi("backlog.max", b["max"]), mean=_kpi("backlog.mean", b["mean"]),
        owed=_kpi("backlog.callbacks_owed_max", b["callbacks_owed_max"])))  # fmt: skip
    rows = [_th(tr("day"), tr("opened"), tr("closed"), tr("escalations"), tr("breaches"),
                tr("backlog"), tr("callbacks owed"))]  # fmt: skip
    for i, d in enumerate(days):
        rows.append(
            f"<tr><td>{escape(_day(d['day']))}</td>"
            + "".join(_td(f"daily.{i}.{k}", d[k]) for k in _DAILY)
            + "</tr>"
        )
    return (
        _h(2, tr("per day")) + summary + backlog + flow
        + "<details><summary>{}</summary><table>".format(escape(tr("the figures day by day")))
        + "".join(rows) + "</table></details>"
    )  # fmt: skip


def _events(r: Report) -> str:
    ev = r["events"]
    said = tr(
        "{steps} steps: {fired} events fired by people, {timers} timers; {refused} events "
        "refused by the flow.",
        steps=_kpi("events.steps", ev["steps"]),
        fired=_kpi("events.fired", ev["fired"]),
        timers=_kpi("events.timers", ev["timers"]),
        refused=_kpi("events.refused", ev["refused"]),
    )
    parts = [_h(2, tr("the run")), f"<p>{said}</p>"]
    if ev["refused_by_reason"]:
        parts.append("<table>" + _th(tr("refused events"), tr("count")))
        parts += [
            f'<tr><td>{escape(k)}</td><td class="num">{v}</td></tr>'
            for k, v in ev["refused_by_reason"].items()
        ]
        parts.append("</table>")
    note = tr("note")
    for said in r["notes"]:
        parts.append(f'<p class="note">{escape(note)}: {escape(localize(said))}</p>')
    return "".join(parts)
