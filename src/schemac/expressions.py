"""Expression safety: compile each CHECK, WHERE and SQL default inside a throwaway SQLite database.

The lexical scan in :mod:`schemac.model` already guarantees one parenthesis-balanced expression
without statements, comments or subqueries. Here SQLite compiles it where it will stand — a
``CHECK`` of a table holding only the table's own columns, the ``WHERE`` of a partial index, a
column ``DEFAULT`` — so an unknown function, a syntax error, another table's column, a ``VALUES``
subquery or a non-deterministic index condition is refused before anything is rendered. Sample
rows (all NULL, all 0) are then inserted, because SQLite refuses some expressions only when it
evaluates them, such as ``datetime('now')`` in a CHECK. Every probe is rolled back.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from functools import cache

from .errors import Diagnostic
from .model import Spec, Table

# What the expression is → the statements that compile it in place, then the sample rows.
_PROBES = {
    "check": ("CREATE TABLE {table} ({columns}, CHECK ({expression}))",),
    "index condition": (
        "CREATE TABLE {table} ({columns})",
        'CREATE INDEX "schemac_probe" ON {table} ({first}) WHERE {expression}',
    ),
    "default": ("SELECT ({expression})", "CREATE TABLE {table} ({columns} DEFAULT ({expression}))"),
}
_SAMPLE_ROWS = {
    "check": ("INSERT INTO {table} VALUES ({nulls})", "INSERT INTO {table} VALUES ({zeros})"),
    "index condition": ("INSERT INTO {table} VALUES ({nulls})", "INSERT INTO {table} VALUES ({zeros})"),
    "default": ("INSERT INTO {table} DEFAULT VALUES",),
}


@cache
def _connection() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def sqlite_problem(what: str, expression: str, table: str, columns: tuple[str, ...]) -> str | None:
    """SQLite's complaint about ``expression`` used as ``what`` on ``table(columns)``, or ``None``."""
    names = [_quote(c) for c in columns]
    fields = {
        "table": _quote(table),
        "columns": ", ".join(names),
        "first": names[0],
        "expression": expression,
        "nulls": ", ".join(["NULL"] * len(names)),
        "zeros": ", ".join(["0"] * len(names)),
    }
    con = _connection()
    con.execute("SAVEPOINT schemac_probe")
    try:
        for statement in _PROBES[what]:
            con.execute(statement.format(**fields))
        for row in _SAMPLE_ROWS[what]:
            with contextlib.suppress(sqlite3.IntegrityError):  # a rule refusing a sample row is working
                con.execute(row.format(**fields))
    except (sqlite3.Error, sqlite3.Warning) as exc:
        return str(exc)
    finally:
        con.execute("ROLLBACK TO schemac_probe")
        con.execute("RELEASE schemac_probe")
    return None


def _all_pass(table: Table) -> bool:
    """Whether every CHECK and index condition of ``table`` passes its probe, asked in one go.

    One table holds all the checks and one index per condition, then takes the sample rows. When
    nothing at all is refused, each expression alone would pass too; anything else (a sample row
    refused by a check included) sends the table through the probes one expression at a time.
    """
    names = [_quote(c) for c in table.column_names]
    checks = "".join(f", CHECK ({c.expression})" for c in table.checks)
    con = _connection()
    con.execute("SAVEPOINT schemac_probe")
    try:
        con.execute(f"CREATE TABLE {_quote(table.name)} ({', '.join(names)}{checks})")
        for i, index in enumerate(i for i in table.indexes if i.predicate):
            con.execute(
                f'CREATE INDEX "schemac_probe_{i}" ON {_quote(table.name)} ({names[0]}) WHERE {index.predicate}'
            )
        for value in ("NULL", "0"):
            con.execute(f"INSERT INTO {_quote(table.name)} VALUES ({', '.join([value] * len(names))})")
    except (sqlite3.Error, sqlite3.Warning):
        return False
    finally:
        con.execute("ROLLBACK TO schemac_probe")
        con.execute("RELEASE schemac_probe")
    return True


def check_tables(spec: Spec, tables: Iterable[Table]) -> list[Diagnostic]:
    """Findings for every expression of ``tables`` (as declared by ``spec``), located at the expression."""
    found = []
    for table in tables:
        base = ("tables", table.name)
        columns = table.column_names
        items: list[tuple[tuple[int, int], str, str, tuple[str, ...]]]
        items = [(c.where, "check", c.expression, columns) for c in table.checks]
        items += [
            (spec.at(*base, "indexes", i, "where"), "index condition", index.predicate, columns)
            for i, index in enumerate(table.indexes)
            if index.predicate
        ]
        if items and table.column_names and _all_pass(table):
            items = []
        items += [
            (spec.at(*base, "columns", c.name, "default", "sql"), "default", str(c.default.value), (c.name,))
            for c in table.columns
            if c.default is not None and c.default.kind == "sql"
        ]
        for where, what, expression, scope in items:
            problem = sqlite_problem(what, expression, table.name, scope)
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
