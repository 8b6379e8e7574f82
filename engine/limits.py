"""Every bound Flowdesk puts on what people and programs send it, in one place.

Each limit is data (`LIMITS`, documented in docs/language.md §12): the front-end, the YAML
reader, field validation and the hosts read these constants, never their own numbers. A
limit that is passed gives a located diagnostic or a typed error that names it, so input
from anywhere ends in bounded time and memory, with nothing changed.

Also here: how untrusted text is echoed back in an error (`shorten`, `visible`): never whole,
never with invisible or control characters printed raw.
"""

from __future__ import annotations

import os
import reprlib
import stat
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from engine.i18n import msg


@dataclass(frozen=True, slots=True)
class Limit:
    """One bound: its name (as errors say it), the number, its unit and what it bounds."""

    name: str
    value: int
    unit: str
    bounds: str


# ---------------------------------------------------------------- files
MAX_FILE_BYTES = 2 * 1024 * 1024  # a .flow, calendars, scenario or profile file
MAX_LINE_CHARS = 2_000  # one line of a .flow file
# ---------------------------------------------------------------- the language
MAX_EXPRESSION_DEPTH = 48  # operators nested in one expression (`a and b and c` is 2)
MAX_NUMBER_CHARS = 20  # digits of a number literal (int64 holds 18)
MAX_DURATION_DAYS = 36_525  # 100 years: timers, SLAs, scenario steps
MIN_YEAR, MAX_YEAR = 1900, 2200  # dates and date-times, in a flow or in case data
# ---------------------------------------------------------------- case data
MAX_TEXT_CHARS = 10_000  # one text field's value
MAX_INT = 10**18  # magnitude of a whole-number field (fits a 64-bit integer)
MAX_DATA_KEYS = 200  # keys in the data of one open or event
MAX_NAME_CHARS = 200  # an actor, a role or a case id given by a caller
MAX_SCENARIO_STEPS = 20_000  # timer firings and schedule occurrences in one scenario run
# ---------------------------------------------------------------- YAML
MAX_YAML_NODES = 100_000  # values in one document, aliases counted as expanded
MAX_YAML_DEPTH = 64  # nested lists and mappings
# ---------------------------------------------------------------- echoing input back
MAX_ECHO_CHARS = 80  # of a bad value or line, in an error message

MAX_DURATION = timedelta(days=MAX_DURATION_DAYS)

LIMITS: tuple[Limit, ...] = (
    Limit("file-size", MAX_FILE_BYTES, "bytes",
          "a .flow, calendars, scenario or profile file"),
    Limit("line-length", MAX_LINE_CHARS, "characters", "one line of a .flow file"),
    Limit("expression-depth", MAX_EXPRESSION_DEPTH, "levels",
          "operators, calls and lists nested in one expression"),
    Limit("number-length", MAX_NUMBER_CHARS, "characters", "a number written in a flow"),
    Limit("duration", MAX_DURATION_DAYS, "days",
          "a duration in a flow or a scenario step (100 years)"),
    Limit("year-range", MAX_YEAR, f"(from {MIN_YEAR})",
          "the year of a date or date-time in a flow or in case data"),
    Limit("text-length", MAX_TEXT_CHARS, "characters", "one text value in case or event data"),
    Limit("int-range", MAX_INT, "(±)", "a whole-number value in case or event data"),
    Limit("data-keys", MAX_DATA_KEYS, "keys", "the data of one open or one event"),
    Limit("name-length", MAX_NAME_CHARS, "characters",
          "an actor, a role or a case id a caller gives"),
    Limit("scenario-steps", MAX_SCENARIO_STEPS, "steps",
          "timer firings and schedule occurrences while one scenario runs"),
    Limit("yaml-nodes", MAX_YAML_NODES, "values",
          "one YAML document, each alias counted as the values it repeats"),
    Limit("yaml-depth", MAX_YAML_DEPTH, "levels", "lists and mappings nested in a YAML file"),
)  # fmt: skip


class LimitExceeded(ValueError):
    """Input past one of `LIMITS`; `limit` names which."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


# ---------------------------------------------------------------- echoing untrusted text
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # spaces (Zs) show as blanks


def _invisible(ch: str) -> bool:
    """Control (but tab and newline), format (zero-width, bidi), surrogate, private-use,
    unassigned and line/paragraph-separator characters."""
    return ch not in "\t\n" and unicodedata.category(ch) in _HIDDEN


def visible(text: str) -> str:
    """`text` with every invisible or control character written as `<U+200B>`: an error
    never prints a NUL, a terminal escape or a zero-width space raw."""
    if text.isprintable():
        return text
    return "".join(f"<U+{ord(ch):04X}>" if _invisible(ch) else ch for ch in text)


def char_name(ch: str) -> str:
    """`U+200B ZERO WIDTH SPACE`, or the character itself when it prints."""
    if not _invisible(ch) and ch.isprintable():
        return f"`{ch}`"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def shorten(value: object) -> str:
    """A value as an error shows it: its repr at most `MAX_ECHO_CHARS` long (long texts and
    lists cut in the middle, deep nesting elided), invisible characters made visible."""
    text = _ECHO.repr(value)
    if len(text) > MAX_ECHO_CHARS:  # a long repr of something reprlib does not cut
        text = text[: MAX_ECHO_CHARS - 1] + "…"
    return visible(text)


def clip(text: object) -> str:
    """A name or text from outside (an event, a role, a case id) as a message quotes it: at
    most `MAX_ECHO_CHARS` characters, invisible ones made visible."""
    text = str(text)
    if len(text) > MAX_ECHO_CHARS:
        text = text[: MAX_ECHO_CHARS - 1] + "…"
    return visible(text)


_ECHO = reprlib.Repr()
_ECHO.maxstring = _ECHO.maxother = MAX_ECHO_CHARS
_ECHO.maxlevel, _ECHO.maxlist, _ECHO.maxdict = 3, 6, 6


# ---------------------------------------------------------------- reading files
def not_utf8(exc: UnicodeDecodeError) -> tuple[int, int, str]:
    """Where a file stops being UTF-8: (line, column, `byte 0xFF is not UTF-8`)."""
    data = exc.object[: exc.start]
    line = data.count(b"\n") + 1
    column = len(data[data.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
    return line, column, msg("byte 0x{object:02X} is not UTF-8", object=exc.object[exc.start])


def read_text(path: Path, what: str) -> str:
    """A user's file as text, refused (OSError/LimitExceeded/UnicodeDecodeError) when it is
    not a regular file (a device, a pipe: `/dev/zero` never ends) or is over `MAX_FILE_BYTES`.
    Never reads more than the limit."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(msg("{path} is not a regular file", path=path))
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceeded(
            "file-size",
            msg(
                "the {what} is larger than {value} MiB",
                what=what,
                value=MAX_FILE_BYTES // 1024 // 1024,
            ),
        )
    return data.decode("utf-8")
