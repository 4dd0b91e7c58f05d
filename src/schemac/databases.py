"""Database adapters: connecting from a URL, the applier's lock, transactions, history, and the live schema.

One small class per engine; each knows its driver, its lock and how its catalog describes a table.
Drivers are imported on connect, so SQLite needs nothing and the others only their extra.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import Diagnostic, SchemacError

HISTORY_TABLE = "schemac_history"
PROGRESS_TABLE = "schemac_progress"
OWN_TABLES = frozenset({HISTORY_TABLE, PROGRESS_TABLE})
Row = tuple[Any, ...]
SQLITE_CACHE_KIB = 65536
"""The applier connection's page cache ceiling. Every CREATE makes SQLite read the whole schema table
(about 2.7 KiB per table with its indexes), so with the default 2,000 KiB a schema past some 700
tables is read from the file again on each statement. 64 MiB holds the schema of some 20,000 such
tables; SQLite allocates cache pages as it reads them, so a small database uses no more memory than
before. A connection setting: the file, its journal mode and its durability are unchanged."""


@dataclass(frozen=True)
class Target:
    """A database named by ``--db``: which engine, and the URL with its password hidden."""

    url: str
    dialect: str
    shown: str


def _error(target: str, code: str, message: str, hint: str = "") -> SchemacError:
    return SchemacError([Diagnostic(target, 1, 1, code, message, hint)])


def parse_url(url: str) -> Target:
    """``path``, ``sqlite:///relative``, ``sqlite:////absolute``, ``postgresql://…``, ``mariadb://…``/``mysql://…``."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    dialect = {"": "sqlite", "sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}.get(scheme)
    dialect = dialect or {"mariadb": "mariadb", "mysql": "mariadb"}.get(scheme)
    parts = urlsplit(url) if scheme else None
    shown = url
    if parts is not None and parts.password is not None:
        shown = url.replace(f":{parts.password}@", ":***@", 1)
    if dialect is None:
        raise _error(
            shown,
            "SC601",
            f"unsupported database URL scheme '{scheme}'",
            "use a file path, sqlite:///, postgresql://, mariadb://",
        )
    if not url or (dialect == "sqlite" and scheme and not url[len("sqlite://") :].startswith("/")):
        raise _error(shown, "SC601", "a SQLite URL needs a path", "sqlite:///relative.db or sqlite:////absolute.db")
    return Target(url, dialect, shown)


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class LiveIndex:
    name: str
    unique: bool
    columns: tuple[tuple[str, bool], ...]
    """(column, descending) pairs."""
    partial: bool


@dataclass(frozen=True)
class LiveForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str
    on_update: str


@dataclass(frozen=True)
class LiveTable:
    """A table as a catalog shows it (or as the specs expect it), in the engine's own spelling."""

    name: str
    columns: tuple[LiveColumn, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[LiveIndex, ...] = ()
    foreign_keys: tuple[LiveForeignKey, ...] = ()
    checks: frozenset[str] = field(default_factory=frozenset)


class Database:
    """The operations the applier needs; subclasses fill in the engine's SQL."""

    dialect = ""
    transactional_ddl = True
    placeholder = "%s"
    now_sql = ""
    history_ddl = ""
    progress_ddl = ""

    def __init__(self, target: Target, connection: Any) -> None:
        self.target = target
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in self._run(sql, params).fetchall()]

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        """Without parameters the text goes as it is: a ``%`` in a migration is not a placeholder."""
        cursor = self.connection.cursor()
        if params:
            cursor.execute(sql, tuple(params))
        else:
            cursor.execute(sql)
        return cursor

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders in this driver's style."""
        return text.replace("?", self.placeholder)

    def begin(self) -> None:
        self.execute("BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        with suppress(Exception):  # the connection may be gone; the server then rolls back on its own
            self.execute("ROLLBACK")

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold the applier lock for the block (a no-op where each transaction takes it)."""
        yield

    def table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def integrity_problems(self, statements: Sequence[str]) -> list[str]:
        """Violations the engine defers to a check after a migration's ``statements`` (SQLite's foreign keys)."""
        return []

    def tables(self) -> dict[str, LiveTable]:
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()


class SQLiteDatabase(Database):
    """SQLite through the standard library.

    After a full ``PRAGMA foreign_key_check`` has found the database clean, a migration made only of
    ``CREATE TABLE … (…)`` and ``CREATE [UNIQUE] INDEX`` statements is checked on the tables it can
    affect instead of the whole database, for as long as no other connection has committed since
    (``PRAGMA data_version``) and nothing was rolled back.
    """

    dialect = "sqlite"
    placeholder = "?"
    now_sql = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
        "checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms INTEGER NOT NULL)"
    )

    def __init__(self, target: Target, connection: Any) -> None:
        super().__init__(target, connection)
        self._clean_at: int | None = None
        """``PRAGMA data_version`` when the last check left the database without violations; None: unknown."""
        self._referencing: dict[str, set[str]] | None = None
        """Lower-cased table name -> the tables whose foreign keys name it (built when first needed)."""

    def begin(self) -> None:
        """Foreign keys off around the transaction (SQLite's table-rebuild procedure); checked before commit.

        ``BEGIN IMMEDIATE`` is the applier lock here: it waits up to the busy timeout for another writer.
        """
        self.execute("PRAGMA foreign_keys = OFF")
        try:
            self.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            self.execute("PRAGMA foreign_keys = ON")
            waited_ms = self.query("PRAGMA busy_timeout")[0][0]
            raise _lock_timeout(self.target, waited_ms / 1000) from None

    def commit(self) -> None:
        self.execute("COMMIT")
        self.execute("PRAGMA foreign_keys = ON")

    def rollback(self) -> None:
        super().rollback()
        self._clean_at = self._referencing = None
        self.execute("PRAGMA foreign_keys = ON")

    def table_exists(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

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
            columns = tuple(LiveColumn(r[1], " ".join(r[2].lower().split()), not r[3]) for r in info)
            key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
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
            checks = frozenset(_unquote(n) for n in re.findall(r'CONSTRAINT\s+("(?:[^"]|"")*")\s+CHECK', sql))
            found[name] = LiveTable(name, columns, key, tuple(indexes), tuple(fks), checks)
        return found


_NAME = r'"(?:[^"]|"")+"|\[[^\]]+\]|`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_$]*'
_CREATE_TABLE = re.compile(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_NAME})\s*\(", re.IGNORECASE)
_CREATE_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s", re.IGNORECASE)


def created_tables(statements: Sequence[str]) -> list[str] | None:
    """The tables ``statements`` create, when every one is ``CREATE TABLE name (…)`` or ``CREATE [UNIQUE] INDEX``.

    ``None`` for anything else, including forms this does not read (a schema-qualified or TEMP
    table, ``AS SELECT``, a comment inside the statement's head): those get the full check.
    """
    found = []
    for sql in statements:
        table = _CREATE_TABLE.match(sql)
        if table:
            found.append(_unquote_name(table.group(1)))
        elif not _CREATE_INDEX.match(sql):
            return None
    return found


def _unquote_name(name: str) -> str:
    if name[0] == "[":
        return name[1:-1]
    if name[0] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    return name


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _unquote_list(text: str) -> list[str]:
    return [_unquote(part) for part in text.split(",")]


class PostgreSQLDatabase(Database):
    dialect = "postgresql"
    now_sql = "now()"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version bigint NOT NULL PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL, execution_ms integer NOT NULL)"
    )

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """A session advisory lock keyed by database and schema; the server frees it if the client dies."""
        schema = self.query("SELECT current_database() || '.' || current_schema()")[0][0]
        key = zlib.crc32(f"schemac:{schema}".encode())
        self.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        try:
            self.execute("SELECT pg_advisory_lock(%s)", (key,))
        except Exception as exc:
            raise _lock_timeout(self.target, timeout) from exc
        self.execute("SET lock_timeout = 0")
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def table_exists(self, name: str) -> bool:
        return self.query("SELECT to_regclass(%s)", (name,))[0][0] is not None

    def tables(self) -> dict[str, LiveTable]:
        rows = self.query(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        )
        found = {}
        names = "ARRAY(SELECT a.attname FROM unnest({keys}) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        names += "ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.i)"
        for oid, name in rows:
            if name in OWN_TABLES:
                continue
            columns = tuple(
                LiveColumn(n, t, nullable)
                for n, t, nullable in self.query(
                    "SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute "
                    "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    (oid,),
                )
            )
            constraints = self.query(
                "SELECT con.conname, con.contype, "
                + names.format(keys="con.conkey", rel="con.conrelid")
                + ", ref.relname, "
                + names.format(keys="con.confkey", rel="con.confrelid")
                + ", con.confdeltype, con.confupdtype FROM pg_constraint con "
                "LEFT JOIN pg_class ref ON ref.oid = con.confrelid WHERE con.conrelid = %s",
                (oid,),
            )
            actions = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
            key = next((tuple(r[2]) for r in constraints if r[1] == "p"), ())
            fks = tuple(
                LiveForeignKey(r[0], tuple(r[2]), r[3], tuple(r[4]), actions[r[5]], actions[r[6]])
                for r in constraints
                if r[1] == "f"
            )
            checks = frozenset(r[0] for r in constraints if r[1] == "c")
            indexes = tuple(
                LiveIndex(r[0], r[1], tuple(zip(r[3], r[4], strict=True)), r[2])
                for r in self.query(
                    "SELECT ic.relname, x.indisunique, x.indpred IS NOT NULL, "
                    + names.format(keys="x.indkey::int2[]", rel="x.indrelid")
                    + ", ARRAY(SELECT (o & 1) = 1 FROM unnest(x.indoption::int2[]) WITH ORDINALITY t(o, i) ORDER BY i) "
                    "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
                    "WHERE x.indrelid = %s AND NOT x.indisprimary",
                    (oid,),
                )
            )
            found[name] = LiveTable(name, columns, key, indexes, fks, checks)
        return found


class MariaDBDatabase(Database):
    dialect = "mariadb"
    transactional_ddl = False
    now_sql = "UTC_TIMESTAMP(6)"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
        "checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL, execution_ms INT NOT NULL) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    progress_ddl = (
        f"CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (version BIGINT NOT NULL PRIMARY KEY, "
        "checksum CHAR(64) NOT NULL, statements INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )

    def begin(self) -> None:
        self.execute("START TRANSACTION")

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """A named server lock per database; the server frees it when the session ends."""
        name = self.query("SELECT LEFT(CONCAT('schemac:', DATABASE()), 64)")[0][0]
        if self.query("SELECT GET_LOCK(%s, %s)", (name, timeout))[0][0] != 1:
            raise _lock_timeout(self.target, timeout)
        try:
            yield
        finally:
            self.execute("DO RELEASE_LOCK(%s)", (name,))

    def table_exists(self, name: str) -> bool:
        return bool(
            self.query(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (name,)
            )
        )

    def _by_table(self, sql: str) -> dict[str, list[Row]]:
        grouped: dict[str, list[Row]] = {}
        for row in self.query(sql):
            grouped.setdefault(row[0], []).append(row[1:])
        return grouped

    def tables(self) -> dict[str, LiveTable]:
        where = "WHERE TABLE_SCHEMA = DATABASE()"
        columns = self._by_table(
            f"SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS {where} "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        )
        stats = self._by_table(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION FROM information_schema.STATISTICS "
            f"{where} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )
        keys = self._by_table(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
            "r.DELETE_RULE, r.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
            "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.TABLE_SCHEMA "
            "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
            "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        )
        checks = self._by_table(
            "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        found = {}
        for name, rows in columns.items():
            if name in OWN_TABLES:
                continue
            fk_rows: dict[str, list[Row]] = {}
            for row in keys.get(name, []):
                fk_rows.setdefault(row[0], []).append(row)
            fks = tuple(
                LiveForeignKey(
                    fk,
                    tuple(r[1] for r in parts),
                    parts[0][2],
                    tuple(r[3] for r in parts),
                    parts[0][4].lower(),
                    parts[0][5].lower(),
                )
                for fk, parts in fk_rows.items()
            )
            index_rows: dict[str, list[Row]] = {}
            for row in stats.get(name, []):
                index_rows.setdefault(row[0], []).append(row)
            primary = tuple(r[2] for r in index_rows.pop("PRIMARY", []))
            indexes = tuple(
                LiveIndex(index, not int(parts[0][1]), tuple((r[2], r[3] == "D") for r in parts), False)
                for index, parts in index_rows.items()
                if index not in fk_rows  # InnoDB's own index for a foreign key
            )
            live_columns = tuple(LiveColumn(r[0], r[1].lower(), r[2] == "YES") for r in rows)
            found[name] = LiveTable(
                name, live_columns, primary, indexes, fks, frozenset(r[0] for r in checks.get(name, []))
            )
        return found


def _lock_timeout(target: Target, timeout: float) -> SchemacError:
    return _error(
        target.shown,
        "SC608",
        f"another schemac apply held the migration lock for {timeout:g} s",
        "wait for it to finish, or raise --lock-timeout",
    )


def _driver(module: str, extra: str, target: Target) -> Any:
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError:
        raise _error(
            target.shown, "SC607", f"the {target.dialect} driver is not installed", f"pip install 'schemac[{extra}]'"
        ) from None


def connect(target: Target, timeout: float) -> Database:
    """An autocommit connection (the applier opens its own transactions), or SC606 naming the database."""
    try:
        if target.dialect == "sqlite":
            raw = target.url[len("sqlite:///") :] if target.url.startswith("sqlite:") else target.url
            path = Path(raw)
            if not path.parent.is_dir():
                raise _error(target.shown, "SC606", f"directory '{path.parent}' does not exist")
            connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            return SQLiteDatabase(target, connection)
        if target.dialect == "postgresql":
            psycopg = _driver("psycopg", "postgresql", target)
            return PostgreSQLDatabase(target, psycopg.connect(target.url, autocommit=True, connect_timeout=10))
        pymysql = _driver("pymysql", "mariadb", target)
        parts = urlsplit(target.url)
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise _error(target.shown, "SC601", "the MariaDB URL names no database", "mariadb://user@host:3306/dbname")
        connection = pymysql.connect(
            host=parts.hostname or "localhost",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
        )
        return MariaDBDatabase(target, connection)
    except SchemacError:
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise _error(target.shown, "SC606", f"cannot connect: {message}") from None
