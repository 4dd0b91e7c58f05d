"""SQL text as tokens: strings, quoted names and comments read whole, so that a parenthesis, comma or
keyword inside one is never taken for SQL. Shared by the importer (a ``CREATE TABLE`` as SQLite keeps
it) and by the dialects (a temporary table's body, renamed)."""

from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = re.compile(
    r"""
    (?P<word>[A-Za-z0-9_$]+)
    |(?P<space>--[^\n]*(?:\n|\Z)|/\*(?s:.*?)(?:\*/|\Z))
    |(?P<string>'(?:[^']|'')*'?)
    |(?P<quoted>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    |(?P<other>[^\s])
    """,
    re.VERBOSE | re.DOTALL,
)
"""One token; blanks match nothing, so the scan passes over them, and comments are read as ``space``."""


class Token(NamedTuple):
    kind: str
    """``string``, ``quoted`` (a quoted name), ``word`` or ``other`` (one character)."""
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text

    @property
    def name(self) -> str:
        """The token as a name: quotes removed (a doubled quote inside is one)."""
        if self.kind != "quoted":
            return self.text
        if self.text[0] == "[":
            return self.text[1:-1]
        quote = self.text[0]
        return self.text[1:-1].replace(quote * 2, quote)


def tokens(sql: str) -> list[Token]:
    """The tokens of ``sql``, blanks and comments left out."""
    return [
        Token(m.lastgroup, m.group(), m.start(), m.end())  # type: ignore[arg-type]
        for m in _TOKEN.finditer(sql)
        if m.lastgroup != "space"
    ]


def closing(items: list[Token], opening: int) -> int:
    """The position in ``items`` of the ``)`` that closes the ``(`` at ``opening`` (``len(items)`` if none)."""
    depth = 0
    for i in range(opening, len(items)):
        if items[i].text == "(":
            depth += 1
        elif items[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(items)
