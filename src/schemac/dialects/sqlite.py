"""SQLite: its dialect (few types, ``ALTER TABLE`` for renames and plain columns only: every other
change rebuilds the table) and its database, through the standard library."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from schemac.dialects.base import (
    BOOLEAN_CHECK,
    ENUM_CHECK,
    HISTORY_TABLE,
    OWN_TABLES,
    Database,
    Dialect,
    LiveColumn,
    LiveForeignKey,
    LiveIndex,
    LiveTable,
    Row,
    Shown,
    connect_error,
    lock_timeout,
    unquote_name,
)
from schemac.dialects.connections import Target
from schemac.errors import SchemacError

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
    rowid_keys=True,
    # Only a key declared exactly INTEGER is the rowid's alias; BIGINT keeps integer affinity without numbering,
    # and one spelling for all three keeps a change between them nothing to do, as for other columns.
    plain_key_types=MappingProxyType({"integer": "BIGINT", "bigint": "BIGINT", "smallint": "BIGINT"}),
    functions=MappingProxyType(
        {
            "now:timestamp": "CURRENT_TIMESTAMP",
            "now:date": "CURRENT_DATE",
            # A version 4 UUID as text: random hex, '4' as its version, 8, 9, a or b as its variant.
            "uuid": "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
            "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || "
            "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))",
        }
    ),
    check_templates=MappingProxyType(
        {**ENUM_CHECK, "boolean": BOOLEAN_CHECK, "length": "length({column}) <= {length}"}
    ),
    # SQLite's ALTER TABLE can rename, append a column (with its derived checks, and a foreign key
    # of its own when its default is NULL) and drop an unconstrained one; every other change to a
    # table is its documented rebuild (new table, copy rows, drop, rename).
    in_place=frozenset(
        {
            "create_table",
            "create_index",
            "drop_index",
            "drop_table",
            "rename_table",
            "rename_column",
            "add_column",
            "insert_column",  # appended: physical column order is not part of the schema
            "add_checked_column",
            "add_referencing_column",
            "drop_column",
        }
    ),
    since=MappingProxyType({"drop_column": (3, 35)}),
    rebuild_reasons=MappingProxyType(
        {
            "add_constrained_column": "add a column in a key or check, NOT NULL without a default, "
            "or with a default that is not a constant",
            "drop_column": "drop a column",
            "drop_constrained_column": "drop a column that a key, check or enum uses",
            "alter_column": "change a column's type, nullability, default or derived checks",
            "reorder_columns": "reorder columns",
            "alter_primary_key": "change a primary key",
            "add_check": "add a check",
            "drop_check": "drop a check",
            "add_foreign_key": "add a foreign key other than a new nullable column's own",
            "drop_foreign_key": "drop a foreign key",
        }
    ),
    inline_column_keys=True,
    drop_deletes_rows=True,
    nullable_keys=True,
)

SQLITE_CACHE_KIB = 65536
"""The applier connection's page cache ceiling. Every CREATE makes SQLite read the whole schema table
(about 2.7 KiB per table with its indexes), so with the default 2,000 KiB a schema past some 700
tables is read from the file again on each statement. 64 MiB holds the schema of some 20,000 such
tables; SQLite allocates cache pages as it reads them, so a small database uses no more memory than
before. A connection setting: the file, its journal mode and its durability are unchanged."""


def _open_sqlite(path: Path, timeout: float, mode: str) -> sqlite3.Connection:
    """The applier's SQLite connection; with ``mode`` (``ro``, ``rw``) an existing file opened through a URI."""
    source = f"{path.absolute().as_uri()}?mode={mode}" if mode else str(path)
    connection = sqlite3.connect(source, timeout=timeout, isolation_level=None, uri=bool(mode))
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


class SQLiteDatabase(Database):
    """SQLite through the standard library.

    After a full ``PRAGMA foreign_key_check`` has found the database clean, a migration made only of
    ``CREATE TABLE … (…)`` and ``CREATE [UNIQUE] INDEX`` statements is checked on the tables it can
    affect instead of the whole database, for as long as no other connection has committed since
    (``PRAGMA data_version``) and nothing was rolled back.
    """

    dialect = SQLITE.name
    placeholder = "?"
    now_sql = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
        "checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms INTEGER NOT NULL)"
    )
    lock_errors = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
    """Primary result codes by which SQLite says another connection held the file past the busy timeout."""

    def __init__(self, target: Target, connection: Any) -> None:
        super().__init__(target, connection)
        self._clean_at: int | None = None
        """``PRAGMA data_version`` when the last check left the database without violations; None: unknown."""
        self._referencing: dict[str, set[str]] | None = None
        """Lower-cased table name -> the tables whose foreign keys name it (built when first needed)."""

    @classmethod
    def open(cls, target: Target, timeout: float, read_only: bool, read_timeout: float | None = None) -> Database:
        """``read_only``: the file is opened read-only, and one that does not exist is SC606 instead of a
        new, empty database."""
        path = Path(target.url[len("sqlite:///") :] if "://" in target.url else target.url)
        if read_only and not path.exists():
            raise connect_error(
                target, f"database file '{path}' does not exist", "check the path: only 'schemac apply' creates one"
            )
        if not path.parent.is_dir():
            raise connect_error(target, f"directory '{path.parent}' does not exist")
        try:
            connection = _open_sqlite(path, timeout, "ro" if read_only else "")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_READONLY_ROLLBACK:
                raise
            # A writer died mid-transaction: the first reader rolls its hot journal back, which needs
            # write access (mode=rw still never creates a file).
            connection = _open_sqlite(path, timeout, "rw")
        return cls(target, connection)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock_timeouts():
            super().execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock_timeouts():
            return super().query(sql, params)

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock_timeouts():
            return super().records(sql, params)

    @contextmanager
    def _lock_timeouts(self) -> Iterator[None]:
        """SQLITE_BUSY and SQLITE_LOCKED, on any statement (reads too), as SC608 like every lock timeout."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in self.lock_errors:
                raise
            waited_ms = self.connection.execute("PRAGMA busy_timeout").fetchone()[0]
            raise lock_timeout(self.target, waited_ms / 1000) from None

    def begin(self) -> None:
        """Foreign keys off around the transaction (SQLite's table-rebuild procedure); checked before commit.

        ``BEGIN IMMEDIATE`` is the applier lock here: it waits up to the busy timeout for another writer.
        """
        self.execute("PRAGMA foreign_keys = OFF")
        try:
            self.execute("BEGIN IMMEDIATE")
        except SchemacError:
            self.execute("PRAGMA foreign_keys = ON")
            raise

    def commit(self) -> None:
        self.execute("COMMIT")
        self.execute("PRAGMA foreign_keys = ON")

    def rollback(self) -> None:
        super().rollback()
        self._clean_at = self._referencing = None
        self.execute("PRAGMA foreign_keys = ON")

    def table_exists(self, name: str) -> bool:
        """A table or a view (as MariaDB's and PostgreSQL's catalogs count them) by that name."""
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,)))

    def integrity_problems(self, statements: Sequence[str]) -> list[str]:
        """``PRAGMA foreign_key_check``, over the whole database or, when that is enough, some tables.

        A migration that only creates tables (with a column list, never ``AS SELECT``) and indexes
        changes no row, drops nothing and alters no table, so in a database known to be clean the
        only foreign keys it can break are those of the tables it created (empty, but a key naming
        columns with no unique index on them is a "foreign key mismatch" error) and those of the
        tables that already named a created table as their parent (a key that now has a parent to
        mismatch). An index never takes away a unique index a key relies on. Anything else, the first
        migration of a connection, and any migration after another connection committed or after a
        rollback get the full check.
        """
        version = self.query("PRAGMA data_version")[0][0]
        created = created_tables(statements)
        if created is None or version != self._clean_at:
            self._referencing = None
            rows = self.query("PRAGMA foreign_key_check")
        else:
            referencing = self._referencing_tables()
            for table in created:
                for row in self.query(f"PRAGMA main.foreign_key_list({_quote(table)})"):
                    referencing.setdefault(row[2].lower(), set()).add(table)
            targets = {table.lower(): table for table in created}
            for table in created:
                targets.update((child.lower(), child) for child in referencing.get(table.lower(), ()))
            rows = [
                row
                for table in targets.values()
                for row in self.query(f"PRAGMA main.foreign_key_check({_quote(table)})")
            ]
        self._clean_at = None if rows else version
        return [f"row {rowid} of '{table}' references a missing row of '{parent}'" for table, rowid, parent, _ in rows]

    def _referencing_tables(self) -> dict[str, set[str]]:
        if self._referencing is None:
            self._referencing = {}
            for child, parent in self.query(
                "SELECT m.name, f.\"table\" FROM main.sqlite_master m, pragma_foreign_key_list(m.name, 'main') f "
                "WHERE m.type = 'table'"
            ):
                self._referencing.setdefault(parent.lower(), set()).add(child)
        return self._referencing

    def tables(self) -> dict[str, LiveTable]:
        found = {}
        rows = self.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        for name, sql in rows:
            if name in OWN_TABLES:
                continue
            q = _quote(name)
            info = self.query(f"PRAGMA table_info({q})")
            columns = tuple(LiveColumn(r[1], " ".join(r[2].lower().split()), not r[3], r[4]) for r in info)
            key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            if len(key) == 1 and not _WITHOUT_ROWID.search(sql):
                columns = tuple(replace(c, identity=c.name == key[0] and c.type == "integer") for c in columns)
            indexes = []
            for _, index, unique, origin, partial in self.query(f"PRAGMA index_list({q})"):
                if origin == "pk":
                    continue
                parts = self.query(f"PRAGMA index_xinfo({_quote(index)})")
                cols = tuple((r[2], bool(r[3])) for r in parts if r[5])
                indexes.append(LiveIndex(index, bool(unique), cols, bool(partial)))
            fk_names = {
                tuple(_unquote_list(cols)): _unquote(fk)
                for fk, cols in re.findall(r'CONSTRAINT\s+("(?:[^"]|"")*")\s+FOREIGN KEY\s*\(([^)]*)\)', sql)
            }
            fk_names.update(((_unquote(column),), _unquote(fk)) for column, fk in _COLUMN_KEY.findall(sql))
            grouped: dict[int, list[Row]] = {}
            for row in self.query(f"PRAGMA foreign_key_list({q})"):
                grouped.setdefault(row[0], []).append(row)
            fks = []
            for parts_ in grouped.values():
                parts_.sort(key=lambda r: r[1])
                cols_ = tuple(r[3] for r in parts_)
                first = parts_[0]
                fks.append(
                    LiveForeignKey(
                        fk_names.get(cols_, ""),
                        cols_,
                        first[2],
                        tuple(r[4] for r in parts_),
                        first[6].lower(),
                        first[5].lower(),
                    )
                )
            found[name] = LiveTable(name, columns, key, tuple(indexes), tuple(fks), check_clauses(sql))
        return found

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """In one transaction rolled back: the ``temp`` schema stays writable on a read-only connection."""
        self.execute("BEGIN")
        try:
            for name, body in tables.items():
                self.execute(f"CREATE TEMPORARY TABLE {name} ({body})")
            rows = self.query("SELECT name, sql FROM sqlite_temp_master WHERE type = 'table'")
            defaults = {name: self.query(f"PRAGMA temp.table_info({name})") for name in tables}
        finally:
            with suppress(sqlite3.Error):
                self.execute("ROLLBACK")
        return {
            name: Shown(check_clauses(sql), {r[1]: r[4] for r in defaults[name]})
            for name, sql in rows
            if name in tables
        }


_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


def check_clauses(sql: str) -> dict[str, str]:
    """Name → ``CHECK (…)`` of every named CHECK constraint in the text of a ``CREATE TABLE``, as written
    (SQLite keeps that text; it appends an ``ALTER TABLE … ADD COLUMN``'s to it). Strings and quoted
    names are skipped whole, so a parenthesis or ``CONSTRAINT`` inside one is not read as SQL."""
    found: dict[str, str] = {}
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in _QUOTES:
            i = _after_quoted(sql, i)
            continue
        match = _CHECK_CONSTRAINT.match(sql, i) if ch in "Cc" and (i == 0 or not sql[i - 1].isalnum()) else None
        if match is None:
            i += 1
            continue
        depth, j = 1, match.end()
        while j < n and depth:
            if sql[j] in _QUOTES:
                j = _after_quoted(sql, j)
                continue
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        found[unquote_name(match.group(1))] = "CHECK (" + sql[match.end() : j - 1] + ")"
        i = j
    return found


def _after_quoted(sql: str, start: int) -> int:
    """The position after the string or quoted name opening at ``start`` (a doubled quote stays inside)."""
    close = _QUOTES[sql[start]]
    i = start + 1
    while True:
        end = sql.find(close, i)
        if end == -1:
            return len(sql)
        if close != "]" and sql.startswith(close * 2, end):
            i = end + 2
            continue
        return end + 1


_NAME = r'"(?:[^"]|"")+"|\[[^\]]+\]|`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_$]*'
_CREATE_TABLE = re.compile(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_NAME})\s*\(", re.IGNORECASE)
_CREATE_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s", re.IGNORECASE)
_CHECK_CONSTRAINT = re.compile(rf"CONSTRAINT\s+({_NAME})\s+CHECK\s*\(", re.IGNORECASE)
_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\b[^)]*$", re.IGNORECASE)
"""A ``CREATE TABLE`` of a table without rowid: its INTEGER key does not number itself."""
_COLUMN_KEY = re.compile(
    r'("(?:[^"]|"")*")\s+[A-Za-z]+(?:\s+DEFAULT\s+NULL)?\s+CONSTRAINT\s+("(?:[^"]|"")*")\s+REFERENCES\b'
)
"""A foreign key named in its column's definition, as ``ALTER TABLE … ADD COLUMN`` writes it: (column, key)."""


def created_tables(statements: Sequence[str]) -> list[str] | None:
    """The tables ``statements`` create, when every one is ``CREATE TABLE name (…)`` or ``CREATE [UNIQUE] INDEX``.

    ``None`` for anything else, including forms this does not read (a schema-qualified or TEMP
    table, ``AS SELECT``, a comment inside the statement's head): those get the full check.
    """
    found = []
    for sql in statements:
        table = _CREATE_TABLE.match(sql)
        if table:
            found.append(unquote_name(table.group(1)))
        elif not _CREATE_INDEX.match(sql):
            return None
    return found


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _unquote_list(text: str) -> list[str]:
    return [_unquote(part) for part in text.split(",")]
