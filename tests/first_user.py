"""An emulation of the first user's loader and runners (``../shared/design/loader-contract.md``).

Their TypeScript project runs SQLite through better-sqlite3: foreign keys on, WAL, and double-quoted
string literals off. ``apsw`` can switch those off (``SQLITE_DBCONFIG_DQS_DDL``/``DQS_DML``); Python's
own ``sqlite3`` on 3.11 cannot. :class:`Runner` is the application runner (tracked versions, all
pending files in one transaction), :func:`replay_all` the replay runner (every file, every time).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"
)
_LEADING_INTEGER = re.compile(r"\s*[+-]?[0-9]+")


class LoaderError(Exception):
    """The loader or a runner refused to start (a file name without a version, a checksum mismatch)."""


@dataclass(frozen=True)
class MigrationFile:
    version: int
    name: str
    """The file name after the first ``_``, without ``.sql``, each ``_`` a space (as the runner stores it)."""
    sql: str
    checksum: str
    """Lowercase hex SHA-256 of the file's text."""


def load(directory: Path) -> list[MigrationFile]:
    """Every ``*.sql`` file directly in ``directory``, in ascending integer version (duplicates kept).

    The version is the text before the first ``_`` read as JavaScript's ``parseInt(text, 10)`` reads it:
    leading digits, the rest ignored (``007`` is 7); a name with no leading digits is an error naming it.
    """
    found = []
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name.endswith(".sql")):
        prefix, _, rest = path.name[: -len(".sql")].partition("_")
        match = _LEADING_INTEGER.match(prefix)
        if match is None:
            raise LoaderError(f"{path.name}: the text before the first '_' is not a version number")
        sql = path.read_bytes().decode("utf-8")
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        found.append(MigrationFile(int(match.group()), rest.replace("_", " "), sql, checksum))
    return sorted(found, key=lambda migration: migration.version)


def connect(path: str | Path) -> apsw.Connection:
    """A connection as better-sqlite3 makes it for them: double-quoted strings off, WAL, foreign keys on."""
    connection = apsw.Connection(str(path))
    connection.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
    connection.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    _run_script(connection, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON")
    return connection


def _run_script(connection: apsw.Connection, sql: str) -> None:
    """Every statement of ``sql``, as ``Database.exec`` runs a file."""
    for _ in connection.execute(sql):
        pass


class Runner:
    """The application runner: versions above the highest one recorded in ``_migrations`` run, all of
    them in one transaction, each file followed by its ``_migrations`` row."""

    def __init__(self, path: str | Path) -> None:
        self.connection = connect(path)

    def apply(self, directory: str | Path) -> list[int]:
        """Apply the pending files of ``directory``; the versions applied. Any error rolls every one of
        them back and is raised; a recorded version whose file changed is :class:`LoaderError`."""
        files = load(Path(directory))
        self.execute(MIGRATIONS_DDL)
        recorded = dict(self.query("SELECT version, checksum FROM _migrations"))
        for migration in files:
            if migration.version in recorded and recorded[migration.version] != migration.checksum:
                raise LoaderError(f"checksum mismatch: version {migration.version} ({migration.name})")
        newest = max(recorded, default=None)
        pending = [m for m in files if newest is None or m.version > newest]
        if not pending:
            return []
        self.execute("BEGIN")
        try:
            for migration in pending:
                _run_script(self.connection, migration.sql)
                self.execute(
                    "INSERT INTO _migrations (version, name, checksum) VALUES (?, ?, ?)",
                    (migration.version, migration.name, migration.checksum),
                )
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")
        return [m.version for m in pending]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.connection.execute(sql, params)]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        for _ in self.connection.execute(sql, params):
            pass

    def close(self) -> None:
        self.connection.close()


def replay_all(path: str | Path, directory: str | Path) -> None:
    """The replay runner: every file of ``directory``, in order, in one ``BEGIN … COMMIT``, untracked."""
    connection = connect(path)
    try:
        connection.execute("BEGIN")
        try:
            for migration in load(Path(directory)):
                _run_script(connection, migration.sql)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.close()
