"""Database adapters: connecting from a URL, the applier's lock, transactions, history, and the live schema.

One small class per engine; each knows its driver, its lock and how its catalog describes a table.
Drivers are imported on connect, so SQLite needs nothing and the others only their extra.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from schemac.errors import Diagnostic, SchemacError

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


SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mariadb": "mariadb",
    "mysql": "mariadb",
}
"""URL scheme (any case) → engine; a ``--db`` without ``://`` is a SQLite path."""
_EXAMPLES = {
    "sqlite": "sqlite:///relative.db or sqlite:////absolute.db",
    "postgresql": "postgresql://user@host:5432/dbname",
    "mariadb": "mariadb://user@host:3306/dbname",
}
_PASSWORD_PARAMETER = re.compile(r"(?i)(\b(?:ssl)?(?:password|passwd|pwd)\s*=)([^&]*)")
"""A password given as a parameter (``?password=…``, or ``password=…`` in a libpq string): to the next ``&``."""
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODE_HINT = "percent-encode '@', '/', '?', '#' and '%' in the user name and password (%40, %2F, %3F, %23, %25)"


@dataclass(frozen=True)
class Target:
    """A database named by ``--db``: which engine, and the URL as given and as messages show it."""

    url: str = field(repr=False)
    dialect: str
    shown: str
    """The URL with every password as ``***``."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Every password the URL may hold, as written and percent-decoded, longest first."""

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _error(target: str, code: str, message: str, hint: str = "") -> SchemacError:
    return SchemacError([Diagnostic(target, 1, 1, code, message, hint)])


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a user's password would be, read generously: from the first ``:`` after ``://`` (or after
    the start, when ``://`` is missing or follows the ``@``) to the last ``@``, so that an unencoded
    ``@``, ``/``, ``?`` or ``#`` in it is still inside."""
    at = url.rfind("@")
    scheme_end = url.rfind("://", 0, at) if at >= 0 else -1
    colon = url.find(":", scheme_end + 3 if scheme_end >= 0 else 0, at) if at >= 0 else -1
    return (colon + 1, at) if colon >= 0 else None


def url_secrets(url: str) -> tuple[str, ...]:
    """The texts of ``url`` that may be passwords, raw and percent-decoded: what no message may show."""
    found = [match.group(2) for match in _PASSWORD_PARAMETER.finditer(url)]
    span = _password_span(url)
    if span:
        found.append(url[span[0] : span[1]])
    found += [unquote(text) for text in found]
    return tuple(sorted({text for text in found if text}, key=len, reverse=True))


def _shown(url: str, secrets: Sequence[str]) -> str:
    shown = _PASSWORD_PARAMETER.sub(r"\1***", url)
    span = _password_span(shown)
    if span:
        shown = shown[: span[0]] + "***" + shown[span[1] :]
    return mask(shown, secrets)


@dataclass(frozen=True)
class _Server:
    """A server URL read strictly: ``scheme://[user[:password]@]hostport[/path][?query][#fragment]``."""

    user: str | None
    password: str | None
    hostport: str
    tail: str
    """The path, query and fragment, as written."""


def _server(url: str) -> _Server:
    """The parts of a server URL (user and password percent-decoded); ValueError(message, hint) naming no password."""
    rest = url.partition("://")[2]
    end = len(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])
    authority, tail = rest[:end], rest[end:]
    if "@" in tail:
        raise ValueError("the URL has an '@' after its host, so where its password ends is unclear", _ENCODE_HINT)
    if _BAD_PERCENT.search(url):
        raise ValueError("a '%' in the URL starts no %XX escape", _ENCODE_HINT)
    userinfo, at, hostport = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return _Server(unquote(user) if at else None, unquote(password) if colon else None, hostport, tail)


def _address(hostport: str) -> tuple[str, int]:
    """(host, port) of a MariaDB URL: the port defaults to 3306, an IPv6 address is written in brackets."""
    try:
        parts = urlsplit(f"//{hostport}")
        return parts.hostname or "localhost", parts.port or 3306
    except ValueError as exc:
        raise ValueError(
            f"host and port '{hostport}' are not valid: {exc}", "host:port with a port up to 65535; IPv6 as [::1]"
        ) from None


def parse_url(url: str) -> Target:
    """``path``, ``sqlite:///relative``, ``sqlite:////absolute``, ``postgresql://…``, ``mariadb://…``/``mysql://…``.

    A URL that does not read one way only is SC601; it is never guessed at, and never shown with a password.
    """
    secrets = url_secrets(url)
    shown = _shown(url, secrets) or "--db"

    def refuse(message: str, hint: str) -> SchemacError:
        return _error(shown, "SC601", mask(message, secrets), hint)

    scheme, separator, rest = url.partition("://")
    if not url.strip():
        raise refuse("the database URL is empty", "give a SQLite path or a URL with --db or SCHEMAC_DB")
    if not separator:
        prefix = url.partition(":")[0]
        if prefix.lower() in SCHEMES and prefix != url:
            raise refuse(f"a database URL needs '//' after '{prefix}:'", _EXAMPLES[SCHEMES[prefix.lower()]])
        return Target(url, "sqlite", shown, secrets)
    dialect = SCHEMES.get(scheme.lower())
    if dialect is None:
        raise refuse(
            f"unsupported database URL scheme '{scheme}'", "use a file path, sqlite:///, postgresql://, mariadb://"
        )
    if dialect == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise refuse("a SQLite URL needs a path", _EXAMPLES[dialect])
        return Target(url, dialect, shown, secrets)
    try:
        server = _server(url)
        if dialect == "mariadb":
            _address(server.hostport)
    except ValueError as exc:
        raise refuse(*exc.args) from None
    return Target(url, dialect, shown, secrets)


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: str
    nullable: bool
    default: str | None = None
    """The default as the engine shows it (None: the column has none); see :meth:`Database.definitions`."""


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
    checks: Mapping[str, str] = field(default_factory=dict)
    """Check name → its definition as the engine shows it, ``CHECK (…)`` (see :meth:`Database.definitions`)."""


@dataclass(frozen=True)
class Shown:
    """How the engine shows a table it was given (see :meth:`Database.definitions`)."""

    checks: dict[str, str]
    """Check name → definition, ``CHECK (…)``."""
    defaults: dict[str, str | None]
    """Column → default (None: none)."""


class Database:
    """The operations the applier needs; subclasses fill in the engine's SQL."""

    dialect = ""
    transactional_ddl = True
    placeholder = "%s"
    now_sql = ""
    history_ddl = ""
    progress_ddl = ""
    progress_columns: tuple[str, ...] = ()
    """``ALTER TABLE`` clauses that bring a ``schemac_progress`` made by an older schemac to today's columns."""
    atomic_statement: re.Pattern[str] | None = None
    """Without transactional DDL: the statements (data changes) that run in one transaction with their
    progress row, so that both commit or neither does."""
    session_statement: re.Pattern[str] | None = None
    """Without transactional DDL: the statements that only set the session up, which a resumed run
    replays before the statement it resumes at (the session of the run that stopped is gone)."""

    def __init__(self, target: Target, connection: Any) -> None:
        self.target = target
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in self._run(sql, params).fetchall()]

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query as {column name: value}: a table missing a column gives no value for it."""
        cursor = self._run(sql, params)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def column_names(self, table: str) -> list[str]:
        """The columns ``table`` has (a name schemac chose: it is not quoted)."""
        cursor = self._run(f"SELECT * FROM {table} WHERE 1 = 0", ())
        cursor.fetchall()
        return [column[0] for column in cursor.description or ()]

    @property
    def driver_error(self) -> type[Exception]:
        """The base class of every error the driver raises (DB-API's ``Connection.Error``)."""
        error: type[Exception] = self.connection.Error
        return error

    def statement_failed(self, error: Exception) -> bool:
        """Whether ``error``, raised by a statement, means the server refused it, so that nothing of it committed."""
        return True

    def schema_digests(self, names: Collection[str] | None = None) -> dict[tuple[str, str], str]:
        """Without transactional DDL: the live schema (see :class:`MariaDBDatabase`)."""
        raise NotImplementedError

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

    def definitions(self, tables: Mapping[str, str]) -> dict[str, Shown] | None:
        """How this engine shows checks and defaults it is given: each of ``tables`` (label → what a
        ``CREATE TABLE`` holds between its parentheses: columns with their defaults, and named CHECK
        constraints) is made as a temporary table of this session, its checks and defaults are read
        back as :meth:`tables` reads live ones, and it is removed. ``None`` when the session cannot make
        a temporary table (a read-only transaction or replica, a missing privilege).

        So an expected check or default is put in the engine's own words (PostgreSQL's casts and
        parentheses, MariaDB's lower-case functions and quoting) by the engine itself, whatever its version.
        """
        labels = list(tables)
        found: dict[str, Shown] = {}
        for start in range(0, len(labels), self.temporary_batch):
            batch = range(start, min(start + self.temporary_batch, len(labels)))
            temporary = {f"schemac_verify_{i}": labels[i] for i in batch}
            try:
                made = self._temporary_checks({name: tables[label] for name, label in temporary.items()})
            except self.driver_error:
                return None
            found.update((temporary[name], shown) for name, shown in made.items())
        return found

    temporary_batch = 500
    """Temporary tables made at once: PostgreSQL makes a batch in one transaction, which holds a lock on
    each (the server's lock table has room for some thousands)."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """Create the temporary ``tables`` (name → definition), read their checks and defaults, remove them."""
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
    lock_errors = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
    """Primary result codes by which SQLite says another connection held the file past the busy timeout."""

    def __init__(self, target: Target, connection: Any) -> None:
        super().__init__(target, connection)
        self._clean_at: int | None = None
        """``PRAGMA data_version`` when the last check left the database without violations; None: unknown."""
        self._referencing: dict[str, set[str]] | None = None
        """Lower-cased table name -> the tables whose foreign keys name it (built when first needed)."""

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
            raise _lock_timeout(self.target, waited_ms / 1000) from None

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
        found[_unquote_name(match.group(1))] = "CHECK (" + sql[match.end() : j - 1] + ")"
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
        self.execute(f"SET lock_timeout = '{max(1, round(timeout * 1000))}ms'")  # 0 would wait forever
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
                LiveColumn(*row)
                for row in self.query(
                    f"SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, {self._default} "
                    f"FROM pg_attribute a {self._defaults} WHERE a.attrelid = %s AND a.attnum > 0 "
                    "AND NOT a.attisdropped ORDER BY a.attnum",
                    (oid,),
                )
            )
            constraints = self.query(
                "SELECT con.conname, con.contype, "
                + names.format(keys="con.conkey", rel="con.conrelid")
                + ", ref.relname, "
                + names.format(keys="con.confkey", rel="con.confrelid")
                + ", con.confdeltype, con.confupdtype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
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
            checks = {r[0]: r[7] for r in constraints if r[1] == "c"}
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

    _default = "pg_get_expr(d.adbin, d.adrelid)"
    _defaults = "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    """The default of column ``a`` as :meth:`tables` and :meth:`definitions` read it."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """All in one round trip and one transaction, rolled back: nothing is left, even of a failure."""
        temporary = "c.relnamespace = pg_my_temp_schema()"
        self.execute("BEGIN")
        try:
            self.execute(";\n".join(f"CREATE TEMPORARY TABLE {name} ({body})" for name, body in tables.items()))
            checks = self.query(
                "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                f"JOIN pg_class c ON c.oid = con.conrelid WHERE {temporary} AND con.contype = 'c'"
            )
            defaults = self.query(
                f"SELECT c.relname, a.attname, {self._default} FROM pg_attribute a "
                f"JOIN pg_class c ON c.oid = a.attrelid {self._defaults} WHERE {temporary} AND a.attnum > 0 "
                "AND NOT a.attisdropped"
            )
        finally:
            self.rollback()
        found = {name: Shown({}, {}) for name in tables}
        for table, name, definition in checks:
            if table in found:
                found[table].checks[name] = definition
        for table, column, default in defaults:
            if table in found:
                found[table].defaults[column] = default
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
        "checksum CHAR(64) NOT NULL, statements INT NOT NULL, state VARCHAR(16), fingerprint CHAR(64), "
        "next_fingerprint CHAR(64)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    progress_columns = (
        "ADD COLUMN IF NOT EXISTS state VARCHAR(16)",
        "ADD COLUMN IF NOT EXISTS fingerprint CHAR(64)",
        "ADD COLUMN IF NOT EXISTS next_fingerprint CHAR(64)",
    )
    atomic_statement = re.compile(r"(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
    session_statement = re.compile(r"SET\b(?!\s+STATEMENT\b)", re.IGNORECASE)  # SET STATEMENT … FOR runs one
    client_errors = range(2000, 3000)
    """Error numbers the driver raises itself (a lost connection, …): the statement may have committed."""
    interrupted_errors = frozenset({1053, 1317, 1927})
    """Server shutdown, query interrupted, connection killed: whether the statement committed is unknown."""
    schema_catalog = (
        # "VIEW SCHEMA_COLUMN NAME [SECOND_NAME]: DIGESTED COLUMNS": an information_schema view, the column
        # naming the schema, the names keying the group a row belongs to (first the table it describes,
        # which the server looks rows up by, or the routine or event), and the columns digested
        "TABLES TABLE_SCHEMA TABLE_NAME: TABLE_TYPE ENGINE ROW_FORMAT TABLE_COLLATION CREATE_OPTIONS TABLE_COMMENT "
        "CREATE_TIME",
        "COLUMNS TABLE_SCHEMA TABLE_NAME: COLUMN_NAME ORDINAL_POSITION COLUMN_DEFAULT IS_NULLABLE COLUMN_TYPE "
        "CHARACTER_SET_NAME COLLATION_NAME EXTRA COLUMN_COMMENT GENERATION_EXPRESSION",
        "STATISTICS TABLE_SCHEMA TABLE_NAME: INDEX_NAME NON_UNIQUE SEQ_IN_INDEX COLUMN_NAME COLLATION SUB_PART "
        "INDEX_TYPE INDEX_COMMENT",
        "CHECK_CONSTRAINTS CONSTRAINT_SCHEMA TABLE_NAME: CONSTRAINT_NAME CHECK_CLAUSE",
        "KEY_COLUMN_USAGE TABLE_SCHEMA TABLE_NAME REFERENCED_TABLE_NAME: CONSTRAINT_NAME ORDINAL_POSITION "
        "COLUMN_NAME REFERENCED_COLUMN_NAME",
        "TRIGGERS EVENT_OBJECT_SCHEMA EVENT_OBJECT_TABLE TRIGGER_NAME: EVENT_MANIPULATION ACTION_TIMING "
        "ACTION_ORDER ACTION_STATEMENT SQL_MODE CREATED",
        "ROUTINES ROUTINE_SCHEMA ROUTINE_NAME: ROUTINE_TYPE DTD_IDENTIFIER ROUTINE_DEFINITION SECURITY_TYPE SQL_MODE "
        "ROUTINE_COMMENT LAST_ALTERED",
        "EVENTS EVENT_SCHEMA EVENT_NAME: EVENT_DEFINITION EVENT_TYPE EXECUTE_AT INTERVAL_VALUE INTERVAL_FIELD STATUS "
        "ON_COMPLETION LAST_ALTERED",
    )
    """What :meth:`schema_digests` reads: what DDL can change in a schema. Views are in TABLES, but not
    their definitions, nor a foreign key's rules: the statements that change only those (CREATE OR
    REPLACE VIEW, a key dropped and added again in one ALTER TABLE) do no harm when run twice."""
    schema_filter_limit = 500
    """More names than this, and :meth:`schema_digests` reads the whole schema rather than list them in SQL."""

    def begin(self) -> None:
        self.execute("START TRANSACTION")

    def statement_failed(self, error: Exception) -> bool:
        number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
        return (
            isinstance(error, self.driver_error)
            and number > 0
            and number not in self.client_errors
            and number not in self.interrupted_errors
        )

    def schema_digests(self, names: Collection[str] | None = None) -> dict[tuple[str, str], str]:
        """The live schema in one query: per group of catalog rows, an order-free digest of them.

        A group is keyed by two lower-cased names: the table a row describes (or the routine, the
        event), and a foreign key's parent table or a trigger's name. With ``names`` (lower-cased), only
        the groups whose first name is one of them: the server then reads only those tables'
        definitions, a few milliseconds where a read of all of them takes tens. Each row's digest is the
        first 64 bits of the SHA-256 of its values, quoted; a group's is their sum with their count.
        """
        wanted = sorted({name for name in names if 0 < len(name) <= 64}) if names is not None else None
        if wanted == []:
            return {}
        if wanted is not None and len(wanted) > self.schema_filter_limit:
            wanted = None
        own = ", ".join(f"'{table}'" for table in sorted(OWN_TABLES))
        parts, params = [], []
        for line in self.schema_catalog:
            keyed, _, digested = line.partition(":")
            view, schema, *keys = keyed.split()
            cells = ", ".join(f"QUOTE({column})" for column in (*keys, *digested.split()))
            second = keys[1] if len(keys) > 1 else "''"
            where = f"{schema} = DATABASE() AND {keys[0]} NOT IN ({own})"
            if wanted is not None:
                where += f" AND {keys[0]} IN ({', '.join(['%s'] * len(wanted))})"
                params += wanted
            parts.append(
                f"SELECT {keys[0]} AS name1, {second} AS name2, "
                f"CAST(CONV(LEFT(SHA2(CONCAT_WS(',', {cells}), 256), 16), 16, 10) AS UNSIGNED) AS digest "
                f"FROM information_schema.{view} WHERE {where}"
            )
        sql = (
            "SELECT CAST(LOWER(COALESCE(name1, '')) AS BINARY), CAST(LOWER(COALESCE(name2, '')) AS BINARY), "
            f"SUM(digest), COUNT(*) FROM ({' UNION ALL '.join(parts)}) AS catalog GROUP BY 1, 2"
        )
        found = {}
        for first, second, total, count in self.query(sql, params):
            key = (bytes(first).decode(errors="replace"), bytes(second).decode(errors="replace"))
            if names is None or key[0] in names:
                found[key] = f"{total}:{count}"
        return found

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
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS "
            f"{where} ORDER BY TABLE_NAME, ORDINAL_POSITION"
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
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
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
            live_columns = tuple(LiveColumn(r[0], r[1].lower(), r[2] == "YES", _mariadb_default(r[3])) for r in rows)
            definitions = {r[0]: f"CHECK ({r[1]})" for r in checks.get(name, [])}
            found[name] = LiveTable(name, live_columns, primary, indexes, fks, definitions)
        return found

    temporary_table_options = "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    """As the packaged ``create_table.sql.j2`` makes tables, so that literals read the same."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """A temporary table is not in information_schema: its checks and defaults are read from ``SHOW
        CREATE TABLE``, which prints a check's clause as ``CHECK_CLAUSE`` does and a default as
        ``COLUMN_DEFAULT`` does (one line each: newlines are escaped)."""
        made: list[str] = []
        found: dict[str, Shown] = {}
        try:
            for name, body in tables.items():
                self.execute(f"CREATE TEMPORARY TABLE {name} ({body}) {self.temporary_table_options}")
                made.append(name)
                text = self.query(f"SHOW CREATE TABLE {name}")[0][1]
                found[name] = Shown(
                    {_unquote_name(match[0]): f"CHECK ({match[1]})" for match in _SHOWN_CHECK.findall(text)},
                    {
                        _unquote_name(match[0]): _mariadb_default(match[1] or None)
                        for match in _SHOWN_COLUMN.findall(text)
                    },
                )
        finally:
            if made:
                with suppress(self.driver_error):
                    self.execute(f"DROP TEMPORARY TABLE IF EXISTS {', '.join(made)}")
        return found


_SHOWN_CHECK = re.compile(r"^\s*CONSTRAINT (`(?:[^`]|``)+`) CHECK \((.*)\),?$", re.MULTILINE)
"""A check constraint's line in MariaDB's ``SHOW CREATE TABLE``."""
_SHOWN_COLUMN = re.compile(r"^\s*(`(?:[^`]|``)+`) .*?(?: DEFAULT (.*?))?,?$", re.MULTILINE)
"""A column's line in MariaDB's ``SHOW CREATE TABLE`` (the other lines start with a word), and its default:
what follows the first `` DEFAULT `` (a type holds none; the tables verify makes have nothing after it)."""


def _mariadb_default(shown: str | None) -> str | None:
    """A default as MariaDB shows it; ``NULL``, its word for a nullable column without one, is none."""
    return None if shown == "NULL" else shown


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


SESSION_SETTINGS = {
    "postgresql": ("SET standard_conforming_strings = on",),
    "mariadb": (
        "SET SESSION sql_mode = TRIM(BOTH ',' FROM "
        "REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))",
    ),
}
"""Run on every connection, so that a literal reads as the migration wrote it whatever the server, database
or role sets: with standard_conforming_strings off PostgreSQL reads a backslash in a plain '…' as an
escape, and with NO_BACKSLASH_ESCAPES MariaDB keeps both of the backslashes its files double."""


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


def connect(target: Target, timeout: float, *, read_only: bool = False) -> Database:
    """An autocommit connection (the applier opens its own transactions), or SC606 naming the database.

    ``read_only`` (``status``, ``verify``): a SQLite file is opened read-only, and one that does not
    exist is SC606 instead of a new, empty database. Every message has the URL's passwords masked.
    """

    def failed(message: str, hint: str = "", code: str = "SC606") -> SchemacError:
        return _error(target.shown, code, target.mask(message), hint)

    try:
        if target.dialect == "sqlite":
            path = Path(target.url[len("sqlite:///") :] if "://" in target.url else target.url)
            if read_only and not path.exists():
                raise failed(
                    f"database file '{path}' does not exist", "check the path: only 'schemac apply' creates one"
                )
            if not path.parent.is_dir():
                raise failed(f"directory '{path.parent}' does not exist")
            try:
                connection = _open_sqlite(path, timeout, "ro" if read_only else "")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_READONLY_ROLLBACK:
                    raise
                # A writer died mid-transaction: the first reader rolls its hot journal back, which needs
                # write access (mode=rw still never creates a file).
                connection = _open_sqlite(path, timeout, "rw")
            return SQLiteDatabase(target, connection)
        # The password goes to the driver as a parameter, never inside a URL the driver would parse and quote.
        server = _server(target.url)
        database: Database
        if target.dialect == "postgresql":
            psycopg = _driver("psycopg", "postgresql", target)
            given = {"user": server.user, "password": server.password}
            connection = psycopg.connect(
                f"postgresql://{server.hostport}{server.tail}",
                autocommit=True,
                connect_timeout=10,
                **{key: value for key, value in given.items() if value is not None},
            )
            database = PostgreSQLDatabase(target, connection)
        else:
            pymysql = _driver("pymysql", "mariadb", target)
            host, port = _address(server.hostport)
            name = unquote(re.split("[?#]", server.tail, maxsplit=1)[0].lstrip("/"))
            if not name:
                raise failed("the MariaDB URL names no database", _EXAMPLES["mariadb"], "SC601")
            connection = pymysql.connect(
                host=host,
                port=port,
                user=server.user or "",
                password=server.password or "",
                database=name,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=10,
            )
            database = MariaDBDatabase(target, connection)
        for sql in SESSION_SETTINGS.get(target.dialect, ()):
            database.execute(sql)
        return database
    except SchemacError:
        raise
    except Exception as exc:
        raise failed(f"cannot connect: {' '.join(target.mask(str(exc)).split())}") from None
