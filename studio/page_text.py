"""Every word the studio's script shows, from the catalog in the reader's language: the
script holds no text of its own. `phrases` are CodeMirror's own words (its panels and
dialogs), which it looks up by their English text."""

from __future__ import annotations

from engine.i18n import tr


def page_text() -> dict[str, object]:
    return {
        "no_problems": tr("No problems: the flow checks clean."),
        "problems": tr("{n} problems"),
        "stale_diagram": tr(
            "The text has errors: the diagram shows the last version that checked."
        ),
        "saved": tr("Saved {name}."),
        "saved_formatted": tr("Saved {name} (formatted)."),
        "save_anyway": tr("The flow has {n} errors. Save it anyway?"),
        "not_saved": tr("Not saved."),
        "unsaved": tr("Unsaved changes"),
        "connecting": tr("Connecting to the language server…"),
        "connected": tr("Language server connected."),
        "disconnected": tr("The language server is not connected; reload the page."),
        "fire_as": tr("as {role}"),
        "fire": tr("Fire"),
        "no_actions": tr("Nothing can be done now: the case is closed or waits for time."),
        "failed": tr("Failed"),
        "passed": tr("Passed"),
        "request_failed": tr("The request failed: {detail}"),
        "quick_fix": tr("Fix"),
        "phrases": {
            "Diagnostics": tr("Problems"),
            "No diagnostics": tr("No problems"),
            "New name": tr("New name"),
            "rename": tr("Rename"),
            "close": tr("Close"),
            "Reference list": tr("References"),
            "Find": tr("Find"),
            "Replace": tr("Replace"),
            "next": tr("next"),
            "previous": tr("previous"),
            "all": tr("all"),
            "Go to line": tr("Go to line"),
            "go": tr("go"),
        },
    }
