"""Source text and spans: where in a `.flow` file a piece of syntax came from."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based, end-exclusive region of a source file (columns count characters)."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int, width: int = 1) -> Span:
        """A span of `width` characters starting at `line:column`."""
        return Span(line, column, line, column + max(width, 1))


@dataclass(frozen=True)
class Source:
    """A named piece of flow text, with its lines split once for diagnostics."""

    path: str
    text: str
    lines: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.text.splitlines()))

    def line(self, number: int) -> str:
        """The text of a 1-based line, or an empty string past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


def display_width(text: str) -> int:
    """Terminal columns taken by `text`: CJK characters are two columns wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
