"""Statements of a migration file, and the live schema as a resumable run follows it.

:func:`split_statements` cuts a file into the statements an engine runs one by one; :class:`LiveSchema`
keeps a digest per object of the live schema, so that a run on an engine without transactional DDL
can record what each statement changed (see :mod:`schemac.applier.runner`).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass

from schemac.dialects.base import Database


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int


def split_statements(text: str) -> list[Statement]:
    """The statements of a migration file, each with the line it starts on; comments between them dropped.

    A ``;`` ends a statement only where SQLite's tokenizer says the text so far is complete, so a
    ``;`` inside a string literal, quoted name or comment never splits. The scan skips those the way
    that tokenizer does and asks ``sqlite3.complete_statement`` only at the other ``;`` (where it
    can still say no: inside a ``CREATE TRIGGER … END``), so the work grows with the file's length.
    """
    found: list[Statement] = []
    start = at = 0
    line, counted = 1, 0
    while chunk := _UP_TO_SEMICOLON.match(text, at):
        at = chunk.end()
        if sqlite3.complete_statement(text[start:at]):
            body = _skip_comments(text, start, at - 1)
            line += text.count("\n", counted, body)
            counted = body
            found.append(Statement(text[body:at], line))
            start = at
    return found


_UP_TO_SEMICOLON = re.compile(
    r"""(?:[^;'"`\[/-]+|'[^']*'|"[^"]*"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*(?s:.*?)\*/|-(?!-)|/(?!\*))*+;"""
)
"""Text up to the next ``;`` that SQLite's tokenizer (``sqlite3_complete``) sees outside quotes and
comments, skipping them as it does; no match when every ``;`` left is inside one left open."""


def _skip_comments(text: str, start: int, end: int) -> int:
    """The index of the first character of ``text[start:end]`` that is neither blank nor in a comment."""
    at = start
    while at < end:
        if text[at].isspace():
            at += 1
        elif text.startswith("--", at):
            at = text.find("\n", at) + 1 or end
        elif text.startswith("/*", at):
            at = text.find("*/", at) + 2 or end
        else:
            break
    return at


_WORD = re.compile(r"[\w$]+")
_QUOTED_NAME = re.compile(r"`((?:[^`]|``)+)`|\"((?:[^\"]|\"\")+)\"")


def statement_names(sql: str) -> frozenset[str]:
    """Every name ``sql`` may give an object, lower-cased: each word and each quoted name (more, never fewer)."""
    names = {word.lower() for word in _WORD.findall(sql)}
    for backticked, double_quoted in _QUOTED_NAME.findall(sql):
        names.add((backticked.replace("``", "`") or double_quoted.replace('""', '"')).lower())
    return frozenset(names)


class LiveSchema:
    """The live schema as a run knows it (engines without transactional DDL): a digest per object.

    Read whole once; after each statement only the tables it names are read again, with those whose
    foreign keys or triggers a named object is part of (the child of a renamed parent, the table of a
    dropped trigger). That keeps it equal to a fresh read for any statement that changes only what it
    names. One that changes more leaves it stale: a run resumed after it finds a schema it cannot
    explain and refuses (SC612), never guesses.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.digests = database.schema_digests()

    def refresh(self, *statements: str) -> None:
        named = frozenset().union(*map(statement_names, statements))
        tables = named | {first for first, second in self.digests if second in named}
        kept = {key: digest for key, digest in self.digests.items() if key[0] not in tables}
        self.digests = kept | self.database.schema_digests(tables)

    def fingerprint(self, statement: str | None = None) -> str:
        """SHA-256 of the whole schema, or of the objects ``statement`` names."""
        names = None if statement is None else statement_names(statement)
        lines = sorted(
            f"{first}\0{second}\0{digest}"
            for (first, second), digest in self.digests.items()
            if names is None or first in names or second in names
        )
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def matches(pattern: re.Pattern[str] | None, sql: str) -> bool:
    return bool(pattern and pattern.match(sql))
