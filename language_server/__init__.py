"""The Flowdesk language server (`flow lsp`): diagnostics as a process owner types, hover,
completion, go to definition, references, outline, formatting and quick fixes, for any
editor that speaks the Language Server Protocol (pygls)."""
