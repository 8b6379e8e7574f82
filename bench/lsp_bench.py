"""Language server benchmark: how long after an edit a 1,000-line flow's diagnostics are ready.

    .venv/bin/python bench/lsp_bench.py [--quick]

After an edit the server waits DEBOUNCE (a burst of keystrokes is checked once), then runs
`diagnose` (re-parse the blocks the edit changed, check, the project's rule choice) and
converts each diagnostic to LSP positions. `lsp_diagnostics_ms_1000_lines` is that whole delay — the
debounce plus the median of the work — on a generated flow of about 1,000 lines with one
error in it. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pygls.workspace import TextDocument  # noqa: E402

from bench.run import generate_flow  # noqa: E402
from dsl.diagnostics import Diagnostic  # noqa: E402
from dsl.incremental import BlockParser  # noqa: E402
from language_server.server import DEBOUNCE, FlowServer, diagnose  # noqa: E402

TARGET_MS = 100


def _median_ms(
    server: FlowServer, uri: str, before: str, after: str, runs: int
) -> tuple[float, list[Diagnostic]]:
    """Median milliseconds of what the server does when a document holding `before` is
    edited into `after` (its block parser knows `before`, as the server's does), and the
    diagnostics of `after`."""
    times, found = [], []
    parser = BlockParser()
    for _ in range(runs):
        diagnose(uri, before, parser)  # the text before the edit, as the server last saw it
        began = time.perf_counter()
        _, found = diagnose(uri, after, parser)
        doc = TextDocument(uri, after)
        [server.to_lsp(doc, d) for d in found]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), found


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs (CI smoke)")
    runs = 5 if parser.parse_args().quick else 30
    text = generate_flow(1030)  # about 1,000 lines once generated
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(r"\s+on \w+ -> \w", line))
    lines[at] = lines[at].replace(" -> ", " -> no_such_state_", 1)  # an unknown state
    edited = "\n".join(lines) + "\n"
    uri = (ROOT / "bench" / "generated.flow").as_uri()
    server = FlowServer()
    work, found = _median_ms(server, uri, text, edited, runs)
    valid, _ = _median_ms(server, uri, edited, text, runs)  # the edit undone: no error left
    whole = statistics.median(_timed(lambda: diagnose(uri, edited)) for _ in range(runs))
    total = DEBOUNCE * 1000 + work
    print(f"{len(lines)} lines, {len(found)} diagnostics: check {work:.1f} ms + debounce "
          f"{DEBOUNCE * 1000:.0f} ms = {total:.1f} ms (target ≤ {TARGET_MS} ms)")  # fmt: skip
    print(json.dumps({
        "lsp_lines": len(lines),
        "lsp_check_ms_median": round(work, 1),
        "lsp_check_ms_valid_flow": round(valid, 1),
        "lsp_check_ms_whole_text": round(whole, 1),  # a document just opened: nothing to reuse
        "lsp_debounce_ms": round(DEBOUNCE * 1000),
        "lsp_diagnostics_ms_1000_lines": round(total, 1),
        "lsp_target_ms": TARGET_MS,
        "lsp_meets_target": total <= TARGET_MS,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
