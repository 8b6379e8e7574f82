"""Messages in the user's language: English text that remembers how to say it in Chinese.

Code that produces a message marks it with `msg("unknown state `{name}`", name=n)` (or `msgn`
for a count). The result is a `Text`: a `str` holding the English rendering, so it is
data like any string (compared, logged, stored), and it keeps its template and
arguments, so the edge — the CLI, a report, a page — can render it in the reader's
language with `localize`. Templates live in gettext catalogs (`locale/`, managed with
Babel: `make catalogs`); English is the source language and needs no catalog.

`tr` is the edge's shortcut: translate now, in the current language (CLI help, headings).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Protocol, runtime_checkable

LANGUAGES = ("en", "zh_CN")  # English is the source language; zh_CN has a catalog
DOMAIN = "flowdesk"
LOCALE_DIR = Path(__file__).parent / "locale"
_CURRENT: ContextVar[str] = ContextVar("flowdesk_language", default="en")


@runtime_checkable
class Localizable(Protocol):
    """Anything that can say itself in a given language (a `Text`, a list of names)."""

    def localize(self, language: str) -> str: ...


class Text(str):
    """An English message that can be rendered in another language by `localize`."""

    __slots__ = ("args", "number", "plural", "template")
    template: str
    plural: str | None
    number: int | None
    args: Mapping[str, object]

    def __new__(
        cls,
        template: str,
        args: Mapping[str, object],
        plural: str | None = None,
        count: int | None = None,
    ) -> Text:
        chosen = plural if plural is not None and count != 1 else template
        self = super().__new__(cls, _fill(chosen, args))
        self.template, self.plural, self.number, self.args = template, plural, count, args
        return self

    def localize(self, language: str) -> str:
        catalog = translations(language)
        if self.plural is None:
            said = catalog.gettext(self.template)
        else:
            said = catalog.ngettext(self.template, self.plural, self.number or 0)
        said_args = {
            k: v.localize(language) if isinstance(v, Localizable) else v
            for k, v in self.args.items()
        }  # numbers stay numbers: `{count:,}` formats them
        return _fill(said, said_args)

    def __reduce__(self) -> tuple[object, ...]:  # pickles (the simulator's shards) keep it
        return (Text, (self.template, dict(self.args), self.plural, self.number))


def _fill(template: str, args: Mapping[str, object]) -> str:
    """The template with its `{name}` placeholders filled; a template without arguments is
    taken literally (it may show braces, as in `{field}` in a help text)."""
    return template.format_map(args) if args else template


def msg(template: str, **args: object) -> str:
    """A message to show a person: English now, any language at the edge (a `Text`, typed
    as the `str` it is, so messages mix freely with plain strings)."""
    return Text(template, args)


def msgn(singular: str, plural: str, count: int, **args: object) -> str:
    """A message that depends on a count (`1 error`, `2 errors`); `count` is an argument."""
    return Text(singular, {"count": count, **args}, plural, count)


def localize(value: object, language: str | None = None) -> str:
    """`value` as text in `language` (default: the current one); plain strings — names,
    the flow's own labels, numbers — stay as they are. An exception raised with one
    message says that message."""
    if isinstance(value, BaseException) and len(value.args) == 1:
        value = value.args[0] if isinstance(value.args[0], Localizable) else value
    if isinstance(value, Localizable):
        return value.localize(language or _CURRENT.get())
    return str(value)


def tr(template: str, **args: object) -> str:
    """Translate now, in the current language: for text the edge prints at once."""
    return localize(Text(template, args))


def trn(singular: str, plural: str, count: int, **args: object) -> str:
    """`tr` for a message that depends on a count."""
    return localize(msgn(singular, plural, count, **args))


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of `language` (English: none, the templates are English)."""
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])


# ---------------------------------------------------------------- choosing the language


class UnknownLanguage(ValueError):
    """`--lang` or FLOWDESK_LANG names a language Flowdesk does not speak."""


def normalize(name: str) -> str | None:
    """`zh`, `zh-CN`, `zh_CN.UTF-8`, `C.UTF-8`… as one of LANGUAGES, or None if unknown."""
    base = name.split(".")[0].split("@")[0].replace("-", "_").lower()
    if base.startswith("zh"):
        return "zh_CN"
    if base in ("en", "c", "posix") or base.startswith("en_"):
        return "en"
    return None


def choose_language(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """`--lang`, then FLOWDESK_LANG, then the locale (LC_ALL, LC_MESSAGES, LANG): Chinese
    when it is Chinese, English otherwise. A bad explicit choice is an error, not a guess."""
    env = os.environ if environ is None else environ
    for source, value in (("--lang", flag), ("FLOWDESK_LANG", env.get("FLOWDESK_LANG"))):
        if value:
            chosen = normalize(value)
            if chosen is None:
                raise UnknownLanguage(
                    tr(
                        "{source}: unknown language `{value}`; Flowdesk speaks {languages}",
                        source=source,
                        value=value,
                        languages="en, zh_CN",
                    )
                )
            return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return normalize(env[name]) or "en"
    return "en"


def current_language() -> str:
    """The language messages are rendered in now."""
    return _CURRENT.get()


def set_language(language: str) -> None:
    """Render messages in `language` from now on (the CLI calls this once, at start)."""
    _CURRENT.set(language)


@contextmanager
def language(chosen: str) -> Iterator[None]:
    """Render messages in `chosen` inside the block (tests, a request of the server)."""
    token = _CURRENT.set(chosen)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def html_lang(language: str | None = None) -> str:
    """The `lang` attribute of a page in `language` (BCP 47: `zh-CN`, `en`)."""
    return (language or _CURRENT.get()).replace("_", "-")


class Listing(str):
    """Names or phrases in a row (`a`, `b`, `c`): English commas now, the language's
    separator (、in Chinese) at the edge, each item localized. With a `separator` (a line
    break, say) that one is used in every language."""

    __slots__ = ("items", "separator")
    items: tuple[object, ...]
    separator: str | None

    def __new__(cls, items: Iterable[object], separator: str | None = None) -> Listing:
        kept = tuple(items)
        self = super().__new__(cls, (separator or ", ").join(str(i) for i in kept))
        self.items, self.separator = kept, separator
        return self

    def localize(self, language: str) -> str:
        separator = self.separator or ("、" if language == "zh_CN" else ", ")
        return separator.join(localize(i, language) for i in self.items)

    def __reduce__(self) -> tuple[object, ...]:
        return (Listing, (self.items, self.separator))


def safe(text: object) -> str:
    """Text from outside (file names, flow texts, messages quoting input) as a rich terminal
    prints it: in the reader's language, markup escaped, control and invisible characters
    shown as `<U+…>`."""
    from rich.markup import escape

    from engine.limits import visible

    return escape(visible(localize(text)))


def error_line(text: str) -> str:
    """`error: text` for a rich terminal, the word in the reader's language (`text` must
    already be safe for rich: markup escaped)."""
    word = tr("error")
    return f"[red]{word}:[/] {text}"
