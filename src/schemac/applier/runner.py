"""``apply``: run pending migrations against a database, one transaction each, under the database's lock.

Every migration runs with its history row in one transaction where the engine has transactional
DDL (SQLite, PostgreSQL). MariaDB commits each DDL statement on its own, so there the runner
records after every statement how far it got (:func:`_run_resumable`), and a rerun resumes after
the last one recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from schemac.applier.records import (
    DEFAULT_LOCK_TIMEOUT,
    PROGRESS_COLUMNS,
    RUNNING,
    STOPPED,
    create_own_tables,
    one_line,
    read_history,
    upgrade_progress_table,
)
from schemac.applier.statements import LiveSchema, Statement, matches, split_statements
from schemac.applier.states import Recorded, migrations_for, recorded
from schemac.dialects.base import HISTORY_TABLE, PROGRESS_TABLE, Database
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail
from schemac.migrations.loader import Migration
from schemac.project.settings import load_settings
from schemac.spec.source import position_of


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
    resumed: Mapping[int, int] = field(default_factory=dict)
    """Per pending version a run left part-way (MariaDB): how many of its statements ran already."""

    def sql(self, migration: Migration) -> str:
        """The SQL ``apply`` runs for a pending ``migration``: its file, or the statements a run left."""
        ran = self.resumed.get(migration.version, 0)
        if not ran:
            return migration.sql
        return "\n\n".join(statement.sql for statement in split_statements(migration.sql)[ran:]) + "\n"


def apply(
    project: str | Path = ".",
    db: str = "",
    *,
    to: int | None = None,
    dry_run: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    out_of_order: bool = False,
    on_applied: Callable[[AppliedMigration], None] | None = None,
) -> ApplyResult:
    """Apply every pending migration (up to ``to``) in version order, each in its own transaction.

    Refuses to start when an applied file changed, the database has a version the files do not, a
    row of schemac's tables is not one schemac wrote, or (unless ``out_of_order``) a pending version
    is below the newest applied one. Concurrent appliers wait for one another on the database's lock;
    each version runs once. On MariaDB a version a run left part-way resumes where it stopped. A ``to``
    below the database's version is refused (SC609, exit 1): apply never goes backwards. ``dry_run``
    refuses as ``apply`` would and returns what would run (:meth:`ApplyResult.sql`), creating nothing.
    """
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    if to is not None and to not in {m.version for m in migrations}:
        raise fail(directory, 1, 1, "SC609", f"--to {to}: there is no migration with version {to}")
    wanted = [m for m in migrations if to is None or m.version <= to]
    if dry_run:
        return _dry_run(target, directory, migrations, wanted, to, lock_timeout, out_of_order)
    database = connect(target, lock_timeout)
    try:
        with writers_lock(database, target, lock_timeout):
            state = _checked(database, target, directory, migrations, wanted, out_of_order)
            pending = tuple(m for m in wanted if m.version not in state.history)
            _refuse_backwards(target, to, state, pending)
            _refuse_nul_characters(target.dialect, directory, pending)
            applied = []
            if pending:
                create_own_tables(database, target)
                schema = state.schema
                if schema is None and not database.transactional_ddl:
                    schema = LiveSchema(database)
                for migration in pending:
                    done = _apply_one(database, directory, migration, state.resume.get(migration.version, 0), schema)
                    if done is not None:
                        applied.append(done)
                        if on_applied:
                            on_applied(done)
            current = max(read_history(database, target)[0], default=None)
    finally:
        database.close()
    return ApplyResult(target.shown, directory, tuple(applied), pending, False, current)


@contextmanager
def writers_lock(database: Database, target: Target, lock_timeout: float) -> Iterator[None]:
    """Hold the lock every writer of ``schemac_history`` takes for its run (``apply``, ``baseline``):
    PostgreSQL's advisory lock, MariaDB's ``GET_LOCK``; on SQLite each transaction's ``BEGIN IMMEDIATE``
    (:meth:`~schemac.dialects.base.Database.begin`) is the lock. A ``schemac_progress`` an older schemac
    made gets today's columns first."""
    with database.locked(lock_timeout):
        upgrade_progress_table(database, target)
        yield


def record_applied(database: Database, migration: Migration, execution_ms: int) -> None:
    """``migration``'s row in ``schemac_history``, in the caller's transaction."""
    database.execute(
        database.sql(
            f"INSERT INTO {HISTORY_TABLE} (version, name, checksum, applied_at, execution_ms) "
            f"VALUES (?, ?, ?, {database.now_sql}, ?)"
        ),
        (migration.version, migration.name, migration.checksum, execution_ms),
    )


def _checked(
    database: Database,
    target: Target,
    directory: str,
    migrations: list[Migration],
    wanted: list[Migration],
    out_of_order: bool,
) -> Recorded:
    """What the database records, or every reason ``apply`` must not run (exit 1)."""
    found = recorded(database, target, directory, migrations)
    problems = list(found.refusals)
    if not out_of_order:
        problems += [found.gaps[m.version] for m in wanted if m.version in found.gaps]
    if problems:
        raise SchemacError(problems, EXIT_FINDINGS)
    return found


def _dry_run(
    target: Target,
    directory: str,
    migrations: list[Migration],
    wanted: list[Migration],
    to: int | None,
    lock_timeout: float,
    out_of_order: bool,
) -> ApplyResult:
    """What ``apply`` would run, refused as ``apply`` would refuse; creates and changes nothing.

    A SQLite file is opened read-only, and one that does not exist yet is read as the empty database
    that ``apply`` would create.
    """
    file = target.sqlite_file
    if file is not None and not file.exists() and file.parent.is_dir():
        pending, current, resume = tuple(wanted), None, {}
    else:  # a SQLite file in a directory that does not exist: SC606 as apply says it
        database = connect(target, lock_timeout, read_only=file is None or file.exists())
        try:
            state = _checked(database, target, directory, migrations, wanted, out_of_order)
        finally:
            database.close()
        pending = tuple(m for m in wanted if m.version not in state.history)
        current, resume = max(state.history, default=None), state.resume
        _refuse_backwards(target, to, state, pending)
    _refuse_nul_characters(target.dialect, directory, pending)
    resumed = {m.version: resume[m.version] for m in pending if resume.get(m.version)}
    return ApplyResult(target.shown, directory, (), pending, True, current, resumed)


def _refuse_backwards(target: Target, to: int | None, state: Recorded, pending: tuple[Migration, ...]) -> None:
    """SC609 (exit 1) when ``--to`` names a version below the database's and so nothing would run."""
    current = max(state.history, default=None)
    if to is None or current is None or to >= current or pending:
        return
    raise SchemacError(
        [
            Diagnostic(
                target.shown,
                1,
                1,
                "SC609",
                f"--to {to} is below version {current}, where {target.shown} is: apply never goes backwards",
                "to undo a version, write a follow-up spec that changes the schema back, and apply it",
            )
        ],
        EXIT_FINDINGS,
    )


def _refuse_nul_characters(dialect: str, directory: str, pending: tuple[Migration, ...]) -> None:
    """SC604 before anything runs when a pending file holds a NUL character, which no engine takes in SQL."""
    found = []
    for migration in pending:
        at = migration.sql.find("\0")
        if at >= 0:
            line, column = position_of(migration.sql, at)
            message = f"migration cannot run on {dialect}: the file holds a NUL character (U+0000)"
            found.append(Diagnostic(f"{directory}/{migration.file}", line, column, "SC604", message, "remove it"))
    if found:
        raise SchemacError(found)


def _apply_one(
    database: Database, directory: str, migration: Migration, ran: int, schema: LiveSchema | None
) -> AppliedMigration | None:
    """Run one migration with its history row; ``None`` when another applier got there first.

    With transactional DDL all of it is one transaction. Without, it resumes after the ``ran``
    statements an earlier run committed, and records its progress as it goes (:func:`_run_resumable`).
    """
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
        if transactional:
            for statement in statements:
                line = statement.line
                database.execute(statement.sql)
        else:
            assert schema is not None
            _run_resumable(database, file, migration, statements, ran, schema)
            line = 1
        problems = database.integrity_problems([statement.sql for statement in statements])
        if problems:
            database.rollback()
            raise fail(
                file,
                1,
                1,
                "SC605",
                f"foreign key violations after this migration: {'; '.join(problems[:3])}"
                + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
                "fix the rows, then rerun apply",
            )
        if not transactional:
            database.begin()
        elapsed = round((time.monotonic() - started) * 1000)
        record_applied(database, migration, elapsed)
        if not transactional:
            database.execute(sql(f"DELETE FROM {PROGRESS_TABLE} WHERE version = ?"), (migration.version,))
        database.commit()
    except SchemacError:
        database.rollback()
        raise
    except Exception as exc:
        database.rollback()
        hint = "" if transactional else "statements before this one stay applied; fix the cause and rerun to resume"
        raise fail(file, line, 1, "SC604", f"migration failed on {database.dialect}: {one_line(exc)}", hint) from None
    return AppliedMigration(migration.version, migration.name, file, elapsed)


def _run_resumable(
    database: Database, file: str, migration: Migration, statements: list[Statement], ran: int, schema: LiveSchema
) -> None:
    """Run ``statements[ran:]`` of a migration on an engine without transactional DDL, so that a run
    killed at any point resumes without running a committed statement again.

    A data change commits in one transaction with its progress row. Before any other statement the
    progress row holds the live schema's fingerprint and that of the objects the statement names, so a
    resumed run can tell whether it committed (see ``_stopped_at`` in :mod:`schemac.applier.states`);
    after it, the objects it and the next statement name are read again. A statement the server refused
    leaves the row ``stopped`` there. Session statements (``SET``) that ran before ``ran`` run again first.
    """
    version, checksum = migration.version, migration.checksum
    replace = database.sql(
        f"REPLACE INTO {PROGRESS_TABLE} ({', '.join(PROGRESS_COLUMNS)}) VALUES ({', '.join('?' * 6)})"
    )

    def intent(done: int) -> tuple[object, ...]:
        """The progress row saying that the first ``done`` statements ran and the next may be running."""
        following = statements[done].sql if done < len(statements) else None
        named = None
        if following is not None and not matches(database.atomic_statement, following):
            named = schema.fingerprint(following)
        return (version, checksum, done, RUNNING, schema.fingerprint(), named)

    def failed(statement: Statement, error: Exception, hint: str) -> SchemacError:
        message = f"migration failed on {database.dialect}: {one_line(error)}"
        return fail(file, statement.line, 1, "SC604", message, hint)

    for statement in statements[:ran]:
        if matches(database.session_statement, statement.sql):
            try:
                database.execute(statement.sql)
            except database.driver_error as exc:
                raise failed(statement, exc, "it ran before the run that stopped; fix the cause and rerun") from None
    written: tuple[object, ...] | None = None
    for index in range(ran, len(statements)):
        statement = statements[index]
        atomic = matches(database.atomic_statement, statement.sql)
        running = False
        try:
            if atomic:
                running = True
                database.begin()
                database.execute(statement.sql)
                written = intent(index + 1)
                database.execute(replace, written)
                database.commit()
                continue
            if written != intent(index):
                written = intent(index)
                database.execute(replace, written)
            running = True
            database.execute(statement.sql)
            running = False
            if not matches(database.session_statement, statement.sql):
                schema.refresh(*(s.sql for s in statements[index : index + 2]))
                if index + 1 < len(statements):  # after the last one its history row follows at once
                    written = intent(index + 1)
                    database.execute(replace, written)
        except database.driver_error as exc:
            database.rollback()
            if running and database.statement_failed(exc):  # nothing of it committed: resume here
                with suppress(Exception):
                    row = (version, checksum, index, STOPPED, schema.fingerprint(), None)
                    database.execute(replace, row)
            hint = "statements before this one stay applied; fix the cause and rerun to resume"
            raise failed(statement, exc, hint) from None
