"""Every check `flow check` makes, defined once: its code, name, severity and explanation.

A rule is what ruff calls a rule: a stable code (`FD201`) and name (`unknown-state`), the
severity it has unless a project's configuration changes it (`dsl/config.py`), a one-line
summary, why it matters and what to do, with a bad and a good example. The severity lives
here only: a diagnostic takes it from its rule. `flow check --explain CODE|NAME` prints a
rule; docs/rules.md is generated from this table (`python -m dsl.rules`).

Codes by concern: FD0xx reading and syntax, FD1xx headers and declarations, FD2xx
references, FD3xx types, FD4xx the state graph, FD5xx domain checks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum

from engine.i18n import localize, msg, tr


class Severity(StrEnum):
    """How bad a problem is: errors stop a flow from running, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: `bad` is flow text that breaks it, `good` the same put right."""

    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    bad: str
    good: str


# fmt: off
RULES: tuple[Rule, ...] = (
    # ---------------------------------------------------------------- reading and syntax
    Rule("FD001", "cannot-read", E, msg("the file cannot be read"),
         msg("Flowdesk reads .flow files saved as UTF-8; a missing file, a folder or another "
             "encoding (GBK from an old editor) cannot be read."),
         "flow check 投诉.flow   # saved as GBK", "flow check 投诉.flow   # saved as UTF-8"),
    Rule("FD002", "file-too-large", E, msg("the file is larger than a flow may be"),
         msg("A procedure that needs more than 2 MiB of text is several procedures; "
             "the limit keeps a mistaken file from stalling the checker."),
         "# one file holding every procedure of the centre", "# one file per procedure"),
    Rule("FD003", "line-too-long", E, msg("a line is longer than a line may be"),
         msg("No declaration needs a line of thousands of characters; such a line is "
             "usually pasted data."),
         'notify 客服 "……(5,000 characters)"', 'notify 客服 "报修{id}请处理"'),
    Rule("FD010", "syntax-error", E, msg("the text does not follow the language's grammar"),
         msg("The message says what was found and what could come there instead."),
         "state received\n    on go -> done", "state received:\n    on go -> done"),
    Rule("FD011", "unterminated-text", E, msg("a text has no closing quote"),
         msg("A text in double quotes must end on the same line."),
         'notify 客服 "请处理', 'notify 客服 "请处理"'),
    Rule("FD012", "expected-block", E, msg("a line ending in `:` has no indented block"),
         msg("`state NAME:`, `enter:` and the like open a block: the lines that belong to "
             "it are indented under it."),
         "state received:\non go -> done", "state received:\n    on go -> done"),
    Rule("FD013", "unexpected-indent", E, msg("a line is indented where no block is open"),
         msg("Indentation means \"belongs to the line above\"; that line must end with `:`."),
         "state received\n    on go -> done", "state received:\n    on go -> done"),
    Rule("FD014", "inconsistent-indentation", E,
         msg("a line's indentation matches no enclosing block"),
         msg("Lines of one block start in the same column (4 spaces a level)."),
         "state received:\n    on go -> done\n  on stop -> done",
         "state received:\n    on go -> done\n    on stop -> done"),
    Rule("FD020", "invalid-duration", E, msg("a duration cannot be read"),
         msg("Durations are a number and a unit: `30m`, `24h`, `2d`, `3 working days`."),
         "after 1.5 working days -> late", "after 12 working hours -> late"),
    Rule("FD021", "invalid-date", E, msg("a date or date-time does not exist"),
         msg("Dates are written YYYY-MM-DD and must exist on the calendar."),
         "at 2026-02-30 09:00 -> late", "at 2026-02-28 09:00 -> late"),
    Rule("FD022", "date-out-of-range", E, msg("a year is outside what Flowdesk takes"),
         msg("Years from 1900 to 2200: a date outside them is a typing slip."),
         "at 20266-03-06 09:00 -> late", "at 2026-03-06 09:00 -> late"),
    Rule("FD023", "duration-too-long", E, msg("a duration is longer than 100 years"),
         msg("A deadline that far away never falls due; check the number and the unit."),
         "after 99999d -> late", "after 30d -> late"),
    Rule("FD024", "number-too-long", E, msg("a number has more digits than Flowdesk reads"),
         msg("No count, amount or duration a flow needs has that many digits."),
         "set fee = 1000000000000000000000000", "set fee = 1000"),
    Rule("FD025", "expression-too-deep", E, msg("an expression nests too deeply"),
         msg("Deeply nested expressions are unreadable; compute parts into fields or use a "
             "decision table."),
         "when ((((((a)))))) …", "when urgent -> escalated"),
    Rule("FD026", "invalid-time", E, msg("a clock time does not exist"),
         msg("Clock times run from 00:00 to 23:59."), "every day at 24:30: …",
         "every day at 17:30: …"),
    Rule("FD027", "invalid-weekday", E, msg("a day of the week cannot be read"),
         msg("Write the weekday in English: `every monday` … `every sunday`."),
         "every 周一 at 09:00: …", "every monday at 09:00: …"),
    Rule("FD028", "invalid-day", E, msg("a day of the month or working day does not exist"),
         msg("A month has days 1 to 31 and at most 23 working days."),
         "every month on day 32 at 09:00: …", "every month on last working day at 09:00: …"),
    Rule("FD029", "invalid-percent", E, msg("an SLA warning percentage never comes first"),
         msg("`warn at N%` warns when N% of the SLA's time is used: N must be below 100."),
         "warn at 120%: notify 客服 \"…\"", "warn at 75%: notify 客服 \"…\""),
    Rule("FD030", "invalid-repeat", E, msg("`at most 0 times` never fires"),
         msg("A repeating timer fires at least once; remove it if it should not fire."),
         "every 1h at most 0 times: …", "every 1h at most 3 times: …"),
    Rule("FD031", "invalid-catch-up", E, msg("a catch-up policy is not known"),
         msg("A schedule missed while no worker ran catches up `latest`, `all` or `none`."),
         "catch up some", "catch up latest"),
    # ---------------------------------------------------------------- headers, declarations
    Rule("FD101", "missing-flow-header", E, msg("the file does not start with `flow NAME`"),
         msg("The first line names the flow (the name cases and scenarios use) and labels it."),
         "calendar office", 'flow complaint "业主投诉处理"\ncalendar office'),
    Rule("FD102", "duplicate-header", E, msg("a header line is given twice"),
         msg("`flow`, `version` and `calendar` are given once each."),
         "calendar office\ncalendar always", "calendar office"),
    Rule("FD103", "invalid-version", E, msg("a version number is below 1"),
         msg("Versions count from 1; running cases keep the version they started on."),
         "version 0", "version 1"),
    Rule("FD104", "unknown-calendar", E, msg("the calendar is not in calendars.yaml"),
         msg("Working hours and holidays come from a calendar of calendars.yaml (or "
             "`always`, 24/7)."), "calendar ofice", "calendar office"),
    Rule("FD105", "calendar-data-ending", W,
         msg("the calendar's official holiday data ends soon, or has ended"),
         msg("After that date working days are estimated from weekdays: import the State "
             "Council's notice for the next year (`flow calendar import`)."),
         "calendar office   # data to 2026-12-31, today 2026-12-04",
         "flow calendar import 2027.txt --apply"),
    Rule("FD110", "no-states", E, msg("the flow declares no states"),
         msg("A case is always in a state; a flow needs at least a first and a final one."),
         'flow x "…"', 'flow x "…"\nstate received:\n    on close -> closed\nfinal closed'),
    Rule("FD111", "no-final-state", E, msg("the flow has no final state"),
         msg("Without a `final` state no case can ever be finished."),
         "state received:\n    on close -> received",
         "state received:\n    on close -> closed\nfinal closed"),
    Rule("FD112", "initial-state-final", E, msg("the first state is final"),
         msg("Cases start in the first state; if it is final they end as they open."),
         "final closed\nstate received: …", "state received: …\nfinal closed"),
    Rule("FD113", "duplicate-name", E, msg("a name is declared twice"),
         msg("States, fields, roles, tables, SLAs, schedules, tasks and parameters each have "
             "one declaration."), "roles: 客服, 客服", "roles: 客服, 主管"),
    Rule("FD114", "duplicate-block", E, msg("a state has a second `enter:` or `exit:` block"),
         msg("Put the actions of both into one block, in the order they should run."),
         "    enter: set a = 1\n    enter: set b = 2",
         "    enter:\n        set a = 1\n        set b = 2"),
    Rule("FD115", "reserved-name", E, msg("a field takes a built-in name"),
         msg("`now`, `state` and `id` already mean the time, the state and the case id."),
         "    state: text", "    state_note: text"),
    Rule("FD116", "ambiguous-name", W, msg("a name is both a role and a field"),
         msg("In `notify` and `assign to` such a name means the field, which surprises."),
         "roles: 工程部\nfields:\n    工程部: text",
         "roles: 工程部\nfields:\n    dept: text"),
    Rule("FD117", "unknown-type", E, msg("a field type is not known"),
         msg("Field types: text, int, decimal, bool, date, datetime, duration, choice(…)."),
         "    amount: money", "    amount: decimal"),
    Rule("FD118", "table-row-width", E, msg("a table row has the wrong number of columns"),
         msg("Each row gives one pattern per input of the table."),
         "table dept(category, major):\n    \"fee\" -> \"财务部\"",
         "table dept(category, major):\n    \"fee\", _ -> \"财务部\""),
    # ---------------------------------------------------------------- references
    Rule("FD201", "unknown-state", E, msg("a state is used but not declared"),
         msg("Every state named after `->`, in an SLA or in a condition is declared with "
             "`state NAME:` or `final NAME`."),
         "    on dispatch -> handlng by 客服", "    on dispatch -> handling by 客服"),
    Rule("FD202", "unknown-field", E, msg("a field is used but not declared"),
         msg("Conditions, actions and `{…}` placeholders read fields declared under "
             "`fields:`."), "    when priorty == \"high\" -> urgent",
         "    when priority == \"high\" -> urgent"),
    Rule("FD203", "unknown-param", E, msg("an event parameter is not a field"),
         msg("Event data can only set declared fields: `on reply(reply_text)` sets the field "
             "`reply_text`."), "    on reply(answer) -> replied",
         "    on reply(reply_text) -> replied"),
    Rule("FD204", "unknown-role", E, msg("a role is used but not declared"),
         msg("`by`, `notify`, `escalate to` and `assign to` name roles of the `roles:` line "
             "(or a field that holds one)."), "    on close -> closed by 主官",
         "    on close -> closed by 主管"),
    Rule("FD205", "unknown-table", E, msg("a decision table is called but not declared"),
         msg("A table is declared with `table NAME(INPUT, …):` and its rows."),
         "    set dept = dept_of(category)", "table dept_of(category):\n    else -> \"客服\""),
    Rule("FD206", "unknown-sla", E, msg("an SLA is named but not declared"),
         msg("`sla_status(NAME)` and `time_left(NAME)` take the name of one of the flow's "
             "SLAs."), "    when sla_status(replay) == \"breached\" -> late",
         "    when sla_status(reply) == \"breached\" -> late"),
    Rule("FD207", "unknown-task", E, msg("a task waits for a task that is not in its state"),
         msg("`task B … after A` orders two tasks of the same state."),
         "    task passes by 安保部 after forms", "    task passes by 安保部 after registration"),
    Rule("FD208", "wrong-arity", E, msg("a table or function gets the wrong number of inputs"),
         msg("Call a table with one value per input, a function with its arguments."),
         "    set p = priority_of(category)", "    set p = priority_of(category, major)"),
    Rule("FD209", "recursive-table", E, msg("a decision table calls itself"),
         msg("A table that reaches itself through its rows would never finish."),
         "table a(x):\n    else -> a(x)", "table a(x):\n    else -> \"客服\""),
    Rule("FD210", "missing-keys", E, msg("related cases are asked for without `keys:`"),
         msg("`earlier_cases` and `last_case` relate cases by their key fields; declare them."),
         "    when earlier_cases(30d) > 0 -> repeat",
         "keys: unit, phone\n…\n    when earlier_cases(30d) > 0 -> repeat"),
    Rule("FD211", "unknown-emitted-event", W, msg("an emitted event is handled by no state"),
         msg("`emit EVENT` fires the event on the case; if no state has `on EVENT` nothing "
             "happens."), "    enter: emit finsh", "    enter: emit finish"),
    # ---------------------------------------------------------------- types
    Rule("FD301", "type-mismatch", E, msg("a value has the wrong type for where it is used"),
         msg("Conditions need true or false, fields take values of their type, and operators "
             "combine values of kinds that fit."), "    when reply_count -> handling",
         "    when reply_count > 0 -> handling"),
    Rule("FD302", "unknown-choice-value", E, msg("a value is not one of a choice's values"),
         msg("A choice field holds one of the values in its declaration, written in quotes."),
         "    when category == \"feee\" -> finance", "    when category == \"fee\" -> finance"),
    Rule("FD303", "non-constant-default", E, msg("a field's default is a computation"),
         msg("Defaults are plain values; compute values in the first state's `enter:`."),
         "    opened: datetime = now", "    opened: datetime?\n…\n    enter: set opened = now"),
    Rule("FD304", "table-result-not-role", W,
         msg("a table used to name a role gives something that is not a role"),
         msg("`notify dept_of(category)` needs the table's rows to give role names."),
         "    \"fee\" -> \"财务\"   # no role 财务", "    \"fee\" -> \"财务部\""),
    # ---------------------------------------------------------------- the state graph
    Rule("FD401", "dead-end-state", E, msg("a state that is not final has no way out"),
         msg("A case that enters it stays forever: give it a transition, a timer, or make it "
             "final."), "state stuck:\n    enter: notify 客服 \"…\"",
         "state stuck:\n    after 24h -> closed"),
    Rule("FD402", "no-path-to-final", E, msg("no final state can be reached from a state"),
         msg("Its cases go round without end."),
         "state a:\n    on go -> b\nstate b:\n    on go -> a",
         "state a:\n    on go -> b\nstate b:\n    on done -> closed"),
    Rule("FD403", "unreachable-state", W, msg("a state can never be reached"),
         msg("No transition leads to it from the first state: it is dead text, or a "
             "transition is missing."), "state paused:   # nothing goes here",
         "    on pause -> paused"),
    Rule("FD404", "overlapping-transitions", E,
         msg("an event is handled twice without `when` for the same roles"),
         msg("The first line always wins, so the second is never taken."),
         "    on close -> done by 客服\n    on close -> rejected by 客服",
         "    on close when ok -> done by 客服\n    on close -> rejected by 客服"),
    Rule("FD405", "shadowed-transition", W, msg("a transition is never taken"),
         msg("An earlier `on EVENT` without `when` takes the event first."),
         "    on close -> done\n    on close when urgent -> escalated",
         "    on close when urgent -> escalated\n    on close -> done"),
    Rule("FD406", "final-state-member", E, msg("a final state has transitions, timers or tasks"),
         msg("A final state ends the case; it may only have `enter:` actions."),
         "final closed:\n    after 3d -> archived", "final closed:\n    enter: notify 客服 \"…\""),
    Rule("FD407", "tasks-done-without-tasks", E,
         msg("`when all tasks done` in a state without tasks"),
         msg("The condition waits for the state's tasks; declare them with `task NAME by ROLE`."),
         "state check:\n    when all tasks done -> ready",
         "state check:\n    task keys by 安保部\n    when all tasks done -> ready"),
    Rule("FD408", "task-event-clash", E, msg("a task's event is taken by an `on` line first"),
         msg("A task is completed by the event with its name; an `on` line for that event "
             "takes it first."), "    task keys by 安保部\n    on keys -> done",
         "    task keys by 安保部\n    when all tasks done -> done"),
    # ---------------------------------------------------------------- domain checks
    Rule("FD501", "warn-before-too-long", E, msg("an SLA warning is not shorter than the SLA"),
         msg("`warn D before` must leave time before the breach."),
         "sla reply within 2h …:\n    warn 3h before: …",
         "sla reply within 24h …:\n    warn 2h before: …"),
    Rule("FD502", "zero-interval", E, msg("a repeating timer has no interval"),
         msg("`every 0m` would fire over and over without a pause."),
         "    every 0m: notify 客服 \"…\"", "    every 1 working day: notify 客服 \"…\""),
    Rule("FD503", "working-on-always", W, msg("working time on the 24/7 calendar"),
         msg("On `always` every day is a working day, so `working` units mean elapsed time."),
         "calendar always\n…\n    after 2 working days -> late",
         "calendar office\n…\n    after 2 working days -> late"),
    Rule("FD504", "unused-field", W, msg("a field is never used"),
         msg("Nothing reads it: use it in a condition, a table call or a message, or delete it."),
         "    remark: text?   # never read", "    notify 客服 \"备注：{remark}\""),
    Rule("FD505", "unused-table", W, msg("a decision table is never used"),
         msg("Call it (`set FIELD = TABLE(…)`) or delete it."), "table old_dept(category): …",
         "    set dept = old_dept(category)"),
    Rule("FD506", "table-without-else", W, msg("a decision table has no `else` row"),
         msg("A case that matches no row stops with an error; say what happens otherwise."),
         "table dept(category):\n    \"fee\" -> \"财务部\"",
         "table dept(category):\n    \"fee\" -> \"财务部\"\n    else -> \"客服\""),
    Rule("FD507", "unreachable-row", W, msg("a table row is never used"),
         msg("A row above it matches everything it would."),
         "    _ -> \"客服\"\n    \"fee\" -> \"财务部\"",
         "    \"fee\" -> \"财务部\"\n    _ -> \"客服\""),
    Rule("FD508", "unchased-state", W, msg("nothing chases a waiting state"),
         msg("A case can wait there forever and nobody is reminded: add a timer or an SLA, or "
             "say why it waits (`wait \"reason\"`)."),
         "state waiting_parts:\n    on arrived -> repairing",
         "state waiting_parts:\n    every 1 working day: notify 工程部 \"…\"\n"
         "    on arrived -> repairing"),
    Rule("FD509", "month-day-skipped", W, msg("a monthly day does not exist in every month"),
         msg("Day 29, 30 or 31 is skipped in the months without it."),
         "every month on day 31 at 09:00: …", "every month on last working day at 09:00: …"),
    Rule("FD510", "empty-schedule", E, msg("a schedule does nothing"),
         msg("A schedule opens a case, sends a summary, or both."),
         "schedule daily \"日报\" every day at 17:30:",
         "schedule daily \"日报\" every day at 17:30:\n    summary to 主管 \"报修日报\""),
    Rule("FD511", "schedule-needs-data", E,
         msg("a schedule opens cases but a field has no default"),
         msg("Nobody gives data to a case a schedule opens: its required fields need "
             "defaults."), "    period: date", "    period: date?"),
    Rule("FD512", "unbounded-escalation", W, msg("an escalation repeats without a limit"),
         msg("A timer that escalates every time it fires floods the managers; bound it."),
         "    every 1h: escalate to 主管 \"…\"",
         "    every 1h at most 3 times: escalate to 主管 \"…\""),
)
# fmt: on

BY_CODE = {r.code: r for r in RULES}
BY_NAME = {r.name: r for r in RULES}


def find(code_or_name: str) -> Rule | None:
    """The rule with that code (`FD201`, any case) or name (`unknown-state`)."""
    return BY_CODE.get(code_or_name.upper()) or BY_NAME.get(code_or_name.lower())


def severity_of(name: str) -> Severity:
    """The default severity of the rule named `name` (every diagnostic has a rule)."""
    return BY_NAME[name].severity


def explain(rule: Rule, language: str | None = None) -> str:
    """`flow check --explain`: the rule's code, name, severity, why, and two examples."""
    bad, good = _indent(rule.bad), _indent(rule.good)
    return "\n".join([
        f"{rule.code} {rule.name} ({rule.severity.value})",
        localize(rule.summary, language),
        "",
        localize(rule.why, language),
        "",
        tr("Bad:"),
        bad,
        "",
        tr("Good:"),
        good,
    ]) + "\n"  # fmt: skip


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def markdown() -> str:
    """docs/rules.md: every rule, generated from this table (a test keeps them equal)."""
    out = [
        "# Rules of `flow check`",
        "",
        "Generated from `dsl/rules.py` by `python -m dsl.rules > docs/rules.md`; do not edit.",
        "`flow check --explain CODE` prints one rule with a bad and a good example, in",
        "Chinese under a Chinese locale. A project chooses its rules in a `flowdesk.toml`",
        "beside its flows (or `[tool.flowdesk]` in `pyproject.toml`), nearest one upwards:",
        "",
        "```toml",
        'select = ["FD2", "FD4", "unused-field"]   # only these: codes, code prefixes, names',
        'ignore = ["unused-table"]                 # never these',
        'severity = { unused-field = "error" }     # a warning made an error, or "ignore"',
        "```",
        "",
        "A rule whose default is `error` stays an error and is always reported (the flow",
        "cannot run with it); selecting and ignoring narrow the warnings.",
        "`flow check --select RULES --ignore RULES` apply on top, for one run.",
        "",
        "| code | name | severity | what it finds |",
        "|---|---|---|---|",
    ]
    out += [f"| {r.code} | `{r.name}` | {r.severity.value} | {localize(r.summary, 'en')} |"
            for r in RULES]  # fmt: skip
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
