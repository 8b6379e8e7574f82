"""The language server's block-reusing parser gives, after any edit, exactly what parsing the
whole text gives: the same AST (spans included) or the same diagnostic."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.frontend import parse_source
from dsl.incremental import BlockParser, blocks
from dsl.source import Source
from tests.conftest import ROOT

FLOWS = sorted((ROOT / "workflows").glob("*.flow"))
SNIPPETS = ["", "\n", " ", "x", "state ", "(", ")", '"', "#", "\\", "    on go -> x\n", "\t", "😀"]


def same(text: str, parser: BlockParser) -> None:
    source = Source("edited.flow", text)
    whole, whole_problems = parse_source(source)
    reused, reused_problems = parser.parse(source)
    assert reused == whole
    assert [(d.message, d.span) for d in reused_problems] == [
        (d.message, d.span) for d in whole_problems
    ]


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_every_shipped_flow_parses_the_same_by_blocks(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(blocks(text)) > 5
    assert "".join(b for _, b in blocks(text)) == text
    same(text, BlockParser())


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(FLOWS),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 12), st.sampled_from(SNIPPETS)),
        min_size=1,
        max_size=4,
    ),
)
def test_after_any_edits_the_reused_blocks_give_the_whole_texts_result(
    path: Path, edits: list[tuple[float, int, str]]
) -> None:
    text = path.read_text(encoding="utf-8")
    parser = BlockParser()
    parser.parse(Source("edited.flow", text))
    for where, cut, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + cut :]
        same(text, parser)
