"""Dialects as data: type maps, quoting and literal rules per database engine, one module per engine.

Rendering asks a :class:`Dialect` for facts; there are no ``if dialect == ...`` chains. Each engine's
module (:mod:`~schemac.dialects.sqlite`, :mod:`~schemac.dialects.postgresql`,
:mod:`~schemac.dialects.mariadb`) holds its Dialect and its :class:`~schemac.dialects.base.Database`;
this package registers them, by name, in :data:`DIALECTS` and :data:`DATABASES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemac.dialects.base import BOOLEAN_CHECK, ENUM_CHECK, IN_PLACE_DEFAULT, IN_PLACE_KINDS, Database, Dialect
from schemac.dialects.mariadb import MARIADB, MARIADB_INDEXED_TEXT_LENGTH, MariaDBDatabase
from schemac.dialects.postgresql import POSTGRESQL, PostgreSQLDatabase
from schemac.dialects.sqlite import SQLITE, SQLiteDatabase
from schemac.errors import Diagnostic
from schemac.model import Column, ForeignKey, Spec, Table, Where
from schemac.spec.checks import derived_checks

__all__ = [
    "BOOLEAN_CHECK",
    "DATABASES",
    "DIALECTS",
    "ENUM_CHECK",
    "IN_PLACE_DEFAULT",
    "IN_PLACE_KINDS",
    "MARIADB",
    "MARIADB_INDEXED_TEXT_LENGTH",
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "get",
    "unsupported",
]

_ENGINES: tuple[tuple[Dialect, type[Database]], ...] = (
    (SQLITE, SQLiteDatabase),
    (POSTGRESQL, PostgreSQLDatabase),
    (MARIADB, MariaDBDatabase),
)
DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect, _ in _ENGINES}
"""The engines schemac knows, by name (``dialects`` in ``schemac.toml``, a URL's engine)."""
DATABASES: dict[str, type[Database]] = {dialect.name: database for dialect, database in _ENGINES}
"""Engine name → the :class:`~schemac.dialects.base.Database` :func:`~schemac.dialects.connections.connect` opens."""


def get(name: str) -> Dialect:
    return DIALECTS[name]


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _blocking_action(dialect: Dialect, fk: ForeignKey) -> str:
    """``on delete set null`` (or the like): the first of ``fk``'s actions that blocks checks on ``dialect``."""
    for event, action in (("delete", fk.on_delete), ("update", fk.on_update)):
        if (event, action) in dialect.check_blocking_actions:
            return f"on {event} {action}"
    return ""


def _checks_on_changing_key(dialect: Dialect, table: Table, fk: ForeignKey) -> list[tuple[Where, str]]:
    """(where, name) of every check of ``table`` that names a column ``fk`` sets or cascades on
    ``dialect``: the derived checks of those columns (at the column) and the table's own checks."""
    if not _blocking_action(dialect, fk):
        return []
    columns = set(fk.columns)
    found = [
        (column.where, check.name)
        for column in table.columns
        if column.name in columns
        for check in derived_checks(table.name, column, dialect)
    ]
    for check in table.checks:
        words = set(_WORD.findall(_STRING_LITERAL.sub("", check.expression).lower()))
        if words & columns:
            found.append((check.where, check.name))
    return found


def _keys_and_indexes(table: Table) -> list[tuple[Where | None, str, list[Column | None]]]:
    """(where, what, columns) of the primary key (where: None, each column's own), each index and each
    foreign key of ``table``."""
    found: list[tuple[Where | None, str, list[Column | None]]] = [
        (None, "the primary key", [table.column(c) for c in table.primary_key])
    ]
    found += [(i.where, f"index '{i.name}'", [table.column(c.name) for c in i.columns]) for i in table.indexes]
    found += [(f.where, f"foreign key {f.name}", [table.column(c) for c in f.columns]) for f in table.foreign_keys]
    return found


def unsupported(dialect: Dialect, spec: Spec, tables: Iterable[Table]) -> list[Diagnostic]:
    """What ``dialect`` cannot express in the ``tables`` that ``spec`` declares, each at its line."""
    found: list[Diagnostic] = []

    def refuse(where: tuple[int, int], code: str, message: str, hint: str) -> None:
        found.append(Diagnostic(spec.file, where[0], where[1], code, f"{message} on {dialect.name}", hint))

    for table in tables:
        for where, what, columns in _keys_and_indexes(table):
            for column in columns:
                if column is not None and column.type.name in dialect.unindexable_types:
                    sql_type = dialect.sql_type(column.type)
                    refuse(
                        column.where if where is None else where,
                        "SC324",
                        f"{what} of table '{table.name}' holds {column.type} column '{column.name}', which cannot "
                        "be indexed in full",
                        f"{dialect.name} stores it as {sql_type}, which has no full-length index: leave the column "
                        f"out of keys and indexes, or remove {dialect.name} from dialects",
                    )
        for index in table.indexes:
            if index.unique and index.predicate and not dialect.partial_indexes:
                refuse(
                    index.where,
                    "SC320",
                    f"partial unique index '{index.name}' of table '{table.name}' cannot be created: "
                    "there is no CREATE INDEX ... WHERE",
                    f"make the index unique over all rows, or remove {dialect.name} from dialects",
                )
        for fk in table.foreign_keys:
            for action in {fk.on_delete, fk.on_update} & dialect.unsupported_fk_actions:
                refuse(fk.where, "SC322", f"foreign key {fk.name}: '{action}' is not supported", "use another action")
            for where, check in _checks_on_changing_key(dialect, table, fk):
                refuse(
                    where,
                    "SC323",
                    f"check '{check}' of table '{table.name}' names a column of foreign key {fk.name}, "
                    f"whose {_blocking_action(dialect, fk)} changes that column: the engine refuses such a check",
                    "drop the check or the enum, or use another referential action",
                )
        if '"' in dialect.string_quotes:
            expressions = [(c.where, c.expression) for c in table.checks]
            expressions += [
                (c.where, str(c.default.value)) for c in table.columns if c.default and c.default.kind == "sql"
            ]
            for where, text in expressions:
                if '"' in _STRING_LITERAL.sub("", text):
                    refuse(
                        where,
                        "SC321",
                        f"expression of table '{table.name}' uses a double-quoted name, which is a string",
                        "write column names without quotes",
                    )
    return found
