"""Apply stage: run pending migrations against a database, one transaction each, and report status.

Every migration runs with its history row in one transaction where the engine has transactional
DDL (SQLite, PostgreSQL). MariaDB commits each DDL statement on its own, so there the applier
records after every statement how far it got, and a rerun resumes after the last one recorded.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .databases import HISTORY_TABLE, PROGRESS_TABLE, Database, Target, connect, parse_url
from .errors import EXIT_FINDINGS, Diagnostic, SchemacError
from .loader import Migration, load_migrations
from .settings import Settings, load_settings
from .source import position_of

DEFAULT_LOCK_TIMEOUT = 300.0


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int


def split_statements(text: str) -> list[Statement]:
    """The statements of a migration file, each with the line it starts on; comments between them dropped.

    A ``;`` ends a statement only where SQLite's tokenizer says the text so far is complete, so a
    ``;`` inside a string literal, quoted name or comment never splits. The scan skips those the way
    that tokenizer does and asks ``sqlite3.complete_statement`` only at the other ``;`` (where it
    can still say no: inside a ``CREATE TRIGGER … END``), so the work grows with the file's length.
    """
    found: list[Statement] = []
    start = at = 0
    line, counted = 1, 0
    while chunk := _UP_TO_SEMICOLON.match(text, at):
        at = chunk.end()
        if sqlite3.complete_statement(text[start:at]):
            body = _skip_comments(text, start, at - 1)
            line += text.count("\n", counted, body)
            counted = body
            found.append(Statement(text[body:at], line))
            start = at
    return found


_UP_TO_SEMICOLON = re.compile(
    r"""(?:[^;'"`\[/-]+|'[^']*'|"[^"]*"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*(?s:.*?)\*/|-(?!-)|/(?!\*))*+;"""
)
"""Text up to the next ``;`` that SQLite's tokenizer (``sqlite3_complete``) sees outside quotes and
comments, skipping them as it does; no match when every ``;`` left is inside one left open."""


def _skip_comments(text: str, start: int, end: int) -> int:
    """The index of the first character of ``text[start:end]`` that is neither blank nor in a comment."""
    at = start
    while at < end:
        if text[at].isspace():
            at += 1
        elif text.startswith("--", at):
            at = text.find("\n", at) + 1 or end
        elif text.startswith("/*", at):
            at = text.find("*/", at) + 2 or end
        else:
            break
    return at


@dataclass(frozen=True)
class HistoryRow:
    version: int
    name: str
    checksum: str
    applied_at: str
    execution_ms: int


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    file: str
    execution_ms: int


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did: the migrations it ran (or would run, with ``dry_run``)."""

    database: str
    directory: str
    applied: tuple[AppliedMigration, ...]
    pending: tuple[Migration, ...]
    dry_run: bool
    current_version: int | None


@dataclass(frozen=True)
class StatusEntry:
    version: int
    name: str
    file: str
    state: str  # applied | pending | partial | changed | unknown
    applied_at: str = ""
    statements_done: int = 0
    """For a version a run left part-way (MariaDB): how many statements it committed."""
    statements: int = 0
    """For such a version: how many statements its file holds now (0 with no file)."""


@dataclass(frozen=True)
class StatusResult:
    database: str
    entries: tuple[StatusEntry, ...]
    findings: tuple[Diagnostic, ...] = ()
    """Why each changed or unknown version is one (SC602, SC603), as ``apply`` would refuse it."""

    def of(self, state: str) -> tuple[StatusEntry, ...]:
        return tuple(e for e in self.entries if e.state == state)

    @property
    def ok(self) -> bool:
        """No applied file changed and no applied version is unknown to the migrations directory."""
        return not self.of("changed") and not self.of("unknown")


def _history(database: Database) -> dict[int, HistoryRow]:
    if not database.table_exists(HISTORY_TABLE):
        return {}
    rows = database.query(
        f"SELECT version, name, checksum, applied_at, execution_ms FROM {HISTORY_TABLE} ORDER BY version"
    )
    return {int(r[0]): HistoryRow(int(r[0]), r[1], r[2], str(r[3]), int(r[4])) for r in rows}


def migrations_for(settings: Settings, target: Target) -> tuple[str, list[Migration]]:
    """The migration directory (as shown) and migrations this project has for the target's engine."""
    if target.dialect not in settings.dialects:
        raise SchemacError(
            [
                Diagnostic(
                    settings.source or "schemac.toml",
                    1,
                    1,
                    "SC610",
                    f"the project builds no {target.dialect} migrations (dialects: {', '.join(settings.dialects)})",
                    f"add \"{target.dialect}\" to dialects and run 'schemac build'",
                )
            ]
        )
    directory = settings.output_dir(target.dialect)
    return settings.relative(directory), load_migrations(directory, target.dialect)


Progress = dict[int, tuple[str, int]]
"""Version → (checksum, statements committed) of the migrations an interrupted run left part-way."""


def _progress_rows(database: Database) -> Progress:
    """What ``schemac_progress`` records (MariaDB); nothing on engines with transactional DDL."""
    if not database.progress_ddl or not database.table_exists(PROGRESS_TABLE):
        return {}
    rows = database.query(f"SELECT version, checksum, statements FROM {PROGRESS_TABLE}")
    return {int(version): (checksum, int(done)) for version, checksum, done in rows}


def _status_entries(
    directory: str, migrations: list[Migration], history: dict[int, HistoryRow], progress: Progress
) -> list[StatusEntry]:
    entries = []
    for m in migrations:
        file, row, part = f"{directory}/{m.file}", history.get(m.version), progress.get(m.version)
        if row is not None:
            state = "applied" if row.checksum == m.checksum else "changed"
            entries.append(StatusEntry(m.version, m.name, file, state, row.applied_at))
        elif part is not None:  # a rerun resumes after these statements, if the file is the one that ran
            state = "partial" if part[0] == m.checksum else "changed"
            total = len(split_statements(m.sql))
            entries.append(StatusEntry(m.version, m.name, file, state, statements_done=part[1], statements=total))
        else:
            entries.append(StatusEntry(m.version, m.name, file, "pending"))
    known = {m.version for m in migrations}
    entries += [StatusEntry(v, r.name, "", "unknown", r.applied_at) for v, r in history.items() if v not in known]
    entries += [
        StatusEntry(v, "", "", "unknown", statements_done=done)
        for v, (_, done) in progress.items()
        if v not in known and v not in history
    ]
    return sorted(entries, key=lambda e: e.version)


def _statements(count: int) -> str:
    return f"{count} statement{'' if count == 1 else 's'}"


def _drift_diagnostics(
    target: Target, entries: list[StatusEntry], history: dict[int, HistoryRow], progress: Progress
) -> list[Diagnostic]:
    found = []
    for entry in entries:
        if entry.state == "changed" and entry.version in history:
            found.append(
                Diagnostic(
                    entry.file,
                    1,
                    1,
                    "SC602",
                    f"changed: version {entry.version} was applied to {target.shown} with SHA-256 "
                    f"{history[entry.version].checksum[:12]}…, the file now has another",
                    "restore the file from version control; change the schema with a follow-up spec",
                )
            )
        elif entry.state == "changed":
            found.append(
                Diagnostic(
                    entry.file,
                    1,
                    1,
                    "SC602",
                    f"changed: {_statements(entry.statements_done)} of version {entry.version} ran on "
                    f"{target.shown} from a file with SHA-256 {progress[entry.version][0][:12]}…, "
                    "the file now has another",
                    "restore the file from version control, then rerun apply to finish it",
                )
            )
        elif entry.state == "unknown":
            applied = (
                f"version {entry.version} ({entry.name}) is applied"
                if entry.version in history
                else f"version {entry.version} is partly applied ({_statements(entry.statements_done)} ran)"
            )
            found.append(
                Diagnostic(
                    target.shown,
                    1,
                    1,
                    "SC603",
                    f"unknown: {applied} but has no migration file",
                    "update your checkout: the database was migrated by a newer set of files",
                )
            )
    return found


def status(project: str | Path = ".", db: str = "") -> StatusResult:
    """Applied, pending, partial (MariaDB), changed and unknown versions; reads the database, writes nothing."""
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    database = connect(target, DEFAULT_LOCK_TIMEOUT)
    try:
        _, entries, findings = recorded_status(database, target, directory, migrations)
    finally:
        database.close()
    return StatusResult(target.shown, tuple(entries), tuple(findings))


def apply(
    project: str | Path = ".",
    db: str = "",
    *,
    to: int | None = None,
    dry_run: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_applied: Callable[[AppliedMigration], None] | None = None,
) -> ApplyResult:
    """Apply every pending migration (up to ``to``) in version order, each in its own transaction.

    Refuses to start when an applied file changed or the database has a version the files do not.
    Concurrent appliers wait for one another on the database's lock; each version runs once.
    """
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    if to is not None and to not in {m.version for m in migrations}:
        raise SchemacError(
            [Diagnostic(directory, 1, 1, "SC609", f"--to {to}: there is no migration with version {to}")]
        )
    wanted = [m for m in migrations if to is None or m.version <= to]
    database = connect(target, lock_timeout)
    try:
        if dry_run:
            history = _check_history(database, target, directory, migrations)
            pending = tuple(m for m in wanted if m.version not in history)
            _refuse_nul_characters(database, directory, pending)
            return ApplyResult(target.shown, directory, (), pending, True, max(history, default=None))
        with database.locked(lock_timeout):
            history = _check_history(database, target, directory, migrations)
            pending = tuple(m for m in wanted if m.version not in history)
            _refuse_nul_characters(database, directory, pending)
            _create_own_tables(database)
            applied = []
            for migration in pending:
                done = _apply_one(database, directory, migration)
                if done is not None:
                    applied.append(done)
                    if on_applied:
                        on_applied(done)
            current = max(_history(database), default=None)
    finally:
        database.close()
    return ApplyResult(target.shown, directory, tuple(applied), pending, False, current)


def recorded_status(
    database: Database, target: Target, directory: str, migrations: list[Migration]
) -> tuple[dict[int, HistoryRow], list[StatusEntry], list[Diagnostic]]:
    """The database's history, every version's state, and why each changed or unknown one is so."""
    history, progress = _history(database), _progress_rows(database)
    entries = _status_entries(directory, migrations, history, progress)
    return history, entries, _drift_diagnostics(target, entries, history, progress)


def _check_history(
    database: Database, target: Target, directory: str, migrations: list[Migration]
) -> dict[int, HistoryRow]:
    history, _, problems = recorded_status(database, target, directory, migrations)
    if problems:
        raise SchemacError(problems, EXIT_FINDINGS)
    return history


def _refuse_nul_characters(database: Database, directory: str, pending: tuple[Migration, ...]) -> None:
    """SC604 before anything runs when a pending file holds a NUL character, which no engine takes in SQL."""
    found = []
    for migration in pending:
        at = migration.sql.find("\0")
        if at >= 0:
            line, column = position_of(migration.sql, at)
            message = f"migration cannot run on {database.dialect}: the file holds a NUL character (U+0000)"
            found.append(Diagnostic(f"{directory}/{migration.file}", line, column, "SC604", message, "remove it"))
    if found:
        raise SchemacError(found)


def _create_own_tables(database: Database) -> None:
    for table, ddl in ((HISTORY_TABLE, database.history_ddl), (PROGRESS_TABLE, database.progress_ddl)):
        if ddl and not database.table_exists(table):
            database.begin()
            database.execute(ddl)
            database.commit()


def _apply_one(database: Database, directory: str, migration: Migration) -> AppliedMigration | None:
    """Run one migration with its history row; ``None`` when another applier got there first."""
    file = f"{directory}/{migration.file}"
    statements = split_statements(migration.sql)
    started = time.monotonic()
    transactional = database.transactional_ddl
    sql = database.sql
    line = 1
    try:
        if transactional:
            database.begin()
        if database.query(sql(f"SELECT 1 FROM {HISTORY_TABLE} WHERE version = ?"), (migration.version,)):
            if transactional:
                database.rollback()
            return None
        done = 0 if transactional else _progress(database, migration)
        for number, statement in enumerate(statements[done:], done + 1):
            line = statement.line
            database.execute(statement.sql)
            if not transactional:
                database.execute(
                    sql(f"REPLACE INTO {PROGRESS_TABLE} (version, checksum, statements) VALUES (?, ?, ?)"),
                    (migration.version, migration.checksum, number),
                )
        problems = database.integrity_problems([statement.sql for statement in statements])
        if problems:
            database.rollback()
            raise SchemacError(
                [
                    Diagnostic(
                        file,
                        1,
                        1,
                        "SC605",
                        f"foreign key violations after this migration: {'; '.join(problems[:3])}"
                        + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
                        "fix the rows, then rerun apply",
                    )
                ]
            )
        if not transactional:
            database.begin()
        elapsed = round((time.monotonic() - started) * 1000)
        database.execute(
            sql(
                f"INSERT INTO {HISTORY_TABLE} (version, name, checksum, applied_at, execution_ms) "
                f"VALUES (?, ?, ?, {database.now_sql}, ?)"
            ),
            (migration.version, migration.name, migration.checksum, elapsed),
        )
        if not transactional:
            database.execute(sql(f"DELETE FROM {PROGRESS_TABLE} WHERE version = ?"), (migration.version,))
        database.commit()
    except SchemacError:
        raise
    except Exception as exc:
        database.rollback()
        message = " ".join(str(exc).split())
        hint = "" if transactional else "statements before this one stay applied; fix the cause and rerun to resume"
        raise SchemacError(
            [Diagnostic(file, line, 1, "SC604", f"migration failed on {database.dialect}: {message}", hint)]
        ) from None
    return AppliedMigration(migration.version, migration.name, file, elapsed)


def _progress(database: Database, migration: Migration) -> int:
    """How many statements of ``migration`` an interrupted earlier run committed (engines without transactional DDL)."""
    rows = database.query(
        database.sql(f"SELECT checksum, statements FROM {PROGRESS_TABLE} WHERE version = ?"), (migration.version,)
    )
    return int(rows[0][1]) if rows and rows[0][0] == migration.checksum else 0
