"""The language server: pygls wiring between an editor and the front-end.

Diagnostics come from the same `compile_source` as `flow check` (with the project's rule
choice), 50 ms after the last keystroke; features that need names (hover, completion,
definition, references, outline) use the last text that parsed, so they keep working
while the text in hand is broken. Positions travel in the client's units (UTF-16 by
default: a CJK character is one unit, an emoji two) and are converted at this edge.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from dsl import ast
from dsl.config import editor_choice
from dsl.diagnostics import Diagnostic
from dsl.frontend import compile_source, parse_source
from dsl.incremental import BlockParser
from dsl.rules import BY_NAME, explain
from dsl.source import Source, Span
from engine.i18n import Text as Message
from engine.i18n import UnknownLanguage, choose_language, localize, normalize
from language_server.edits import CannotRename, quick_fixes, rename
from language_server.symbols import Symbols

DEBOUNCE = 0.05  # seconds after the last change before the text is checked
KEYWORDS = (
    "flow", "version", "calendar", "roles", "fields", "keys", "opened", "state", "final",
    "on", "when", "by", "after", "every", "at", "most", "times", "enter", "exit", "set",
    "notify", "escalate", "to", "assign", "record", "callback", "emit", "task", "within",
    "overdue", "wait", "if", "else", "sla", "from", "until", "pause", "warn", "before",
    "breach", "table", "schedule", "summary", "open", "case", "catch", "up", "and", "or",
    "not", "in", "is", "null", "true", "false", "now", "working", "days", "hours",
)  # fmt: skip
_ROLE_CONTEXT = re.compile(r"(?:\bby|\bto|\bnotify|\bopened by)\s+(?:[^\s,]+\s*,\s*)*[^\s,]*$")
_STATE_CONTEXT = re.compile(r"(?:->|\bfrom|\buntil|\bpause in)\s*(?:\w+\s*,\s*)*\w*$")


class LastParsed:
    """Per document, the last AST that parsed; its symbol index is built when a feature
    first asks for it, not on every keystroke."""

    def __init__(self) -> None:
        self._flows: dict[str, ast.Flow] = {}
        self._index: dict[str, Symbols] = {}

    def put(self, uri: str, flow: ast.Flow) -> None:
        self._flows[uri] = flow
        self._index.pop(uri, None)

    def get(self, uri: str) -> Symbols | None:
        found = self._index.get(uri)
        if found is None and uri in self._flows:
            found = self._index[uri] = Symbols.of(self._flows[uri])
        return found

    def pop(self, uri: str) -> None:
        self._flows.pop(uri, None)
        self._index.pop(uri, None)


class FlowServer(LanguageServer):
    """A pygls server that remembers, per document, its last good symbols and diagnostics."""

    def __init__(self) -> None:
        super().__init__("flowdesk", "1.0")
        try:
            self.language = choose_language()
        except UnknownLanguage:  # `flow check` says so; an editor's server keeps going
            self.language = "en"
        self.symbols = LastParsed()
        self.parsers: dict[str, BlockParser] = {}
        self.found: dict[str, list[Diagnostic]] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._checks: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------ checking
    def check_now(self, uri: str) -> None:
        """Check the document soon, off the event loop: a server holding this connection
        (the studio under `flow serve`) keeps answering others while a long flow is read."""
        running = asyncio.ensure_future(self.check(uri))
        self._checks.add(running)
        running.add_done_callback(self._checks.discard)

    async def check(self, uri: str) -> None:
        """Check the document as it is and publish its diagnostics, unless it changed
        meanwhile (the newer text's check publishes instead)."""
        doc = self.workspace.get_text_document(uri)
        version, text = doc.version, doc.source
        parser = self.parsers.setdefault(uri, BlockParser())
        async with self._locks.setdefault(uri, asyncio.Lock()):  # one parser, one user
            flow, found = await asyncio.to_thread(diagnose, uri, text, parser)
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return
        if flow is not None:
            self.symbols.put(uri, flow)
        self.found[uri] = found
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, version=version,
            diagnostics=[self.to_lsp(current, d) for d in found],
        ))  # fmt: skip

    def check_soon(self, uri: str) -> None:
        """Check after a pause in typing (a burst of changes is checked once)."""
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        loop = asyncio.get_running_loop()
        self._pending[uri] = loop.call_later(DEBOUNCE, self.check_now, uri)

    def forget_all(self) -> None:
        """The client has gone: drop pending checks, so nothing is sent to nobody."""
        for pending in self._pending.values():
            pending.cancel()
        self._pending.clear()
        for running in self._checks:
            running.cancel()

    def to_lsp(self, doc: TextDocument, d: Diagnostic) -> lsp.Diagnostic:
        help_text = localize(d.help, self.language) if d.help else ""
        message = localize(d.message, self.language) + (f"\n{help_text}" if help_text else "")
        return lsp.Diagnostic(
            range=span_range(doc, d.span),
            message=message,
            severity=lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning,
            code=d.rule,
            source="flowdesk",
            data={"rule": d.code, "replace": _suggestion(d.help), "subject": _text_at(doc, d.span)},
        )

    def at(self, doc: TextDocument, position: lsp.Position) -> tuple[int, int]:
        """A client position as the 1-based line and character column spans use."""
        server = doc.position_codec.position_from_client_units(doc.lines, position)
        return server.line + 1, server.character + 1


def diagnose(
    uri: str, text: str, parser: BlockParser | None = None
) -> tuple[ast.Flow | None, list[Diagnostic]]:
    """What the server knows of a text: its AST when it parses, and the diagnostics `flow
    check` would report for it (with the project's rule choice). `parser` re-reads only
    the blocks changed since its last text."""
    path = _path(uri)
    source = Source(str(path) if path else uri, text)
    parse = parser.parse if parser is not None else parse_source
    result = compile_source(source, _calendars(path), parse=parse, build_table=False)
    return result.flow, editor_choice(path).apply(result.diagnostics)


def _text_at(doc: TextDocument, span: Span) -> str:
    """The text a one-line span underlines (what a quick fix may declare)."""
    if span.line != span.end_line or span.line > len(doc.lines):
        return ""
    return doc.lines[span.line - 1][span.column - 1 : span.end_column - 1]


def span_range(doc: TextDocument, span: Span) -> lsp.Range:
    """A span (1-based, in characters) as an LSP range in the client's units."""
    start = lsp.Position(line=span.line - 1, character=span.column - 1)
    end = lsp.Position(line=span.end_line - 1, character=span.end_column - 1)
    return doc.position_codec.range_to_client_units(doc.lines, lsp.Range(start=start, end=end))


def _path(uri: str) -> Path | None:
    fs = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(fs) if fs else None


def _calendars(path: Path | None) -> dict[str, date | None] | None:
    """The calendar names a flow at `path` may use (read again when calendars.yaml beside
    it changes)."""
    folder = (path or Path("untitled.flow")).parent
    beside = folder / "calendars.yaml"
    stamp = beside.stat().st_mtime_ns if beside.is_file() else None
    return _calendars_in(folder, stamp)


@functools.lru_cache(maxsize=16)
def _calendars_in(folder: Path, stamp: int | None) -> dict[str, date | None] | None:
    from engine.calendar import CalendarError
    from engine.loader import calendars_for, known_calendars

    try:
        return known_calendars(calendars_for(folder / "untitled.flow", None))
    except CalendarError:
        return None


def _suggestion(help_text: str | None) -> str | None:
    """The name a did-you-mean hint proposes, for the quick fix that puts it in."""
    if not isinstance(help_text, Message):
        return None
    if help_text.template == "did you mean `{name}`?":
        return str(help_text.args["name"])
    close = help_text.args.get("close") if help_text.template == "{close} ({hint})" else None
    return _suggestion(close) if isinstance(close, str) else None


def initialize(ls: FlowServer, params: lsp.InitializeParams) -> None:
    """Speak the editor's language when it says which (`locale`), else the environment's."""
    if params.locale and normalize(params.locale):
        ls.language = normalize(params.locale) or ls.language


def did_open(ls: FlowServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.check_now(params.text_document.uri)


def did_change(ls: FlowServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.check_soon(params.text_document.uri)


def did_close(ls: FlowServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.symbols.pop(uri)
    ls.parsers.pop(uri, None)
    ls.found.pop(uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def hover(ls: FlowServer, params: lsp.HoverParams) -> lsp.Hover | None:
    """A name: what it is (a state's label, events, timers and SLAs; a field's type; a
    role's events). A diagnostic: its rule's explanation."""
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    line, column = ls.at(doc, params.position)
    parts: list[str] = []
    for d in ls.found.get(uri, []):
        s = d.span
        if s.line == line and s.column <= column <= max(s.end_column, s.column + 1):
            parts.append("```\n" + explain(BY_NAME[d.code], ls.language) + "```")
    symbols = ls.symbols.get(uri)
    o = symbols.at(line, column) if symbols else None
    if symbols and o:
        parts.insert(0, localize(symbols.describe(o), ls.language))
    if not parts:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown,
                                                value="\n\n".join(parts)))  # fmt: skip


def completion(ls: FlowServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    """States after `->`, `from`, `until`; roles after `by`, `to`, `notify`; otherwise the
    fields, tables and keywords."""
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    line, column = ls.at(doc, params.position)
    before = doc.lines[line - 1][: column - 1] if line <= len(doc.lines) else ""
    symbols = ls.symbols.get(uri)
    names: list[tuple[str, lsp.CompletionItemKind]] = []
    if symbols and _STATE_CONTEXT.search(before):
        names = [(n, lsp.CompletionItemKind.EnumMember) for n in symbols.names("state")]
    elif symbols and _ROLE_CONTEXT.search(before):
        names = [(n, lsp.CompletionItemKind.Constant) for n in symbols.names("role")]
    else:
        if symbols:
            names += [(n, lsp.CompletionItemKind.Field) for n in symbols.names("field")]
            names += [(n, lsp.CompletionItemKind.Function) for n in symbols.names("table")]
        names += [(k, lsp.CompletionItemKind.Keyword) for k in KEYWORDS]
    items = [lsp.CompletionItem(label=n, kind=k) for n, k in names]
    return lsp.CompletionList(is_incomplete=False, items=items)


def _locations(
    ls: FlowServer, uri: str, position: lsp.Position, all_uses: bool
) -> list[lsp.Location]:
    doc = ls.workspace.get_text_document(uri)
    symbols = ls.symbols.get(uri)
    o = symbols.at(*ls.at(doc, position)) if symbols else None
    if symbols is None or o is None:
        return []
    found = symbols.uses(o.kind, o.name) if all_uses else [symbols.declaration(o.kind, o.name)]
    return [lsp.Location(uri=uri, range=span_range(doc, u.span)) for u in found if u is not None]


def definition(ls: FlowServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    return _locations(ls, params.text_document.uri, params.position, all_uses=False)


def references(ls: FlowServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    return _locations(ls, params.text_document.uri, params.position, all_uses=True)


_SYMBOL_KINDS = {
    "state": lsp.SymbolKind.EnumMember, "field": lsp.SymbolKind.Field,
    "role": lsp.SymbolKind.Constant, "table": lsp.SymbolKind.Function,
    "sla": lsp.SymbolKind.Event, "schedule": lsp.SymbolKind.Event,
}  # fmt: skip


def outline(ls: FlowServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    """The flow's declarations: states, fields, roles, tables, SLAs and schedules."""
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    symbols = ls.symbols.get(uri)
    if symbols is None:
        return []
    out = []
    for o in symbols.occurrences:
        if o.declares and o.kind in _SYMBOL_KINDS:
            where = span_range(doc, o.span)
            out.append(lsp.DocumentSymbol(name=o.name, detail=o.kind, kind=_SYMBOL_KINDS[o.kind],
                                          range=where, selection_range=where))  # fmt: skip
    return out


def formatting(ls: FlowServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    """`flow fmt` of the whole text; nothing while the text does not parse."""
    from dsl.formatter import FormatError, format_source

    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_source(doc.source, doc.uri)
    except FormatError:
        return []
    if formatted == doc.source:
        return []
    end = lsp.Position(line=len(doc.lines), character=0)
    whole = lsp.Range(start=lsp.Position(line=0, character=0), end=end)
    return [lsp.TextEdit(range=whole, new_text=formatted)]


def code_actions(ls: FlowServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """Quick fixes for the diagnostics in range (language_server/edits.py)."""
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    actions = []
    for d in params.context.diagnostics:
        data = d.data if isinstance(d.data, dict) else {}
        start = ls.at(doc, d.range.start)
        end = ls.at(doc, d.range.end)
        span = Span(start[0], start[1], end[0], end[1])
        fixes = quick_fixes(ls.symbols.get(uri), str(data.get("rule", "")),
                            str(data.get("subject", "")), span, data.get("replace"))  # fmt: skip
        for fix in fixes:
            edits = [lsp.TextEdit(range=span_range(doc, e.span), new_text=e.text)
                     for e in fix.edits]  # fmt: skip
            actions.append(lsp.CodeAction(
                title=localize(fix.title, ls.language), kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[d], edit=lsp.WorkspaceEdit(changes={uri: edits}),
                is_preferred=fix is fixes[0],
            ))  # fmt: skip
    return actions


def rename_symbol(ls: FlowServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    """Rename a state, field, role, table or SLA everywhere it stands; a name already
    taken, or not a name, is refused with the reason."""
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    symbols = ls.symbols.get(uri)
    if symbols is None:
        return None
    try:
        edits = rename(symbols, *ls.at(doc, params.position), params.new_name)
    except CannotRename as exc:
        raise JsonRpcInvalidParams(localize(exc, ls.language)) from None
    if not edits:
        return None
    changes = [lsp.TextEdit(range=span_range(doc, e.span), new_text=e.text) for e in edits]
    return lsp.WorkspaceEdit(changes={uri: changes})


FEATURES: list[tuple[str, object | None, Callable[..., object]]] = [
    (lsp.INITIALIZE, None, initialize),
    (lsp.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (lsp.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (lsp.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (lsp.TEXT_DOCUMENT_HOVER, None, hover),
    (lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" ", ">"]),
     completion),
    (lsp.TEXT_DOCUMENT_DEFINITION, None, definition),
    (lsp.TEXT_DOCUMENT_REFERENCES, None, references),
    (lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, outline),
    (lsp.TEXT_DOCUMENT_FORMATTING, None, formatting),
    (lsp.TEXT_DOCUMENT_CODE_ACTION, None, code_actions),
    (lsp.TEXT_DOCUMENT_RENAME, None, rename_symbol),
]  # fmt: skip


def create_server() -> FlowServer:
    """A server with every feature: one per editor (stdio) or per studio connection."""
    ls = FlowServer()
    for name, options, handler in FEATURES:
        ls.feature(name, options)(handler)
    return ls


def main() -> None:
    """`flow lsp`: serve one editor over stdin and stdout."""
    create_server().start_io()


if __name__ == "__main__":
    main()
