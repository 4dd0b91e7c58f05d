"""PostgreSQL's catalog reader for ``schemac import``: the tables of the current schema
(``current_schema()``), read with a fixed number of catalog queries whatever the number of tables.

What the catalog shows is kept as it shows it: a column's type is ``format_type`` (``character
varying(40)``, ``numeric(10,2)``, ``timestamp with time zone``), a default ``pg_get_expr`` of it
(``'draft'::text``), a check its expression without the outer ``CHECK``. The mapping to logical
types is :mod:`schemac.importing`'s.

What a spec cannot express is an :class:`~schemac.importing.catalog.Unsupported`: left out of the
tables when it cannot be part of one (a view, a sequence of its own, an expression index, a
generated column, a partition of a table), reported beside the table when the rest of it can be
(an identity or serial column, a partitioned table, a column's own collation, a deferrable constraint,
a table's triggers). Tables, constraints and indexes come in order of creation (by oid).
"""

from __future__ import annotations

import re
import threading
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

ACTIONS = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
"""``pg_constraint.confdeltype`` / ``confupdtype`` → the action's words."""
RELATION_KINDS = {"v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence"}
"""``pg_class.relkind`` of the relations other than tables → the kind of their :class:`Unsupported`."""
TYPE_KINDS = {"e": "enum", "d": "domain", "r": "range", "c": "composite", "m": "multirange"}

_SCHEMA = "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()"
"""Joined to ``pg_class c``: only the relations of the current schema."""
_TABLES = "c.relkind IN ('r', 'p') AND NOT c.relispartition{only}"
"""The tables ``pg_class c`` read (``{only}``: those named, see :meth:`_Reader.rows`)."""
_NOT_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid} "
    "AND e.deptype = 'e')"
)
"""An object (of ``catalog``, by ``oid``) not made by an extension: the extension is reported instead."""

NULLS_NOT_DISTINCT = "x.indnullsnotdistinct"
"""Of ``pg_index x``: whether the index's NULLs clash (PostgreSQL 15 on; ``{nulls}`` in a query, false before)."""

RELATIONS = (
    "SELECT c.oid, c.relname::text, c.relkind::text, c.relispartition, "
    "coalesce(obj_description(c.oid, 'pg_class'), ''), "
    "CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, "
    "(SELECT p.relname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid "
    "ORDER BY i.inhseqno LIMIT 1), "
    "CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END, "
    "EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    "AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')), "
    "c.relrowsecurity, c.relforcerowsecurity, "
    "ARRAY(SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY p.oid) "
    f"FROM pg_class c {_SCHEMA} WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
    f"AND {_NOT_EXTENSION.format(catalog='pg_class', oid='c.oid')} ORDER BY c.oid"
)
"""Every relation of the schema in creation order: (oid, name, kind, is a partition, comment, partition
key, parent, partition bound, is a sequence owned by a column, row level security on, forced, policies)."""
COLUMNS = (
    "SELECT a.attrelid, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
    "pg_get_expr(d.adbin, d.adrelid), coalesce(ds.description, ''), a.attidentity::text, a.attgenerated::text, "
    "a.attcollation, CASE WHEN a.attcollation <> ty.typcollation THEN co.collname::text END, "
    "d.adbin IS NOT NULL AND pg_get_serial_sequence(c.oid::regclass::text, a.attname) IS NOT NULL "
    f"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid {_SCHEMA} "
    "JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_collation co ON co.oid = a.attcollation "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "LEFT JOIN pg_description ds ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass "
    "AND ds.objsubid = a.attnum "
    f"WHERE {_TABLES} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
)
"""Every column of the tables: (table, number, name, type, nullable, default, comment, identity,
generated, collation, the collation's name when it is not the type's, it owns a sequence)."""
NAMES = "SELECT attrelid, attnum, attname::text FROM pg_attribute WHERE attrelid = ANY(%s) AND attnum > 0"
"""The column names of other tables (a foreign key's parent not read): (table, number, name)."""
CONSTRAINTS = (
    "SELECT con.conrelid, con.conname::text, con.contype::text, con.conkey, con.confrelid, ref.relname::text, "
    "refn.nspname = current_schema(), con.confkey, con.confdeltype::text, con.confupdtype::text, "
    "CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END, "
    "con.condeferrable, con.convalidated, con.confmatchtype = 'f', "
    "CASE WHEN con.condeferrable OR NOT con.convalidated OR con.contype = 'x' OR con.confmatchtype = 'f' "
    "OR refn.nspname <> current_schema() THEN pg_get_constraintdef(con.oid) END, "
    "CASE WHEN con.contype = 'u' THEN (SELECT {nulls} FROM pg_index x WHERE x.indexrelid = con.conindid) END "
    f"FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid {_SCHEMA} "
    "LEFT JOIN pg_class ref ON ref.oid = con.confrelid LEFT JOIN pg_namespace refn ON refn.oid = ref.relnamespace "
    f"WHERE {_TABLES} AND con.contype IN ('p', 'u', 'f', 'c', 'x') ORDER BY con.conrelid, con.oid"
)
"""The constraints of the tables, in creation order: (table, name, kind, columns, parent, parent's name,
parent in this schema, parent's columns, on delete, on update, check expression, deferrable, validated,
MATCH FULL, definition where it is reported, a unique key's NULLS NOT DISTINCT). Column numbers are named
in Python: one name lookup per row in SQL costs more than the rest of the query."""
INDEXES = (
    "SELECT x.indrelid, x.indexrelid, ic.relname::text, x.indisunique, pg_get_expr(x.indpred, x.indrelid), "
    "x.indkey::int2[], x.indoption::int2[], x.indexprs IS NOT NULL, x.indnkeyatts < x.indnatts, am.amname::text, "
    "x.indclass::oid[], x.indcollation::oid[], x.indisvalid, "
    "{nulls} "
    f"FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid {_SCHEMA} "
    "JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_am am ON am.oid = ic.relam "
    f"WHERE {_TABLES} AND NOT EXISTS (SELECT 1 FROM pg_constraint con "
    "WHERE con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')) "
    "ORDER BY x.indrelid, x.indexrelid"
)
"""The indexes of the tables that no constraint made, in creation order: (table, index, name, unique,
predicate, column numbers (0: an expression), options (1: DESC, 2: NULLS FIRST), over an expression,
has INCLUDE columns, method, operator classes, collations, valid, NULLS NOT DISTINCT)."""
OPERATOR_CLASSES = "SELECT oid FROM pg_opclass WHERE NOT opcdefault"
"""The operator classes an index names only when told (``text_pattern_ops``, …)."""
INDEX_DEFINITIONS = "SELECT indexrelid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid = ANY(%s)"
TRIGGERS = (
    "SELECT t.tgrelid, c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid) "
    f"FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid {_SCHEMA} "
    f"WHERE {_TABLES} AND NOT t.tgisinternal ORDER BY c.oid, t.oid"
)
TYPES = (
    "SELECT t.typname::text, t.typtype::text, CASE t.typtype "
    "WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) "
    "FROM pg_enum e WHERE e.enumtypid = t.oid) "
    "WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END "
    "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = current_schema() "
    "LEFT JOIN pg_class r ON r.oid = t.typrelid "
    "WHERE t.typtype IN ('e', 'd', 'r', 'c', 'm') AND (t.typtype <> 'c' OR r.relkind = 'c') "
    f"AND {_NOT_EXTENSION.format(catalog='pg_type', oid='t.oid')} "
    "AND NOT EXISTS (SELECT 1 FROM pg_range g WHERE g.rngmultitypid = t.oid) ORDER BY t.oid"
)
"""The schema's own types (a range's multirange goes with it, a table's row type with the table)."""
EXTENSIONS = "SELECT extname::text, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY oid"
FUNCTIONS = (
    "SELECT p.proname::text, p.prokind::text, pg_get_function_identity_arguments(p.oid) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = current_schema() "
    f"WHERE {_NOT_EXTENSION.format(catalog='pg_proc', oid='p.oid')} ORDER BY p.oid"
)
ROUTINE_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "function"}


def read_catalog(database: Database, only: frozenset[str] | None) -> Catalog:
    """The tables of ``database``'s current schema (``only``: those named), and what a spec cannot
    hold: the schema's other relations, its types and routines, the database's extensions (every
    object when ``only`` is None; with it, the relations named and what belongs to the tables named)."""
    return _Reader(database, only).read()


read = read_catalog


class _Reader(ServerReader):
    def wanted(self, name: str) -> bool:
        return name not in OWN_TABLES and (self.only is None or name in self.only)

    def rows(self, sql: str, params: Sequence[Any] = (), database: Database | None = None) -> list[Row]:
        """The rows of ``sql`` (on ``database``, by default the reader's); its ``{only}`` keeps the tables
        asked for, its ``{nulls}`` is :data:`NULLS_NOT_DISTINCT` where the server has it."""
        if "{only}" in sql:
            only = "" if self.only is None else " AND c.relname = ANY(%s)"
            params = [*params] if self.only is None else [*params, sorted(self.only)]
            sql = sql.format(only=only, nulls=self.nulls)
        return (database or self.database).query(sql, params)

    def read(self) -> Catalog:
        ((version,),) = self.database.query("SELECT current_setting('server_version_num')::int")
        self.nulls = NULLS_NOT_DISTINCT if version >= 150000 else "false"
        snapshot = self.snapshot()
        try:
            with _Beside(self, (CONSTRAINTS, INDEXES), snapshot) as beside:
                return self.read_tables(beside)
        finally:
            if snapshot is not None:
                self.database.execute("ROLLBACK")

    def snapshot(self) -> str | None:
        """Open a read-only repeatable-read transaction, whose snapshot (exported) the second connection
        reads too, so that every query sees the catalog at one moment; None, and no transaction left open,
        where the server exports none (or one that does not read as a snapshot's name)."""
        try:
            self.database.execute(SNAPSHOT_TRANSACTION)
            ((snapshot,),) = self.database.query("SELECT pg_export_snapshot()")
        except self.database.driver_error:
            snapshot = None
        if snapshot is None or not SNAPSHOT_ID.fullmatch(str(snapshot)):
            self.database.execute("ROLLBACK")
            return None
        return str(snapshot)

    def read_tables(self, beside: _Beside) -> Catalog:
        tables: dict[int, str] = {}
        comments: dict[int, str] = {}
        for row in self.rows(RELATIONS):
            oid, name, kind, partition, comment, key, parent, bound, owned, secured, forced, policies = row
            if not self.wanted(name):
                continue
            if kind in ("r", "p") and partition:
                self.flag("partition", name, f"partition of {parent} {bound}")
            elif kind in ("r", "p"):
                tables[oid], comments[oid] = name, comment
                if kind == "p":
                    self.flag("partition", name, f"partitioned by {key}")
                elif parent is not None:
                    self.flag("inheritance", name, f"inherits from {parent}")
                if secured:
                    self.flag(
                        "row level security",
                        name,
                        "FORCE ROW LEVEL SECURITY" if forced else "ENABLE ROW LEVEL SECURITY",
                    )
                for policy in policies:
                    self.flag("policy", policy, f"on {name}")
            elif not (kind == "S" and owned):
                self.flag(RELATION_KINDS[kind], name)
        found = {oid: _Parts() for oid in tables}
        self.columns(tables, found)
        self.constraints(tables, found, beside.rows(CONSTRAINTS))
        self.indexes(tables, found, beside.rows(INDEXES))
        for relid, table, trigger, definition in self.rows(TRIGGERS):
            if relid in tables:
                self.flag("trigger", trigger, f"on {table}: {definition}")
        if self.only is None:
            self.schema_objects()
        imported = tuple(
            ImportedTable(
                name,
                tuple(found[oid].columns),
                found[oid].primary_key,
                tuple(found[oid].uniques),
                tuple(found[oid].indexes),
                tuple(found[oid].foreign_keys),
                tuple(found[oid].checks),
                comments[oid],
            )
            for oid, name in tables.items()
        )
        return Catalog("postgresql", imported, tuple(self.unsupported))

    def columns(self, tables: dict[int, str], found: dict[int, _Parts]) -> None:
        self.names: dict[tuple[int, int], str] = {}
        self.collations: dict[tuple[int, int], int] = {}
        for row in self.rows(COLUMNS):
            relid, number, name, sql_type, nullable, default, comment, identity, generated, collation, own = row[:11]
            numbered = ""
            if relid not in tables:
                continue
            self.names[relid, number], self.collations[relid, number] = name, collation
            where = f"{tables[relid]}.{name}"
            if own is not None:
                self.flag("collation", where, f'COLLATE "{own}"')
            if generated:
                self.flag("generated column", where, f"{sql_type} generated always as ({default}) stored")
                continue
            if identity:
                numbered = f"generated {_IDENTITY[identity]} as identity"
            elif default is not None and default.startswith("nextval(") and row[11]:
                numbered = f"serial: default {default}"
            elif default is not None and default.startswith("nextval("):
                self.flag("identity column", where, f"default {default}: a sequence the column does not own")
            found[relid].columns.append(ImportedColumn(name, sql_type, nullable, default, comment, numbered))

    def named(self, relid: int, numbers: Sequence[int]) -> tuple[str, ...]:
        return tuple(self.names[relid, number] for number in numbers)

    def constraints(self, tables: dict[int, str], found: dict[int, _Parts], read: list[Row]) -> None:
        rows = [row for row in read if row[0] in tables]
        others = sorted({row[4] for row in rows if row[2] == "f" and row[4] not in tables})
        if others:  # the parents of foreign keys that were not read: a table not asked for, another schema's
            self.names.update(((relid, number), name) for relid, number, name in self.rows(NAMES, [others]))
        for row in rows:
            relid, name, kind, columns, ref, ref_table, ref_here, ref_columns, on_delete, on_update = row[:10]
            check, deferrable, validated, match_full, definition, nulls_clash = row[10:]
            parts, table = found[relid], tables[relid]
            if kind == "x":
                self.flag("exclusion constraint", name, f"on {table}: {definition}")
                continue
            if deferrable:
                self.flag("deferrable constraint", name, f"on {table}: {definition}")
            if not validated:
                self.flag("constraint not valid", name, f"on {table}: {definition}")
            if kind == "p":
                parts.primary_key = self.named(relid, columns)
            elif kind == "u":
                parts.uniques.append((name, self.named(relid, columns)))
                if nulls_clash:
                    shown = ", ".join(self.named(relid, columns))
                    self.flag(
                        "unique key with nulls not distinct", name, f"on {table}: UNIQUE NULLS NOT DISTINCT ({shown})"
                    )
            elif kind == "c":
                parts.checks.append((name, check))
            elif not ref_here:
                self.flag("foreign key", name, f"on {table}: references a table of another schema: {definition}")
            else:
                if match_full:
                    self.flag("foreign key option", name, f"on {table}: {definition}")
                parts.foreign_keys.append(
                    ImportedForeignKey(
                        name,
                        self.named(relid, columns),
                        ref_table,
                        self.named(ref, ref_columns),
                        ACTIONS[on_delete],
                        ACTIONS[on_update],
                    )
                )

    def indexes(self, tables: dict[int, str], found: dict[int, _Parts], read: list[Row]) -> None:
        rows = [row for row in read if row[0] in tables]
        special = {oid for (oid,) in self.rows(OPERATOR_CLASSES)} if rows else set()
        problems: dict[int, tuple[str, str]] = {}
        for row in rows:
            relid, oid, name, unique, where, numbers, options, expression, covering, method, classes = row[:11]
            collations, valid, nulls_clash = row[11:]
            keys = numbers[: len(options)]  # the key columns; INCLUDE columns follow
            problem = (
                "expression index"
                if expression or 0 in numbers
                else "not valid (a CREATE INDEX CONCURRENTLY that failed)"
                if not valid
                else f"using {method}"
                if method != "btree"
                else "INCLUDE columns"
                if covering
                else "an operator class"
                if special.intersection(classes)
                else "a collation"
                if any(c and c != self.collations.get((relid, n)) for n, c in zip(keys, collations, strict=True))
                else "NULLS FIRST/LAST"
                if any(bool(o & 1) != bool(o & 2) for o in options)
                else ""
            )
            if problem:
                problems[oid] = (problem, name)
                continue
            pairs = tuple((self.names[relid, n], bool(o & 1)) for n, o in zip(keys, options, strict=True))
            found[relid].indexes.append(ImportedIndex(name, pairs, unique, where))
            if nulls_clash:
                shown = ", ".join(column for column, _ in pairs)
                self.flag(
                    "unique key with nulls not distinct",
                    name,
                    f"on {tables[relid]}: UNIQUE NULLS NOT DISTINCT ({shown})",
                )
        if problems:
            definitions: dict[int, str] = {oid: text for oid, text in self.rows(INDEX_DEFINITIONS, [sorted(problems)])}
            for oid, (problem, name) in problems.items():
                if problem == "expression index":
                    self.flag(problem, name, definitions[oid])
                else:
                    self.flag("index", name, f"{problem}: {definitions[oid]}")

    def schema_objects(self) -> None:
        """The schema's types and routines, and the database's extensions."""
        for name, kind, detail in self.rows(TYPES):
            shown = {"e": f"enum ({detail})", "d": f"domain over {detail}"}.get(kind, TYPE_KINDS[kind])
            self.flag("custom type", name, shown)
        for name, kind, arguments in self.rows(FUNCTIONS):
            self.flag(ROUTINE_KINDS.get(kind, "function"), f"{name}({arguments})")
        for name, version in self.rows(EXTENSIONS):
            self.flag("extension", name, f"version {version}")


_IDENTITY = {"a": "always", "d": "by default"}


SNAPSHOT_TRANSACTION = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")
"""What ``pg_export_snapshot()`` returns (``00000003-0000001B-1``): it is written into ``SET TRANSACTION``."""


class _Beside:
    """Catalog queries run on a second connection, in the reader's snapshot, while the reader's own reads
    the tables and columns (the server answers both at once, as ``pg_dump --jobs`` has it do). A query whose
    answer is not there in time (no second connection, no shared snapshot, the query failed or waited on it)
    runs on the reader's connection."""

    CONNECT_TIMEOUT_S = 10.0
    WAIT_S = 60.0
    """The longest the reader waits for the answers, and the second connection's ``statement_timeout``."""

    def __init__(self, reader: _Reader, queries: Sequence[str], snapshot: str | None) -> None:
        self.reader = reader
        self.queries = queries
        self.snapshot = snapshot
        self.answers: dict[str, list[Row]] = {}
        self.thread = threading.Thread(target=self.run, name="schemac-catalog", daemon=True)

    def __enter__(self) -> _Beside:
        if self.snapshot is not None:  # else the two connections could see two moments of the catalog
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()

    def wait(self) -> None:
        if self.thread.is_alive():
            self.thread.join(self.WAIT_S)

    def run(self) -> None:
        from schemac.dialects.connections import connect

        try:
            database = connect(self.reader.database.target, self.CONNECT_TIMEOUT_S, read_only=True)
        except Exception:  # the reader's own connection asks instead
            return
        try:
            database.execute(f"SET statement_timeout = '{int(self.WAIT_S)}s'")
            database.execute(SNAPSHOT_TRANSACTION)
            database.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot}'")
            for sql in self.queries:
                self.answers[sql] = self.reader.rows(sql, database=database)
        except Exception:  # likewise: the reader's connection then reports what went wrong
            return
        finally:
            database.close()

    def rows(self, sql: str) -> list[Row]:
        """The answer to ``sql``, one of the queries asked beside."""
        self.wait()
        answer = self.answers.get(sql)
        return answer if answer is not None else self.reader.rows(sql)


class _Parts:
    """What the constraint and index queries find for one table."""

    def __init__(self) -> None:
        self.columns: list[ImportedColumn] = []
        self.primary_key: tuple[str, ...] = ()
        self.uniques: list[tuple[str, tuple[str, ...]]] = []
        self.indexes: list[ImportedIndex] = []
        self.foreign_keys: list[ImportedForeignKey] = []
        self.checks: list[tuple[str, str]] = []
