"""Reading the text of a ``CREATE TABLE`` or ``CREATE INDEX`` statement as SQLite keeps it: tokens, the
parts of a table's body, and what its catalog pragmas do not say (constraint names, unnamed checks,
``AUTOINCREMENT``, table options, a partial index's ``WHERE``).

Strings, quoted names and comments are read whole, so that a parenthesis, comma or keyword inside one
is never taken for SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemac.dialects.sqltokens import Token, closing, tokens


@dataclass(frozen=True)
class CheckText:
    name: str
    """``""`` for a check written without ``CONSTRAINT name``."""
    expression: str
    """The text between the parentheses of ``CHECK (…)``, as written."""
    column: str | None
    """The column whose definition holds it (a column constraint), else None."""


@dataclass
class TableText:
    """What the text of a ``CREATE TABLE`` says beyond the catalog pragmas."""

    checks: list[CheckText] = field(default_factory=list)
    foreign_key_names: dict[tuple[str, ...], str] = field(default_factory=dict)
    """Key columns → the name written with ``CONSTRAINT name`` for the key (only named keys)."""
    autoincrement: list[str] = field(default_factory=list)
    """Columns declared ``AUTOINCREMENT``."""
    options: list[str] = field(default_factory=list)
    """Table options after the body (``WITHOUT ROWID``, ``STRICT``), upper-case."""
    collations: dict[str, str] = field(default_factory=dict)
    """Column → the collation its definition names (``COLLATE NOCASE``)."""


_TABLE_CONSTRAINT = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


def read_table(sql: str) -> TableText:
    """What the ``CREATE TABLE`` statement ``sql`` says of its constraints' names, its unnamed checks,
    ``AUTOINCREMENT``, column collations and its table options."""
    found = TableText()
    items = tokens(sql)
    start = next((i for i, t in enumerate(items) if t.text == "("), None)
    if start is None:  # CREATE TABLE … AS SELECT: nothing to read
        return found
    end = closing(items, start)
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in items[start + 1 : end]:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if token.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    for part in parts:
        if part:
            _read_definition(sql, part, found)
    tail = [t.upper for t in items[end + 1 :] if t.kind == "word"]
    i = 0
    while i < len(tail):
        if tail[i] == "WITHOUT" and i + 1 < len(tail):
            found.options.append(f"WITHOUT {tail[i + 1]}")
            i += 2
        else:
            found.options.append(tail[i])
            i += 1
    return found


def _read_definition(sql: str, part: list[Token], found: TableText) -> None:
    column = None if part[0].upper in _TABLE_CONSTRAINT else part[0].name
    name = ""
    i = 0 if column is None else 1
    while i < len(part):
        word = part[i].upper
        if word == "CONSTRAINT" and i + 1 < len(part):
            name = part[i + 1].name
            i += 2
            continue
        if word == "CHECK" and i + 1 < len(part) and part[i + 1].text == "(":
            end = closing(part, i + 1)
            body = sql[part[i + 1].end : part[end].start] if end < len(part) else sql[part[i + 1].end :]
            found.checks.append(CheckText(name, body, column))
            name, i = "", end + 1
            continue
        if word == "FOREIGN" and column is None:
            opening = next((j for j in range(i, len(part)) if part[j].text == "("), len(part))
            end = closing(part, opening)
            columns = tuple(t.name for t in part[opening + 1 : end] if t.text != ",")
            if name:
                found.foreign_key_names[columns] = name
            name, i = "", end + 1
            continue
        if word == "REFERENCES" and column is not None:
            if name:
                found.foreign_key_names[(column,)] = name
            name = ""
        elif word == "AUTOINCREMENT" and column is not None:
            found.autoincrement.append(column)
        elif word == "COLLATE" and column is not None and i + 1 < len(part):
            found.collations[column] = part[i + 1].name
        elif word in ("PRIMARY", "UNIQUE", "NOT", "NULL", "DEFAULT", "GENERATED", "AS"):
            name = ""
        if part[i].text == "(":  # a type's parameters, a default expression: nothing named inside
            i = closing(part, i) + 1
            continue
        i += 1


def index_predicate(sql: str) -> str | None:
    """The ``WHERE`` of the ``CREATE INDEX`` statement ``sql`` as written, or None."""
    items = tokens(sql)
    start = next((i for i, t in enumerate(items) if t.text == "("), None)
    if start is None:
        return None
    end = closing(items, start)
    if end + 1 < len(items) and items[end + 1].upper == "WHERE":
        return sql[items[end + 1].end :].strip().rstrip(";").strip()
    return None
