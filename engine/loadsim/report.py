"""The KPI report of a run: one JSON-ready dict (`build_report`), its flat figures
(`flatten`, the keys that targets and the HTML's `data-kpi` attributes use) and the text
rendering for the terminal (`render_text`, with rich).

What the figures mean (percentages have 2 decimals, durations are hours with 3):
- rates are over the *counted* cases: every case opened, except those that closed in a
  final state the profile `exclude`s (e.g. a call that was not a complaint); cases still
  open at the end count, as they stand;
- `sla.NAME`: of the counted cases whose clock started, how many ended met / breached or
  were still running (or paused) at the end; `warnings.NAME`: warnings fired;
- `escalations`: every `escalate` (a breach, a state's entry action, a timer), by the level
  it raised the case to and by the role it went to; `rate_pct`: cases escalated at least once;
- `callbacks`: opened and done (`rate_pct` = done / opened); `on_time_pct`: of the callbacks
  with a `within` deadline, those done by it;
- `reopen`: cases that entered a `reopen_states` state (default: re-entered a state they had
  been in); `repeat`: cases whose repeat field ended above 0; `satisfaction`: the share of
  `true` among the values events gave the satisfied field (one per callback answer);
- `reached.STATE`: cases that ever entered the state (automatic pass-throughs included);
- `schedules.NAME`: occurrences of each of the flow's schedules during the run (the cases
  they open are counted like arrivals in everything else);
- `time_to_close_h`: opening to final state; `time_in_state_h.STATE`: each stay that lasted
  across steps (a state passed through by automatic transitions takes no time and is not
  listed; a stay still going at the end is not counted);
- `daily`: per day from the start, arrivals (`opened`), `closed`, `escalations`,
  `breaches`, and at the day's end the open cases (`backlog`) and the callbacks opened and
  not yet done (`callbacks_owed`);
- `queues.ROLE` (staffed roles): jobs started, the longest line, the wait from joining the
  line to starting (open hours skipped), and the share of the staff's open hours worked.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.i18n import localize, msg, tr
from engine.i18n.formats import format_date
from engine.loadsim.simulator import SimResult
from engine.loadsim.stats import pct, summary_hours

Report = dict[str, Any]
SLA_STATUSES = ("met", "breached", "running", "paused")


def build_report(result: SimResult, wall_seconds: float | None = None) -> Report:
    """Everything the run measured, as plain data (what `--json` prints)."""
    t = result.tally
    definition = result.runtime.definition
    labels = {s.name: s.label or s.name for s in definition.states}
    counted = t.counted
    report: Report = {
        "flow": definition.name,
        "label": definition.label or definition.name,
        "calendar": definition.calendar,
        "seed": result.seed,
        "cases": result.cases,
        "days": result.days,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "totals": {
            "arrived": t.arrivals,
            "opened": t.opened,
            "closed": t.closed,
            "open_at_end": t.open_at_end,
            "excluded": t.excluded,
            "counted": counted,
        },
        "final_states": dict(sorted(t.final_states.items())),
        "open_states": dict(sorted(t.open_states.items())),
        "events": {
            "steps": t.steps,
            "fired": t.fired,
            "timers": t.timers,
            "refused": sum(t.refused.values()),
            "refused_by_reason": dict(t.refused.most_common()),
            "timer_errors": dict(t.timer_errors.most_common()),
        },
        "sla": _slas(result),
        "warnings": {name: t.warnings.get(name, 0) for name in t.sla_names},
        "escalations": {
            "total": sum(t.escalations_by_level.values()),
            "cases": t.escalated_cases,
            "rate_pct": pct(t.escalated_cases, counted),
            "by_level": {str(k): v for k, v in sorted(t.escalations_by_level.items())},
            "by_role": dict(t.escalations_by_role.most_common()),
        },
        "callbacks": {
            "opened": t.callbacks_opened,
            "done": t.callbacks_done,
            "rate_pct": pct(t.callbacks_done, t.callbacks_opened),
            "with_deadline": t.callbacks_with_due,
            "on_time": t.callbacks_on_time,
            "on_time_pct": pct(t.callbacks_on_time, t.callbacks_with_due),
        },
        "reopen": {"cases": t.reopened, "rate_pct": pct(t.reopened, counted)},
        "repeat": {"cases": t.repeated, "rate_pct": pct(t.repeated, counted)},
        "satisfaction": {
            "answers": t.answers,
            "satisfied": t.satisfied,
            "pct": pct(t.satisfied, t.answers),
        },
        "reached": {
            s.name: {
                "label": labels[s.name],
                "cases": t.reached.get(s.name, 0),
                "pct": pct(t.reached.get(s.name, 0), counted),
            }
            for s in definition.states
        },
        "schedules": {x.name: t.schedules.get(x.name, 0) for x in definition.schedules},
        "time_to_close_h": summary_hours(t.time_to_close),
        "time_in_state_h": {
            s.name: {"label": labels[s.name], **summary_hours(t.time_in_state[s.name])}
            for s in definition.states
            if s.name in t.time_in_state
        },
        "queues": {
            role: {
                "capacity": q.capacity,
                "jobs": q.jobs,
                "max_waiting": q.max_waiting,
                "waiting_at_end": len(q.waiting),
                "wait_h": summary_hours(q.wait),
                "utilisation_pct": _utilisation(result, q.capacity, q.work_seconds, q.calendar),
            }
            for role, q in result.queues.items()
        },
        "daily": [
            {
                "day": (result.start.date() + timedelta(days=i)).isoformat(),
                "opened": d.opened,
                "closed": d.closed,
                "backlog": d.backlog,
                "callbacks_owed": d.callbacks_owed,
                "escalations": d.escalations,
                "breaches": d.breaches,
            }
            for i, d in enumerate(t.daily)
        ],
        "notes": list(result.notes),
    }
    backlog = [d.backlog for d in t.daily]
    owed = [d.callbacks_owed for d in t.daily]
    report["backlog"] = {
        "max": max(backlog, default=0),
        "mean": round(sum(backlog) / len(backlog), 2) if backlog else 0,
        "callbacks_owed_max": max(owed, default=0),
    }
    report["targets"] = evaluate_targets(result, report)
    if wall_seconds is not None:
        report["run"] = {
            "wall_s": round(wall_seconds, 3),
            "events_per_s": round(t.steps / wall_seconds) if wall_seconds > 0 else None,
        }
    if result.kept is not None:
        from engine.scenario import summarize

        report["case_list"] = [
            {
                "id": c.id,
                "opened_at": c.opened_at.isoformat(),
                "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                "fields": {k: _plain(v) for k, v in c.fields.items()},
                **summarize(c),
            }
            for c in result.kept
        ]
    return report


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _slas(result: SimResult) -> dict[str, Any]:
    t = result.tally
    out: dict[str, Any] = {}
    for sla in result.runtime.definition.slas:
        counts = t.sla[sla.name]
        started = sum(counts[s] for s in SLA_STATUSES)
        out[sla.name] = {
            "label": sla.label or sla.name,
            "started": started,
            **{s: counts.get(s, 0) for s in SLA_STATUSES},
            "not_started": counts.get("not_started", 0),
            "met_pct": pct(counts.get("met", 0), started),
            "breached_pct": pct(counts.get("breached", 0), started),
            "running_pct": pct(counts.get("running", 0) + counts.get("paused", 0), started),
        }
    return out


def _utilisation(result: SimResult, capacity: int, work: float, calendar: Any) -> float | None:
    open_seconds = calendar.working_time_between(result.start, result.end).total_seconds()
    return pct(work, capacity * open_seconds)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to the report's numbers and nulls (`sla.reply.met_pct` → 97.5,
    `daily.3.backlog` → 12); texts and booleans are left out."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}{index}."))
    elif value is None and prefix:
        flat[prefix[:-1]] = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        flat[prefix[:-1]] = value
    return flat


def evaluate_targets(result: SimResult, report: Report) -> list[dict[str, Any]]:
    """Each target of the profile beside the simulated figure, with pass / fail."""
    flat = flatten({k: v for k, v in report.items() if k not in ("daily", "targets")})
    rows = []
    for target in result.profile.targets:
        value = flat.get(target.kpi)
        known = target.kpi in flat or _path_exists(report, target.kpi)
        if value is None:
            passed = None
        elif target.min is not None:
            passed = value >= target.min
        else:
            assert target.max is not None
            passed = value <= target.max
        rows.append(
            {
                "kpi": target.kpi,
                "label": target.label,
                "op": ">=" if target.min is not None else "<=",
                "target": target.min if target.min is not None else target.max,
                "value": value,
                "pass": passed,
            }
        )
        if not known:
            result.notes.append(msg("target `{kpi}`: no such figure in the report", kpi=target.kpi))
            report["notes"] = list(result.notes)
    return rows


def _path_exists(report: Report, path: str) -> bool:
    node: Any = report
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


# ---------------------------------------------------------------- text


def _n(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    return text + unit


def mark(passed: bool | None) -> str:
    """✓ / ✗ / – for a target row, in the reader's language."""
    if passed is None:
        return "– " + tr("n/a")
    return "✓ " + tr("pass") if passed else "✗ " + tr("fail")


def render_text(report: Report, console: Console) -> None:
    """The report for people, on the terminal, in the reader's language."""
    tot, events = report["totals"], report["events"]
    console.print(tr(
        "[bold]{label}[/] ({flow}, calendar {calendar}) — {arrived:,} cases over {days} days "
        "from {start}, seed {seed}; run ends {end}", label=escape(report["label"]),
        flow=escape(report["flow"]), calendar=escape(report["calendar"]), arrived=tot["arrived"],
        days=report["days"], start=_day(report["start"]), seed=report["seed"],
        end=_day(report["end"])))  # fmt: skip
    console.print(tr(
        "closed {closed:,} ({final}), still open {open:,} ({open_states}), left out of the "
        "rates {excluded:,}; {steps:,} steps, {refused:,} refused", closed=tot["closed"],
        final=escape(_pairs(report["final_states"])), open=tot["open_at_end"],
        open_states=escape(_pairs(report["open_states"])), excluded=tot["excluded"],
        steps=events["steps"], refused=events["refused"]))  # fmt: skip
    if report["schedules"]:
        occurrences = escape(_pairs(report["schedules"]))
        console.print(tr("schedule occurrences: {occurrences}", occurrences=occurrences))
    if report["targets"]:
        table = _table(tr("manual targets"), tr("KPI"), tr("target"), tr("simulated"), "")
        for row in report["targets"]:
            style = {True: "green", False: "bold red", None: "yellow"}[row["pass"]]
            table.add_row(escape(row["label"]), f"{row['op']} {_n(row['target'])}",
                          _n(row["value"]), f"[{style}]{mark(row['pass'])}[/]")  # fmt: skip
        console.print(table)
    if report["sla"]:
        table = _table(tr("SLAs"), tr("SLA"), tr("started"), tr("met %"), tr("breached %"),
                       tr("running %"), tr("warnings"))  # fmt: skip
        for name, s in report["sla"].items():
            table.add_row(
                escape(f"{name} {s['label']}"), _n(s["started"]), _n(s["met_pct"]),
                _n(s["breached_pct"]), _n(s["running_pct"]), _n(report["warnings"][name]),
            )  # fmt: skip
        console.print(table)
    esc, cb = report["escalations"], report["callbacks"]
    console.print(tr(
        "escalations: {total:,} in {cases:,} cases ({rate}); by level {levels}; by role {roles}",
        total=esc["total"], cases=esc["cases"], rate=_n(esc["rate_pct"], "%"),
        levels=_pairs(esc["by_level"]), roles=escape(_pairs(esc["by_role"]))))  # fmt: skip
    console.print(tr(
        "callbacks: opened {opened:,}, done {done:,} ({rate}), on time {on_time}; reopen "
        "{reopen}, repeat {repeat}, satisfaction {satisfied} of {answers:,} answers",
        opened=cb["opened"], done=cb["done"], rate=_n(cb["rate_pct"], "%"),
        on_time=_n(cb["on_time_pct"], "%"), reopen=_n(report["reopen"]["rate_pct"], "%"),
        repeat=_n(report["repeat"]["rate_pct"], "%"),
        satisfied=_n(report["satisfaction"]["pct"], "%"),
        answers=report["satisfaction"]["answers"]))  # fmt: skip
    table = _table(tr("time (hours)"), "", tr("count"), tr("mean"), "p50", "p90")
    ttc = report["time_to_close_h"]
    table.add_row(tr("to close"), _n(ttc["count"]), _n(ttc["mean"]), _n(ttc["p50"]),
                  _n(ttc["p90"]))  # fmt: skip
    for name, s in report["time_in_state_h"].items():
        table.add_row(
            escape(tr("in {state} {label}", state=name, label=s["label"])), _n(s["count"]),
            _n(s["mean"]), _n(s["p50"]), _n(s["p90"]),
        )  # fmt: skip
    console.print(table)
    if report["queues"]:
        table = _table(tr("staff queues"), tr("role"), tr("staff"), tr("jobs"), tr("max waiting"),
                       tr("wait p50 h"), tr("wait p90 h"), tr("busy %"))  # fmt: skip
        for role, q in report["queues"].items():
            table.add_row(
                escape(role), _n(q["capacity"]), _n(q["jobs"]), _n(q["max_waiting"]),
                _n(q["wait_h"]["p50"]), _n(q["wait_h"]["p90"]), _n(q["utilisation_pct"]),
            )  # fmt: skip
        console.print(table)
    _render_weeks(report, console)
    if events["refused_by_reason"]:
        reasons = escape(_pairs(events["refused_by_reason"]))
        console.print(tr("refused events: {reasons}", reasons=reasons))
    note_word = tr("note")
    for note in report["notes"]:
        console.print(f"[yellow]{note_word}:[/] {escape(localize(note))}")


def _table(title: str, first: str, *figures: str) -> Table:
    """A left-titled table: a column of names, then columns of figures aligned right."""
    table = Table(title=title, title_justify="left")
    table.add_column(first, justify="left")
    for col in figures:
        table.add_column(col, justify="right")
    return table


def _day(moment: str) -> str:
    """The day of an ISO date-time text, as the language writes dates."""
    return format_date(date.fromisoformat(moment[:10]))


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in mapping.items()) or tr("none")


def _render_weeks(report: Report, console: Console) -> None:
    days = report["daily"]
    if not days:
        return
    table = _table(tr("by week (backlog = open cases at the end of the week's last day)"),
                   tr("week from"), tr("opened"), tr("closed"), tr("escalations"),
                   tr("backlog"), tr("callbacks owed"))  # fmt: skip
    for i in range(0, len(days), 7):
        week = days[i : i + 7]
        table.add_row(
            _day(week[0]["day"]), _n(sum(d["opened"] for d in week)),
            _n(sum(d["closed"] for d in week)), _n(sum(d["escalations"] for d in week)),
            _n(week[-1]["backlog"]), _n(week[-1]["callbacks_owed"]),
        )  # fmt: skip
    console.print(table)
    console.print(tr("backlog per day {chart}", chart=sparkline([d["backlog"] for d in days])))


def sparkline(values: list[int]) -> str:
    """A one-line chart of the values with block characters."""
    blocks = "▁▂▃▄▅▆▇█"
    top = max(values, default=0)
    if top <= 0:
        return blocks[0] * len(values)
    return "".join(blocks[min(7, v * 8 // (top + 1))] for v in values)
