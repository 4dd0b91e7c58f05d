"""MariaDB's catalog reader for ``schemac import``: the tables of the connection's database, read from
``information_schema`` with a fixed number of queries whatever the number of tables.

What the catalog shows is kept as it shows it: a column's type is ``COLUMN_TYPE`` (``varchar(40)``,
``decimal(10,2)``, ``int(11)``, ``tinyint(1)``, ``longtext`` for JSON, whose ``json_valid`` check is one of
the table's checks; ``enum(…)`` values keep their case), a default ``COLUMN_DEFAULT`` (a string quoted
with MariaDB's backslash escapes, ``'it\\'s'``; ``NULL``, MariaDB's word for a nullable column without one,
is None), a check its ``CHECK_CLAUSE``: the texts :meth:`MariaDBDatabase.tables()
<schemac.dialects.mariadb.MariaDBDatabase.tables>` gives ``verify``. Tables come by name: MariaDB keeps no
order of creation.

MariaDB makes no difference between a UNIQUE constraint and a unique index: every unique key is one
of :attr:`ImportedTable.indexes`, as schemac makes them (``uniques`` stays empty). The index InnoDB
makes for a foreign key (named after the key, or after its first column when the key has no name) is
left out: InnoDB makes it again for the key.

What a spec cannot express is an :class:`~schemac.importing.catalog.Unsupported`: left out of the
tables when it cannot be part of one (a view, a sequence, a generated column, a FULLTEXT, SPATIAL or
prefix index), reported beside the table when the rest of it can be (an AUTO_INCREMENT column, ``ON
UPDATE``, partitioning, system versioning, another engine than InnoDB, a collation other than the
``utf8mb4_bin`` schemac gives its tables, a table's triggers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from schemac.dialects.base import OWN_TABLES, Row
from schemac.importing.catalog import (
    Catalog,
    ImportedColumn,
    ImportedForeignKey,
    ImportedIndex,
    ImportedTable,
    ServerReader,
)

if TYPE_CHECKING:
    from schemac.dialects.base import Database

RELATION_KINDS = {"VIEW": "view", "SEQUENCE": "sequence", "SYSTEM VIEW": "view"}
"""``TABLES.TABLE_TYPE`` of the relations other than tables → the kind of their :class:`Unsupported`."""
TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")

SCHEMAC_COLLATION = "utf8mb4_bin"
"""How the tables schemac makes compare text (see :data:`schemac.dialects.mariadb.MARIADB`)."""
TABLES = (
    "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, COALESCE(CREATE_OPTIONS, ''), COALESCE(TABLE_COMMENT, ''), "
    "TABLE_COLLATION "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s{only} ORDER BY TABLE_NAME"
)
COLUMNS = (
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, IS_GENERATED, "
    "GENERATION_EXPRESSION, COLUMN_COMMENT, COLLATION_NAME FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s{only} "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
INDEXES = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s{only} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
FOREIGN_KEYS = (
    "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
    "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
    "WHERE TABLE_SCHEMA = %s{only} AND REFERENCED_TABLE_NAME IS NOT NULL "
    "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
)
RULES = (
    "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = %s{only}"
)
"""A foreign key's actions, joined to its columns (:data:`FOREIGN_KEYS`) here: the server takes ten times
as long to join the two views itself."""
CHECKS = (
    "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = %s{only} ORDER BY TABLE_NAME, CONSTRAINT_NAME"
)
PARTITIONS = (
    "SELECT TABLE_NAME, PARTITION_METHOD, PARTITION_EXPRESSION, COUNT(*) FROM information_schema.PARTITIONS "
    "WHERE TABLE_SCHEMA = %s{only} AND PARTITION_NAME IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1"
)
TRIGGERS = (
    "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS "
    "WHERE EVENT_OBJECT_SCHEMA = %s{only} ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME"
)
ROUTINES = (
    "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
    "ORDER BY ROUTINE_TYPE, ROUTINE_NAME"
)
EVENTS = "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY EVENT_NAME"


def read_catalog(database: Database, only: frozenset[str] | None) -> Catalog:
    """The tables of ``database``'s database (``only``: those named), and what a spec cannot hold: its
    views, sequences, routines and events (every object when ``only`` is None; with it, the relations
    named and what belongs to the tables named)."""
    return _Reader(database, only).read()


read = read_catalog


class _Reader(ServerReader):
    def __init__(self, database: Database, only: frozenset[str] | None) -> None:
        super().__init__(database, only)
        self.schema = str(database.query("SELECT DATABASE()")[0][0])
        self.collations: dict[str, str] = {}
        """Table → its default collation."""

    def rows(self, sql: str, column: str = "TABLE_NAME") -> list[Row]:
        """The rows of ``sql`` for this database, of the tables asked for (``{only}`` filters on ``column``)."""
        params: list[Any] = [self.schema]
        only = ""
        if self.only is not None:
            names = sorted(self.only - OWN_TABLES)
            if not names:
                return []
            only = f" AND {column} IN ({', '.join(['%s'] * len(names))})"
            params += names
        return self.database.query(sql.format(only=only), params)

    def read(self) -> Catalog:
        tables: dict[str, str] = {}  # name → comment, by name: MariaDB keeps no order of creation
        partitioned = []
        for name, kind, engine, options, comment, collation in self.rows(TABLES):
            if name in OWN_TABLES:
                continue
            if kind not in TABLE_TYPES:
                self.flag(RELATION_KINDS.get(kind, kind.lower()), name)
                continue
            tables[name] = comment
            if kind == "SYSTEM VERSIONED":
                self.flag("system versioning", name, "WITH SYSTEM VERSIONING")
            if engine and engine != "InnoDB":
                self.flag("table option", name, f"ENGINE={engine}")
            self.collations[name] = collation
            if collation and collation != SCHEMAC_COLLATION:
                self.flag("collation", name, f"COLLATE={collation}: schemac makes tables {SCHEMAC_COLLATION}")
            if "partitioned" in options.split():
                partitioned.append(name)
        if partitioned:
            for name, method, expression, count in self.rows(PARTITIONS):
                if name in tables:
                    self.flag("partition", name, f"partitioned by {method} ({expression}), {count} partitions")
        columns = self.columns(tables)
        foreign_keys = self.foreign_keys(tables)
        indexes = self.indexes(tables, foreign_keys)
        checks: dict[str, list[tuple[str, str]]] = {}
        for table, name, clause in self.rows(CHECKS):
            if table in tables:
                checks.setdefault(table, []).append((name, clause))
        for table, name, timing, event in self.rows(TRIGGERS, "EVENT_OBJECT_TABLE"):
            if table in tables:
                self.flag("trigger", name, f"on {table}: {timing} {event}")
        if self.only is None:
            for name, kind in self.database.query(ROUTINES, (self.schema,)):
                self.flag(str(kind).lower(), name)
            for (name,) in self.database.query(EVENTS, (self.schema,)):
                self.flag("event", name)
        primary: dict[str, tuple[str, ...]] = {}
        for table in tables:
            primary[table] = tuple(column for column, _ in indexes.get(table, {}).pop("PRIMARY", ((), True))[0])
        imported = tuple(
            ImportedTable(
                name,
                tuple(columns.get(name, ())),
                primary[name],
                (),
                tuple(
                    ImportedIndex(index, pairs, unique, None)
                    for index, (pairs, unique) in indexes.get(name, {}).items()
                ),
                tuple(foreign_keys.get(name, ())),
                tuple(checks.get(name, ())),
                comment,
            )
            for name, comment in tables.items()
        )
        return Catalog("mariadb", imported, tuple(self.unsupported))

    def columns(self, tables: dict[str, str]) -> dict[str, list[ImportedColumn]]:
        found: dict[str, list[ImportedColumn]] = {}
        for row in self.rows(COLUMNS):
            table, name, sql_type, nullable, default, extra, generated, expression, comment, collation = row
            if table not in tables:
                continue
            where = f"{table}.{name}"
            if collation and collation != self.collations[table]:
                self.flag("collation", where, f"COLLATE {collation}")
            extras = str(extra or "").lower()
            if generated == "ALWAYS":
                stored = "stored" if "stored" in extras or "persistent" in extras else "virtual"
                self.flag("generated column", where, f"{sql_type} generated always as ({expression}) {stored}")
                continue
            if "on update" in extras:
                self.flag("column option", where, extras[extras.index("on update") :])
            if "invisible" in extras:
                self.flag("column option", where, "invisible")
            shown = None if default in (None, "NULL") else str(default)
            found.setdefault(table, []).append(
                ImportedColumn(
                    name,
                    _lower_type(sql_type),
                    nullable == "YES",
                    shown,
                    comment or "",
                    "auto_increment" if "auto_increment" in extras else "",
                )
            )
        return found

    def foreign_keys(self, tables: dict[str, str]) -> dict[str, list[ImportedForeignKey]]:
        parts: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows(FOREIGN_KEYS):
            if row[0] in tables:
                parts.setdefault((row[0], row[1]), []).append(row)
        rules = {(table, name): (on_delete, on_update) for table, name, on_delete, on_update in self.rows(RULES)}
        found: dict[str, list[ImportedForeignKey]] = {}
        for (table, name), rows in parts.items():
            schema, ref_table = rows[0][3], rows[0][4]
            on_delete, on_update = rules[table, name]
            if schema != self.schema:
                self.flag("foreign key", name, f"on {table}: references {schema}.{ref_table}, in another database")
                continue
            found.setdefault(table, []).append(
                ImportedForeignKey(
                    name,
                    tuple(r[2] for r in rows),
                    ref_table,
                    tuple(r[5] for r in rows),
                    str(on_delete).lower(),
                    str(on_update).lower(),
                )
            )
        return found

    def indexes(
        self, tables: dict[str, str], foreign_keys: dict[str, list[ImportedForeignKey]]
    ) -> dict[str, dict[str, tuple[tuple[tuple[str, bool], ...], bool]]]:
        """Table → index name (``PRIMARY`` for the primary key) → ((column, descending), …), unique."""
        parts: dict[tuple[str, str], list[Row]] = {}
        for table, name, *part in self.rows(INDEXES):
            if table in tables:
                parts.setdefault((table, name), []).append(tuple(part))
        found: dict[str, dict[str, tuple[tuple[tuple[str, bool], ...], bool]]] = {}
        for (table, name), rows in parts.items():
            # each row: NON_UNIQUE, COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE
            kind = rows[0][4]
            shown = ", ".join(f"{r[1]}({r[3]})" if r[3] is not None else str(r[1]) for r in rows)
            if any(r[1] is None for r in rows):
                self.flag("expression index", name, f"on {table}")
            elif kind != "BTREE" or any(r[3] is not None for r in rows):
                what = f"{kind} index" if kind != "BTREE" else "prefix lengths"
                self.flag("index", name, f"on {table}: {what} ({shown})")
            else:
                pairs = tuple((str(r[1]), r[2] == "D") for r in rows)
                unique = not int(rows[0][0])
                if unique or not _made_for_key(name, pairs, foreign_keys.get(table, ())):
                    found.setdefault(table, {})[name] = (pairs, unique)
        return found


def _lower_type(sql_type: str) -> str:
    """``COLUMN_TYPE`` in lower case, as ``verify`` reads it, but for the values of an ``enum(…)`` or
    ``set(…)``, which are the data's."""
    return "'".join(part if i % 2 else part.lower() for i, part in enumerate(sql_type.split("'")))


def _made_for_key(name: str, pairs: tuple[tuple[str, bool], ...], keys: Sequence[ImportedForeignKey]) -> bool:
    """Whether the index ``name`` over ``pairs`` is the one InnoDB made for one of ``keys``: over the key's
    columns, ascending, named after the key (or, for a key without a name, after its first column)."""
    return any(
        pairs == tuple((column, False) for column in key.columns) and name in (key.name, key.columns[0]) for key in keys
    )
