"""The command line's own words in the reader's language: argparse's headings and errors
(`usage:`, `options`, `the following arguments are required: …`) and the `--lang` option.

argparse looks its messages up through `argparse._` / `argparse.ngettext` (gettext) each
time it prints; `argparse_in_language` points those at our catalog for the duration of a
command. The msgids below are argparse's own, marked here so extraction puts them in the
catalog; a test holds them to argparse's source so a Python upgrade cannot drift them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from engine.i18n import localize, msg, msgn

# argparse's messages a person can see (its programming errors are left out)
MESSAGES = (
    msg("usage: "),
    msg("positional arguments"),
    msg("options"),
    msg("show this help message and exit"),
    msg("argument %(argument_name)s: %(message)s"),
    msg("unrecognized arguments: %s"),
    msg("the following arguments are required: %s"),
    msg("one of the arguments %s is required"),
    msg("not allowed with argument %s"),
    msg("expected one argument"),
    msg("expected at most one argument"),
    msg("expected at least one argument"),
    msg("ambiguous option: %(option)s could match %(matches)s"),
    msg("invalid %(type)s value: %(value)r"),
    msg("invalid choice: %(value)r (choose from %(choices)s)"),
    msg("%(prog)s: error: %(message)s\n"),
    msg("can't open '%(filename)s': %(error)s"),
    msgn("expected %s argument", "expected %s arguments", 2),
)
_KNOWN = {str(m) for m in MESSAGES} | {"expected %s argument"}


def _gettext(message: str) -> str:
    if message not in _KNOWN:
        return message
    return localize(msg(message))


def _ngettext(singular: str, plural: str, n: int) -> str:
    if singular not in _KNOWN:
        return singular if n == 1 else plural
    return localize(msgn(singular, plural, n))


@contextmanager
def argparse_in_language() -> Iterator[None]:
    """argparse speaks the current language inside the block (then as before)."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _gettext, _ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def take_lang_option(words: list[str]) -> str | None:
    """Remove `--lang X` / `--lang=X` from the command-line words (it may stand before or
    after the command) and give X; None when it is not there."""
    for i, word in enumerate(words):
        if word == "--":
            return None
        if word.startswith("--lang="):
            del words[i]
            return word.removeprefix("--lang=")
        if word == "--lang" and i + 1 < len(words):
            value = words[i + 1]
            del words[i : i + 2]
            return value
    return None
