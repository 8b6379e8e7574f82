"""Keeping the catalogs in step with the code (Babel): `python -m engine.i18n.catalog`.

`extract` finds every message marked with msg/msgn/tr/trn in the sources; `update` writes
the template (flowdesk.pot), merges it into each language's .po (new messages appear
untranslated, vanished ones are dropped) and compiles the .mo the runtime reads. The
tests call `extract` and `problems` to fail on a message without a translation.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from engine.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("cli.py", "dsl", "engine", "language_server", "server", "studio")
KEYWORDS = {"msg": None, "tr": None, "msgn": (1, 2), "trn": (1, 2), "_": None}  # `_`: pages
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\(\w+\))?[srd]")


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def extract() -> Catalog:
    """Every marked message of the sources, as a Babel catalog (no locations: stable)."""
    catalog = Catalog(project="Flowdesk", domain=DOMAIN, fuzzy=False)
    for source in SOURCES:
        path = ROOT / source
        found: Iterator[tuple[str, int, str | tuple[str, ...], list[str], str | None]]
        if path.is_file():
            found = extract_from_dir(
                path.parent,
                method_map=[(path.name, "python")],
                keywords=KEYWORDS,
                comment_tags=("i18n:",),
            )
        else:
            found = extract_from_dir(
                path,
                method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
                keywords=KEYWORDS,
                comment_tags=("i18n:",),
            )
        for _file, _line, message, comments, _context in found:
            catalog.add(message, auto_comments=comments)
    return catalog


def read(language: str) -> Catalog:
    with po_path(language).open("rb") as f:
        return read_po(f, locale=language, domain=DOMAIN)


def placeholders(text: str) -> set[str]:
    """The `{name}` and `%(name)s` / `%s` slots a message fills in."""
    return {m.group(0) for m in _PLACEHOLDER.finditer(text)}


def problems(language: str) -> list[str]:
    """What keeps the `language` catalog from being complete: a message missing, untranslated
    or fuzzy, or a translation whose placeholders differ from the English."""
    catalog = read(language)
    found = []
    for message in extract():
        if not message.id:
            continue
        entry = catalog.get(message.id)
        if entry is None:
            found.append(f"missing: {_show(message.id)}")
            continue
        found += _entry_problems(entry)
    return found


def _entry_problems(entry: Message) -> list[str]:
    ids = _texts(entry.id)
    strings = _texts(entry.string)
    if entry.fuzzy or not all(strings):
        return [f"untranslated: {_show(entry.id)}"]
    wanted = placeholders(ids[0]) | placeholders(ids[-1])
    return [
        f"placeholders differ: {_show(entry.id)} → {s!r}"
        for s in strings
        if placeholders(s) - wanted or (len(ids) == 1 and placeholders(s) != wanted)
    ]


def _texts(value: object) -> tuple[str, ...]:
    """A message's id or string as a tuple (one for a plain message, more for a plural)."""
    if isinstance(value, (tuple, list)):
        return tuple(str(v) for v in value)
    return ("" if value is None else str(value),)


def _show(message_id: object) -> str:
    return repr(_texts(message_id)[0])


def compiled(language: str) -> bytes:
    """The .mo the runtime reads, compiled from the .po (stable bytes: no dates)."""
    catalog = read(language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def update() -> None:
    """Write the template, merge it into every language's .po, compile each .mo."""
    template = extract()
    with TEMPLATE.open("wb") as f:
        write_po(f, template, omit_header=True, sort_output=True, width=100)
    for language in LANGUAGES:
        if language == "en":
            continue
        catalog = read(language)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path(language).open("wb") as f:
            write_po(f, catalog, sort_output=True, width=100, ignore_obsolete=True)
        mo_path(language).write_bytes(compiled(language))


if __name__ == "__main__":
    update()
    for language in LANGUAGES[1:]:
        left = problems(language)
        print(f"{language}: {len(left)} message(s) to translate or fix", file=sys.stderr)
