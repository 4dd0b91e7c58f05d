"""Expression safety: parse each CHECK, WHERE and SQL default inside a throwaway SQLite database.

The lexical scan in :mod:`schemac.model` already guarantees one parenthesis-balanced expression
without statements, comments or subqueries. Here SQLite compiles it against a relation holding
only the table's own columns, so an unknown function, a syntax error, or another table's column
is refused before anything is rendered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from functools import cache

from .errors import Diagnostic
from .model import Spec, Table


@cache
def _connection() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relation(table: str, columns: tuple[str, ...]) -> str:
    """A one-row relation named like the table, holding only its columns (all NULL)."""
    return f"(SELECT {', '.join(f'NULL AS {_quote(c)}' for c in columns) or 'NULL'}) AS {_quote(table)}"


def _explain(sql: str) -> str | None:
    try:
        _connection().execute(f"EXPLAIN {sql}")
    except sqlite3.Error as exc:
        return str(exc)
    return None


@cache
def sqlite_problem(expression: str, table: str | None, columns: tuple[str, ...]) -> str | None:
    """SQLite's complaint about ``expression`` over ``table(columns)``, or ``None`` when it compiles."""
    if table is None:
        return _explain(f"SELECT ({expression})")
    return _explain(f"SELECT 1 FROM {_relation(table, columns)} WHERE ({expression})")


def _all_compile(table: Table, expressions: list[str]) -> bool:
    """Whether every expression compiles over the table, asked in one statement.

    Each expression is one parenthesis-balanced expression (see ``scan_expression``), so their
    conjunction compiles exactly when each of them does.
    """
    if not expressions:
        return True
    condition = " AND ".join(f"({e})" for e in expressions)
    return _explain(f"SELECT 1 FROM {_relation(table.name, table.column_names)} WHERE {condition}") is None


def check_tables(spec: Spec, tables: Iterable[Table]) -> list[Diagnostic]:
    """Findings for every expression of ``tables`` (as declared by ``spec``)."""
    found = []
    for table in tables:
        columns = table.column_names
        items: list[tuple[tuple[int, int], str, str, tuple[str, ...] | None]]
        items = [(c.where, "check", c.expression, columns) for c in table.checks]
        items += [(i.where, "index condition", i.predicate, columns) for i in table.indexes if i.predicate]
        if _all_compile(table, [expression for _, _, expression, _ in items]):
            items = []
        items += [
            (c.where, "default", str(c.default.value), None)
            for c in table.columns
            if c.default is not None and c.default.kind == "sql"
        ]
        for where, what, expression, scope in items:
            assert expression is not None
            problem = sqlite_problem(expression, table.name if scope else None, scope or ())
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
