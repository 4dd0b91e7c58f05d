"""SQLite's catalog reader: ``sqlite_master``, its pragmas, and the text of each ``CREATE`` statement for
what the pragmas do not say (constraint names, checks, ``AUTOINCREMENT``, table options, partial index
predicates). Spelled as :meth:`schemac.dialects.sqlite.SQLiteDatabase.tables` spells what ``verify`` reads."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from schemac.dialects.base import OWN_TABLES
from schemac.importing.catalog import (
    Catalog,
    ImportedColumn,
    ImportedForeignKey,
    ImportedIndex,
    ImportedTable,
    Unsupported,
)
from schemac.importing.sqltext import index_predicate, read_table

if TYPE_CHECKING:
    from schemac.dialects.base import Database

_GENERATED = {2: "generated column", 3: "generated column"}
"""``PRAGMA table_xinfo``'s ``hidden``: 2 a virtual generated column, 3 a stored one."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kinds(database: Database) -> dict[str, str]:
    """Table name → ``table``, ``virtual`` or ``shadow`` (a virtual table's storage), from
    ``PRAGMA table_list``; without it (SQLite before 3.37) read from the statements' text."""
    try:
        return {str(name): str(kind) for name, kind in database.query("SELECT name, type FROM pragma_table_list")}
    except database.driver_error:
        rows = database.query("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        virtual = [str(n) for n, sql in rows if str(sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
        kinds = {}
        for name, _ in rows:
            shadow = any(str(name).startswith(f"{v}_") for v in virtual)
            kinds[str(name)] = "virtual" if name in virtual else "shadow" if shadow else "table"
        return kinds


def read_catalog(database: Database, tables: frozenset[str] | None) -> Catalog:
    """The tables of the SQLite database (every one, or those named in ``tables``) in creation order,
    with every object a spec cannot express as :class:`Unsupported`."""
    kinds = _kinds(database)
    rows = database.query("SELECT type, name, tbl_name, sql, rowid FROM sqlite_master ORDER BY rowid")
    order = {str(name): rowid for _, name, _, _, rowid in rows}
    unsupported: list[Unsupported] = []
    found: list[ImportedTable] = []
    for kind, name, table, sql, _ in rows:
        name, table, sql = str(name), str(table), str(sql or "")
        if name.startswith("sqlite_") or name in OWN_TABLES or table in OWN_TABLES:
            continue
        wanted = tables is None or table in tables
        if kind == "table" and kinds.get(name) == "virtual" and wanted:
            unsupported.append(Unsupported("virtual table", name, _first_line(sql)))
        elif kind == "table" and kinds.get(name, "table") == "table" and wanted:
            found.append(_table(database, name, sql, order, unsupported))
        elif kind == "view" and tables is None:
            unsupported.append(Unsupported("view", name))
        elif kind == "trigger" and wanted and kinds.get(table) != "shadow":
            unsupported.append(Unsupported("trigger", name, f"on {table}"))
    return Catalog("sqlite", tuple(found), tuple(unsupported))


def _first_line(sql: str) -> str:
    return " ".join(sql.split())


def _table(
    database: Database, name: str, sql: str, order: dict[str, Any], unsupported: list[Unsupported]
) -> ImportedTable:
    q = _quote(name)
    text = read_table(sql)
    for option in text.options:
        unsupported.append(Unsupported("table option", name, option))
    for column in text.autoincrement:
        unsupported.append(Unsupported("autoincrement", f"{name}.{column}"))
    columns = []
    key: list[tuple[int, str]] = []
    for _, cname, ctype, notnull, default, pk, hidden in database.query(f"PRAGMA table_xinfo({q})"):
        if hidden in _GENERATED:
            unsupported.append(Unsupported(_GENERATED[hidden], f"{name}.{cname}"))
            continue
        if hidden:
            continue
        collation = text.collations.get(cname)
        if collation is not None and collation.upper() != "BINARY":
            unsupported.append(Unsupported("collation", f"{name}.{cname}", f"COLLATE {collation}"))
        columns.append(ImportedColumn(cname, " ".join(str(ctype).lower().split()), not notnull, default))
        if pk:
            key.append((pk, cname))
    uniques: list[tuple[str, tuple[str, ...]]] = []
    indexes: list[ImportedIndex] = []
    listed = database.query(f"PRAGMA index_list({q})")
    for _, index, unique, origin, partial in sorted(listed, key=lambda r: (order.get(r[1], 0), r[1])):
        if origin == "pk":
            continue
        parts = [r for r in database.query(f"PRAGMA index_xinfo({_quote(index)})") if r[5]]
        if any(r[1] < 0 for r in parts):
            unsupported.append(Unsupported("expression index", index, f"on {name}"))
            continue
        odd = sorted({str(r[4]) for r in parts if str(r[4]).upper() != "BINARY"})
        if odd:
            unsupported.append(Unsupported("index collation", index, f"on {name}: COLLATE {', '.join(odd)}"))
            continue
        if origin == "u":
            uniques.append((index, tuple(str(r[2]) for r in parts)))
            continue
        where = None
        if partial:
            rows = database.query("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index,))
            where = index_predicate(str(rows[0][0] or "")) if rows else None
        indexes.append(ImportedIndex(index, tuple((str(r[2]), bool(r[3])) for r in parts), bool(unique), where))
    grouped: dict[int, list[Any]] = {}
    for row in database.query(f"PRAGMA foreign_key_list({q})"):
        grouped.setdefault(row[0], []).append(row)
    keys = []
    for ident in sorted(grouped, reverse=True):  # SQLite lists them last declared first
        parts_ = sorted(grouped[ident], key=lambda r: r[1])
        cols = tuple(str(r[3]) for r in parts_)
        parent = str(parts_[0][2])
        refs = tuple(r[4] for r in parts_)
        if any(r is None for r in refs):  # REFERENCES parent, without columns: its primary key
            info = database.query(f"PRAGMA table_info({_quote(parent)})")
            refs = tuple(str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        keys.append(
            ImportedForeignKey(
                text.foreign_key_names.get(cols, ""),
                cols,
                parent,
                tuple(str(r) for r in refs),
                str(parts_[0][6]).lower(),
                str(parts_[0][5]).lower(),
            )
        )
    checks = tuple((c.name, c.expression) for c in text.checks)
    if len(key) == 1 and "WITHOUT ROWID" not in text.options:  # a key of type INTEGER is the rowid's alias
        columns = [
            replace(c, identity="rowid alias") if (c.name, c.type) == (key[0][1], "integer") else c for c in columns
        ]
    return ImportedTable(
        name, tuple(columns), tuple(c for _, c in sorted(key)), tuple(uniques), tuple(indexes), tuple(keys), checks
    )
