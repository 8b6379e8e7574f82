"""docs/embedding.md is one program: its code blocks run in order, as they stand, and print
what the page says they do (so the embedding contract cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "embedding.md"


def test_the_embedding_guide_runs_as_written() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5, "the guide shows its program in several blocks"
    run = run_python("\n".join(blocks))
    lines = run.stdout.splitlines()
    expected = [
        "loaded: ['hotline']",
        "FlowLoadError: no folder no/such/folder: give the folder that holds the .flow files",
        "opened hotline-000001 in missed assigned to 客服专员",
        "InvalidData: {'caller': 'expected a text, got the whole number 13800000000 "
        '(write it in quotes: "13800000000")\'}',
        "RoleNotAllowed: role `保洁` may not open a case of `hotline`; allowed: 业主服务主管, "
        "客服专员",
        "RoleNotAllowed: role `业主服务主管` may not fire `call_back` here; allowed: 客服专员",
        "UnknownEvent: event `close` is not possible in state `missed`; in this state you can "
        "fire: call_back",
        "UnknownCase: no case with id `hotline-999999`",
        "UnknownFlow: no flow named `nosuch` is loaded (loaded: hotline)",
        "notified 业主服务主管: 未接来电3小时未回复 (escalation, id hotline-000001#5)",
        "now returned after ['event', 'note']",
        # Service.fire: the overdue escalation first (late), then the event
        "step: ['timer', 'escalate', 'notify'] late",
        "step: ['event', 'note'] ",
        "outbox delivered: 1",
        "H-1#5 → 业主服务主管: 未接来电3小时未回复",
    ]
    for line in expected:
        assert line in lines, f"{line!r} not printed; got:\n{run.stdout}"
