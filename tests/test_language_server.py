"""The language server, end to end: a real LSP client (pytest-lsp) talking to
`flow lsp` over stdio, as an editor runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from conftest import ROOT
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """flow demo "演示流程"
calendar always
roles: 客服, 工程部
fields:
    category: choice(fee, facility) "类别"
    note: text? "备注"
sla reply "答复" within 24h from received until done:
    breach: escalate to 客服 "超时：{category}"
state received "已受理":
    on dispatch -> handling by 客服
state handling "处理中":
    on finish(note) -> done by 工程部
final done "已完成"
"""


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, str(ROOT / "cli.py"), "lsp"]),
)
async def client(lsp_client: LanguageClient) -> object:
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), locale="zh-cn")
    )
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, tmp_path: Path, text: str) -> str:
    path = tmp_path / "demo.flow"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="flow", version=1, text=text)
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


@pytest.mark.asyncio
async def test_a_clean_flow_has_no_diagnostics(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path, FLOW)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_a_diagnostic_after_chinese_and_an_emoji_points_at_the_utf16_column(
    client: LanguageClient, tmp_path: Path
) -> None:
    broken = FLOW.replace(
        "    on dispatch -> handling by 客服",
        '    enter: notify 客服 "到了😀"\n    on go -> handlng by 客服',
    )
    uri = await _open(client, tmp_path, broken)
    (found,) = [d for d in client.diagnostics[uri] if d.code == "FD201"]
    # line 11 is `    on go -> handlng by 客服`: the name starts at character 13 either way
    assert found.range.start == lsp.Position(line=10, character=13)
    assert found.range.end == lsp.Position(line=10, character=20)
    assert (
        found.message.startswith("未知的状态 `handlng`")
        and "是不是要写 `handling`" in found.message
    )
    assert found.severity == lsp.DiagnosticSeverity.Error and found.source == "flowdesk"


@pytest.mark.asyncio
async def test_utf16_columns_after_an_emoji_on_the_same_line(
    client: LanguageClient, tmp_path: Path
) -> None:
    broken = FLOW.replace(
        "    on finish(note) -> done by 工程部",
        '    on finish(note) -> done by 工程部: record "😀{nte}"',
    )
    uri = await _open(client, tmp_path, broken)
    (found,) = [d for d in client.diagnostics[uri] if d.code == "FD202"]
    line = broken.splitlines()[found.range.start.line]
    before = line[: line.index("{nte}") + 1]  # the placeholder's name, after `{`
    assert found.range.start.character == len(before.encode("utf-16-le")) // 2


@pytest.mark.asyncio
async def test_hover_says_what_a_state_is_and_why_a_rule_exists(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = await _open(client, tmp_path, FLOW.replace("-> handling by", "-> handlng by"))
    doc = lsp.TextDocumentIdentifier(uri=uri)
    on_state = await client.text_document_hover_async(
        lsp.HoverParams(text_document=doc, position=lsp.Position(line=8, character=7))
    )
    assert on_state is not None and "“已受理”" in str(on_state.contents)
    on_problem = await client.text_document_hover_async(
        lsp.HoverParams(text_document=doc, position=lsp.Position(line=9, character=20))
    )
    assert on_problem is not None and "FD201 unknown-state" in str(on_problem.contents)


@pytest.mark.asyncio
async def test_completion_offers_states_after_an_arrow_and_roles_after_by(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = await _open(client, tmp_path, FLOW)
    doc = lsp.TextDocumentIdentifier(uri=uri)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(
                text=FLOW + "state extra:\n    on go -> \n    on stop -> done by \n")],
        )
    )  # fmt: skip
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    states = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=doc, position=lsp.Position(line=14, character=14))
    )
    assert states is not None and {"received", "handling", "done"} <= {
        i.label for i in states.items
    }  # the broken text still completes, from the last one that parsed
    roles = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=doc, position=lsp.Position(line=15, character=26))
    )
    assert roles is not None and {i.label for i in roles.items} == {"客服", "工程部"}


@pytest.mark.asyncio
async def test_definition_references_and_outline(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path, FLOW)
    doc = lsp.TextDocumentIdentifier(uri=uri)
    at_use = lsp.Position(line=9, character=20)  # `handling` in `-> handling`
    (definition,) = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=doc, position=at_use)
    )
    assert definition.range.start == lsp.Position(line=10, character=6)
    uses = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=doc, position=at_use,
            context=lsp.ReferenceContext(include_declaration=True),
        )
    )  # fmt: skip
    assert uses is not None and len(uses) == 2
    outline = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=doc)
    )
    assert outline is not None
    names = {(s.name, s.detail) for s in outline}  # type: ignore[union-attr]
    assert {
        ("received", "state"),
        ("category", "field"),
        ("客服", "role"),
        ("reply", "sla"),
    } <= names


@pytest.mark.asyncio
async def test_formatting_and_the_did_you_mean_quick_fix(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = await _open(client, tmp_path, FLOW.replace("roles: 客服, 工程部", "roles:   客服,工程部"))
    doc = lsp.TextDocumentIdentifier(uri=uri)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=doc, options=lsp.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert edits and "roles: 客服, 工程部" in edits[0].new_text
    uri = await _open(client, tmp_path, FLOW.replace("-> handling by", "-> handlng by"))
    (found,) = [d for d in client.diagnostics[uri] if d.code == "FD201"]
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), range=found.range,
            context=lsp.CodeActionContext(diagnostics=[found]),
        )
    )  # fmt: skip
    assert actions is not None
    (fix,) = actions
    assert isinstance(fix, lsp.CodeAction) and fix.edit is not None and fix.edit.changes
    assert fix.edit.changes[uri][0].new_text == "handling" and "handling" in fix.title


def _apply(text: str, edits: list[lsp.TextEdit]) -> str:
    """The text with LSP edits applied (UTF-16 columns; this test's text has no emoji)."""

    def offset(p: lsp.Position) -> int:
        lines = text.split("\n")
        return sum(len(line) + 1 for line in lines[: p.line]) + p.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


@pytest.mark.asyncio
async def test_rename_changes_every_use_and_refuses_a_taken_name(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = FLOW.replace('"超时：{category}"', '"超时：{category}，{note}"')
    uri = await _open(client, tmp_path, text)
    doc = lsp.TextDocumentIdentifier(uri=uri)
    at_field = lsp.Position(line=5, character=5)  # `note` in `note: text? "备注"`
    edit = await client.text_document_rename_async(
        lsp.RenameParams(text_document=doc, position=at_field, new_name="remark")
    )
    assert edit is not None and edit.changes is not None
    renamed = _apply(text, list(edit.changes[uri]))
    assert "remark: text?" in renamed and "finish(remark)" in renamed and "{remark}" in renamed
    assert "note" not in renamed.replace("notify", "")
    with pytest.raises(Exception, match="已经有名为 `category` 的字段"):
        await client.text_document_rename_async(
            lsp.RenameParams(text_document=doc, position=at_field, new_name="category")
        )


@pytest.mark.asyncio
async def test_quick_fixes_declare_a_missing_role_and_chase_a_waiting_state(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = FLOW.replace("-> done by 工程部", "-> done by 保安部").replace(
        "    on dispatch -> handling by 客服",
        "    on dispatch -> handling by 客服\nstate parked:\n    on go -> done",
    )
    uri = await _open(client, tmp_path, text)
    doc = lsp.TextDocumentIdentifier(uri=uri)
    titles: dict[str, list[lsp.TextEdit]] = {}
    for code in ("FD204", "FD508"):
        (found,) = [d for d in client.diagnostics[uri] if d.code == code]
        actions = await client.text_document_code_action_async(
            lsp.CodeActionParams(text_document=doc, range=found.range,
                                 context=lsp.CodeActionContext(diagnostics=[found]))
        )  # fmt: skip
        assert actions is not None
        for a in actions:
            assert isinstance(a, lsp.CodeAction) and a.edit and a.edit.changes
            titles[a.title] = list(a.edit.changes[uri])
    assert "roles: 客服, 工程部, 保安部" in _apply(text, titles["把 `保安部` 加到 `roles:` 行"])
    chased = _apply(text, titles["每个工作日提醒 客服"])
    assert "state parked:\n    every 1 working day: notify 客服" in chased
    assert 'state parked:\n    wait "' in _apply(text, titles["标记为有意的等待"])
