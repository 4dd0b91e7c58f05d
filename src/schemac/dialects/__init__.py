"""Dialects as data: type maps, quoting and literal rules per database engine.

Rendering asks a :class:`Dialect` for facts; there are no ``if dialect == ...`` chains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from schemac.errors import Diagnostic
from schemac.model import Column, ColumnType, Default, ForeignKey, Spec, Table, Where, derived_checks

ENUM_CHECK = {"enum": "{column} IN ({values})"}
"""Every engine needs a check for an enum."""
BOOLEAN_CHECK = "{column} IN (0, 1)"

IN_PLACE_DEFAULT = frozenset(
    {
        "create_table",
        "create_index",
        "drop_index",
        "drop_table",
        "rename_table",
        "rename_column",
        "add_column",
        "insert_column",  # an engine without column positions appends it: column order then differs
        "add_constrained_column",
        "drop_column",
        "drop_constrained_column",
        "alter_column",
        "alter_primary_key",
        "add_check",
        "drop_check",
        "add_foreign_key",
        "drop_foreign_key",
    }
)


@dataclass(frozen=True)
class Dialect:
    name: str
    types: MappingProxyType[str, str]
    """Logical type name → SQL type; ``{length}`` and ``{scale}`` are filled from the column type."""
    quote: str = '"'
    true: str = "TRUE"
    false: str = "FALSE"
    check_templates: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType(ENUM_CHECK))
    """Kind → body of the check derived from a column (see :func:`schemac.model.derived_checks`), for each
    rule the engine's types do not enforce: ``{column}`` (quoted), ``{values}`` (the enum's literals),
    ``{length}`` (of ``string(n)``)."""
    renames_constraints: bool = False
    """Whether ``ALTER TABLE … RENAME CONSTRAINT`` renames a check (else it is dropped and added again)."""
    retype_rewrites_checks: bool = False
    """Whether a column's type change rewrites the checks on it in a form a fresh ``CHECK`` does not take
    (PostgreSQL keeps the old type's casts), so its derived checks are made again."""
    retype_casts_default: bool = False
    """Whether a type change casts the column's default to the new type (PostgreSQL: it fails where no
    implicit cast exists, and keeps the old type's cast where one does), so the default is dropped
    before the change and set again after, as a fresh ``CREATE TABLE`` writes it."""
    keys_need_index: bool = False
    """Whether each foreign key needs an index led by its columns, and takes an index of the user's for
    it (InnoDB, which refuses to drop that index, error 1553): dropping the last such index adds, in the
    same statement, one named after the key, as the engine names the one it makes itself."""
    unindexable_types: frozenset[str] = frozenset()
    """Logical types the engine cannot index in full (MariaDB's json is LONGTEXT): a key or index over a
    column of one is refused (SC324)."""
    escape_backslash: bool = False
    """Whether a string literal holding ``\\`` doubles it: the engine may read it as an escape character."""
    escape_prefix: str = ""
    """Written before a literal holding ``\\`` (with ``escape_backslash``), so that it reads the same
    whatever the server's settings say (PostgreSQL's ``E'…'``, whatever ``standard_conforming_strings`` is)."""
    indexed_types: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Type overrides for columns in a key or index (an engine that cannot index an unbounded TEXT)."""
    partial_indexes: bool = True
    """Whether ``CREATE INDEX ... WHERE`` exists; without it a partial index is a full one (unique: refused)."""
    string_quotes: str = "'"
    """Characters that open a string literal; a ``"`` here means ``"name"`` in an expression is a string."""
    catalog_types: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """How the engine's catalog spells a type this dialect writes (lowercase), for ``verify``."""
    fk_default_action: str = "no action"
    """The ``ON DELETE``/``ON UPDATE`` rule the catalog reports when a foreign key names none."""
    unsupported_fk_actions: frozenset[str] = frozenset()
    """Referential actions the engine refuses (InnoDB parses ``SET DEFAULT`` but rejects it)."""
    check_blocking_actions: frozenset[tuple[str, str]] = frozenset()
    """(event, action) pairs of a foreign key after which the engine refuses every CHECK that names one of
    its columns (MariaDB: a key that sets or cascades its columns, error 1901)."""
    extra: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    in_place: frozenset[str] = IN_PLACE_DEFAULT
    """Operation kinds (see :mod:`schemac.planner`) made with ALTER; a table needing any other is rebuilt."""
    keyed: frozenset[tuple[str, str]] = frozenset()
    """(table, column) pairs in a key or index of the schema being rendered; set per version by the renderer."""
    was_keyed: frozenset[tuple[str, str]] = frozenset()
    """The same pairs for the schema before the version being rendered."""
    renamed_tables: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """New table name → previous name, for the version being rendered; set per version by the renderer."""
    renamed_columns: MappingProxyType[tuple[str, str], str] = field(default_factory=lambda: MappingProxyType({}))
    """(table, new column name) → previous name, likewise."""

    def ident(self, name: str) -> str:
        """A quoted identifier; names are already validated, so quoting is defence in depth."""
        return f"{self.quote}{name.replace(self.quote, self.quote * 2)}{self.quote}"

    def sql_type(self, ctype: ColumnType, indexed: bool = False) -> str:
        """The column type; ``indexed`` when the column is part of a key, index or foreign key."""
        pattern = self.indexed_types.get(ctype.name) if indexed else None
        return (pattern or self.types[ctype.name]).format(length=ctype.length, scale=ctype.scale)

    def string(self, value: str) -> str:
        """A string literal; one without a backslash is the same ``'…'`` on every engine."""
        prefix = ""
        if self.escape_backslash and "\\" in value:
            value, prefix = value.replace("\\", "\\\\"), self.escape_prefix
        return prefix + "'" + value.replace("'", "''") + "'"

    def literal(self, value: str | int | float | bool | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.true if value else self.false
        if isinstance(value, int | float):
            return repr(value)
        return self.string(value)

    def default(self, default: Default) -> str:
        if default.kind == "sql":
            return f"({default.value})"
        if default.kind == "json":
            return self.string(str(default.value))
        return self.literal(default.value)


SQLITE = Dialect(
    name="sqlite",
    types=MappingProxyType(
        {
            "text": "TEXT",
            "string": "TEXT",
            "integer": "INTEGER",
            "bigint": "INTEGER",
            "smallint": "INTEGER",
            "boolean": "INTEGER",
            "real": "REAL",
            "double": "REAL",
            "decimal": "NUMERIC",
            "timestamp": "TEXT",
            "date": "TEXT",
            "json": "TEXT",
            "uuid": "TEXT",
            "bytes": "BLOB",
        }
    ),
    true="1",
    false="0",
    check_templates=MappingProxyType(
        {**ENUM_CHECK, "boolean": BOOLEAN_CHECK, "length": "length({column}) <= {length}"}
    ),
    # SQLite's ALTER TABLE can rename, append a plain column and drop an unconstrained one; every
    # other change to a table is its documented rebuild (new table, copy rows, drop, rename).
    in_place=frozenset(
        {
            "create_table",
            "create_index",
            "drop_index",
            "drop_table",
            "rename_table",
            "rename_column",
            "add_column",
            "drop_column",
        }
    ),
)

POSTGRESQL = Dialect(
    name="postgresql",
    types=MappingProxyType(
        {
            "text": "text",
            "string": "varchar({length})",
            "integer": "integer",
            "bigint": "bigint",
            "smallint": "smallint",
            "boolean": "boolean",
            "real": "real",
            "double": "double precision",
            "decimal": "numeric({length},{scale})",
            "timestamp": "timestamptz",
            "date": "date",
            "json": "jsonb",
            "uuid": "uuid",
            "bytes": "bytea",
        }
    ),
    catalog_types=MappingProxyType({"timestamptz": "timestamp with time zone", "varchar": "character varying"}),
    # A plain '…' reads backslashes as escapes when standard_conforming_strings is off; E'…' always does.
    escape_backslash=True,
    escape_prefix="E",
    renames_constraints=True,
    retype_rewrites_checks=True,
    retype_casts_default=True,
    in_place=IN_PLACE_DEFAULT | {"reorder_columns"},  # column order is kept: see reorder_columns.sql.j2
)

MARIADB_INDEXED_TEXT_LENGTH = 255
"""InnoDB cannot index TEXT without a prefix length, so a text column in a key or index is VARCHAR(255)."""

MARIADB = Dialect(
    name="mariadb",
    types=MappingProxyType(
        {
            "text": "TEXT",
            "string": "VARCHAR({length})",
            "integer": "INT",
            "bigint": "BIGINT",
            "smallint": "SMALLINT",
            "boolean": "BOOLEAN",
            "real": "FLOAT",
            "double": "DOUBLE",
            "decimal": "DECIMAL({length},{scale})",
            "timestamp": "DATETIME(6)",
            "date": "DATE",
            "json": "LONGTEXT",
            "uuid": "CHAR(36)",
            "bytes": "LONGBLOB",
        }
    ),
    indexed_types=MappingProxyType(
        {"text": f"VARCHAR({MARIADB_INDEXED_TEXT_LENGTH})", "bytes": f"VARBINARY({MARIADB_INDEXED_TEXT_LENGTH})"}
    ),
    quote="`",
    check_templates=MappingProxyType({**ENUM_CHECK, "boolean": BOOLEAN_CHECK, "json": "JSON_VALID({column})"}),
    escape_backslash=True,
    partial_indexes=False,
    string_quotes="'\"",
    catalog_types=MappingProxyType(
        {"int": "int(11)", "bigint": "bigint(20)", "smallint": "smallint(6)", "boolean": "tinyint(1)"}
    ),
    fk_default_action="restrict",
    unsupported_fk_actions=frozenset({"set default"}),
    keys_need_index=True,
    unindexable_types=frozenset({"json"}),
    check_blocking_actions=frozenset(
        {("delete", "set null"), ("delete", "set default"), ("update", "cascade"), ("update", "set null")}
        | {("update", "set default")}
    ),
    in_place=IN_PLACE_DEFAULT | {"reorder_columns"},
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLITE, POSTGRESQL, MARIADB)}


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
