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

from schemac.dialects.base import STEP_NO_TRANSACTION, STEP_TRANSACTION, Database


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


@dataclass(frozen=True)
class Step:
    """Statements of a migration file the applier runs together: in one transaction, or (``transaction``
    false) one at a time outside any, each of them re-runnable."""

    transaction: bool
    start: int
    """How many statements of the file come before it."""
    statements: tuple[Statement, ...]

    @property
    def end(self) -> int:
        """How many statements of the file have run once it has."""
        return self.start + len(self.statements)


def split_steps(text: str, statements: list[Statement]) -> list[Step]:
    """The steps of a migration file whose ``statements`` (:func:`split_statements`) are given: a marker line
    (``STEP_TRANSACTION``, ``STEP_NO_TRANSACTION``) between two statements starts one. A marker before the
    first statement (the header, which quotes a spec's description) or inside a statement is not one. A file
    without markers is one step, in a transaction."""
    markers = {STEP_TRANSACTION: True, STEP_NO_TRANSACTION: False}
    starts: dict[int, bool] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if line in markers:
            following = next((i for i, s in enumerate(statements) if s.line > number), None)
            if following and statements[following - 1].line + statements[following - 1].sql.count("\n") < number:
                starts[following] = markers[line]
    steps: list[Step] = []
    first, transaction = 0, True
    for index in (*sorted(starts), len(statements)):
        if index > first or (steps == [] and index == len(statements)):
            steps.append(Step(transaction, first, tuple(statements[first:index])))
        first, transaction = index, starts.get(index, True)
    return steps


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


_ASKED_OPTIONS = re.compile(r"(?:[\s,]+(?:ALGORITHM|LOCK)\s*=\s*\w+)+[\s;]*\Z", re.IGNORECASE)
"""The ``ALGORITHM=…`` and ``LOCK=…`` options a statement ends with (looked for in its last 200 characters)."""
NO_ALGORITHM = "no ALGORITHM: the server chooses"


def asked_algorithms(pattern: re.Pattern[str] | None, statements: list[Statement]) -> tuple[tuple[int, str], ...]:
    """(line, options) of each of ``statements`` that ``pattern`` says changes a table's structure: the
    ``ALGORITHM`` and ``LOCK`` it ends with (``ALGORITHM=INSTANT``), or :data:`NO_ALGORITHM`."""
    found = []
    for statement in statements:
        if not matches(pattern, statement.sql):
            continue
        tail = _ASKED_OPTIONS.search(statement.sql[-200:])
        options = re.findall(r"\b(?:ALGORITHM|LOCK)\s*=\s*\w+", tail.group(), re.IGNORECASE) if tail else []
        found.append((statement.line, ", ".join(options) or NO_ALGORITHM))
    return tuple(found)
