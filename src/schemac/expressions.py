"""Expression safety: parse each CHECK, WHERE and SQL default inside a throwaway SQLite database.

The lexical scan in :mod:`schemac.model` already guarantees one parenthesis-balanced expression
without statements, comments or subqueries. Here SQLite builds it into real DDL over a table
holding only the table's own columns, so an unknown function, a syntax error, another table's
column or a non-deterministic function where SQLite forbids one is refused before rendering.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from functools import cache

from .errors import Diagnostic
from .model import Spec, Table


@cache
def _connection() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def sqlite_problem(expression: str, table: str | None, columns: tuple[str, ...], kind: str = "check") -> str | None:
    """SQLite's complaint about ``expression`` used as ``kind`` over ``table(columns)``, or ``None``.

    The expression goes into real DDL (a CHECK, a partial index, or a column DEFAULT when ``table``
    is None) inside a transaction that is rolled back, and sample rows are inserted (all NULL and
    all 0, or the default): SQLite refuses some expressions only then, such as ``datetime('now')``
    in a CHECK or an unknown function in a DEFAULT.
    """
    name = _quote(table or "default_probe")
    names = [_quote(c) for c in columns] or ['"probe"']
    if table is None:
        statements = [f'CREATE TABLE {name} ("probe" DEFAULT ({expression}))']
    elif kind == "index condition":
        statements = [
            f"CREATE TABLE {name} ({', '.join(names)})",
            f'CREATE INDEX "probe_index" ON {name} ({names[0]}) WHERE ({expression})',
        ]
    else:
        statements = [f"CREATE TABLE {name} ({', '.join(names)}, CHECK ({expression}))"]
    rows = [f"INSERT INTO {name} VALUES ({', '.join([value] * len(names))})" for value in ("NULL", "0")]
    if table is None:
        rows = [f"INSERT INTO {name} DEFAULT VALUES"]
    con = _connection()
    con.execute("BEGIN")
    try:
        for statement in statements:
            con.execute(statement)
        for row in rows:
            with contextlib.suppress(sqlite3.IntegrityError):  # the rule refusing a sample row is fine
                con.execute(row)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        con.execute("ROLLBACK")
    return None


def check_tables(spec: Spec, tables: Iterable[Table]) -> list[Diagnostic]:
    """Findings for every expression of ``tables`` (as declared by ``spec``)."""
    found = []
    for table in tables:
        columns = table.column_names
        items: list[tuple[tuple[int, int], str, str, tuple[str, ...] | None]]
        items = [(c.where, "check", c.expression, columns) for c in table.checks]
        items += [(i.where, "index condition", i.predicate, columns) for i in table.indexes if i.predicate]
        items += [
            (c.where, "default", str(c.default.value), None)
            for c in table.columns
            if c.default is not None and c.default.kind == "sql"
        ]
        for where, what, expression, scope in items:
            assert expression is not None
            problem = sqlite_problem(expression, table.name if scope else None, scope or (), what)
            if problem:
                found.append(
                    Diagnostic(
                        spec.file,
                        where[0],
                        where[1],
                        "SC310",
                        f"{what} of table '{table.name}' is not a valid expression over its columns: {problem}",
                        "use only this table's columns and SQL functions",
                    )
                )
    return found
