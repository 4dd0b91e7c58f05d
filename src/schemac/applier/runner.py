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
from functools import partial
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
from schemac.applier.standby import refuse_standby
from schemac.applier.statements import (
    NO_ALGORITHM,
    LiveSchema,
    Statement,
    Step,
    asked_algorithms,
    matches,
    split_statements,
    split_steps,
)
from schemac.applier.states import Recorded, migrations_for, recorded
from schemac.dialects.base import HISTORY_TABLE, PROGRESS_TABLE, Database
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail
from schemac.migrations.loader import Migration
from schemac.project.settings import load_settings
from schemac.spec.source import position_of

LOCK_RETRIES = 5
"""How many times ``apply`` tries a step again after it gave up waiting for a lock, by default."""
RETRY_PAUSE = 1.0
"""Seconds ``apply`` waits before the first try again; each next pause doubles, up to :data:`RETRY_PAUSE_LIMIT`."""
RETRY_PAUSE_LIMIT = 30.0


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    file: str
    execution_ms: int
    algorithms: tuple[tuple[int, str], ...] = ()
    """(line, what it asked for) of each statement of this run that changed a table's structure, where the
    engine takes an algorithm (MariaDB: ``ALGORITHM=INSTANT``, or that it asked for none)."""
    lock_retries: int = 0
    """How many times a step was tried again after it gave up waiting for a lock (``lock_timeout``)."""
    rebuilt_indexes: tuple[str, ...] = ()
    """Indexes a failed concurrent build had left invalid, dropped and built again."""


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
    cluster: str = ""
    """What the run found of the cluster the database is a node of (MariaDB Galera: how DDL ran), else ''."""

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
    lock_retries: int = LOCK_RETRIES,
) -> ApplyResult:
    """Apply every pending migration (up to ``to``) in version order, each in its own transaction.

    Refuses to start when an applied file changed, the database has a version the files do not, a
    row of schemac's tables is not one schemac wrote, (unless ``out_of_order``) a pending version is
    below the newest applied one, or the database is a read-only standby (SC640). Concurrent appliers
    wait for one another on the database's lock; each version runs once. On MariaDB a version a run
    left part-way resumes where it stopped. A ``to`` below the database's version is refused (SC609,
    exit 1): apply never goes backwards. ``dry_run`` refuses as ``apply`` would and returns what would
    run (:meth:`ApplyResult.sql`), creating nothing. On PostgreSQL a file in steps (lock-safe) runs step by
    step, resuming at the step a run left, and a step that gave up waiting for a lock is tried again up to
    ``lock_retries`` times (:func:`_apply_in_steps`).
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
        refuse_standby(database, target, "apply")
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
                    ran = state.resume.get(migration.version, 0)
                    if database.runs_steps:
                        done = _apply_in_steps(database, directory, migration, ran, lock_retries)
                    else:
                        done = _apply_one(database, directory, migration, ran, schema)
                    if done is not None:
                        applied.append(done)
                        if on_applied:
                            on_applied(done)
            current = max(read_history(database, target)[0], default=None)
    finally:
        database.close()
    return ApplyResult(target.shown, directory, tuple(applied), pending, False, current, cluster=database.cluster)


@contextmanager
def writers_lock(database: Database, target: Target, lock_timeout: float) -> Iterator[None]:
    """Hold the lock every writer of ``schemac_history`` takes for its run (``apply``, ``baseline``):
    PostgreSQL's advisory lock, MariaDB's ``GET_LOCK`` (on a Galera cluster a row of ``schemac_lock``, which
    every node sees); on SQLite each transaction's ``BEGIN IMMEDIATE``
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
            refuse_standby(database, target, "apply")
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
        _still_locked(database, file, line)
        database.commit()
    except SchemacError:
        database.rollback()
        raise
    except Exception as exc:
        database.rollback()
        hint = "" if transactional else "statements before this one stay applied; fix the cause and rerun to resume"
        raise fail(file, line, 1, "SC604", f"migration failed on {database.dialect}: {one_line(exc)}", hint) from None
    asked = asked_algorithms(database.altering_statement, statements if transactional else statements[ran:])
    return AppliedMigration(migration.version, migration.name, file, elapsed, asked)


def _apply_in_steps(
    database: Database, directory: str, migration: Migration, ran: int, lock_retries: int
) -> AppliedMigration | None:
    """Run one migration step by step (:func:`~schemac.applier.statements.split_steps`), from the first step
    the ``ran`` statements an earlier run recorded do not cover; ``None`` when another applier got there first.

    A step in a transaction commits with the ``schemac_progress`` row saying it ran (the last one with the
    history row instead). A step outside any transaction runs one statement at a time, from its start again
    after a failure (each of them is re-runnable), an index a failed build left invalid dropped first. A
    step that gave up waiting for a lock is rolled back and tried again after a pause, up to
    ``lock_retries`` times; then SC630. A file without steps is one transaction, as on any engine.
    """
    file = f"{directory}/{migration.file}"
    statements = split_statements(migration.sql)
    steps = split_steps(migration.sql, statements)
    sql = database.sql
    if database.query(sql(f"SELECT 1 FROM {HISTORY_TABLE} WHERE version = ?"), (migration.version,)):
        return None
    started = time.monotonic()
    retries, rebuilt, at = 0, [], [statements[0] if statements else Statement("", 1)]
    elapsed = [0]

    def finish() -> None:
        elapsed[0] = round((time.monotonic() - started) * 1000)
        record_applied(database, migration, elapsed[0])
        database.execute(sql(f"DELETE FROM {PROGRESS_TABLE} WHERE version = ?"), (migration.version,))

    def in_transaction(step: Step, last: bool) -> None:
        database.begin()
        try:
            for statement in step.statements:
                at[0] = statement
                database.execute(statement.sql)
            if last:
                finish()
            else:
                _record_step(database, migration, step.end)
            database.commit()
        except BaseException:
            database.rollback()
            raise

    def alone(statement: Statement) -> None:
        at[0] = statement
        invalid = database.invalid_index(statement.sql)
        if invalid is not None:
            database.execute(invalid[1])
            rebuilt.append(invalid[0])
        database.execute(statement.sql)

    try:
        for number, step in enumerate(steps):
            if step.end <= ran and step.statements:
                continue
            last = number == len(steps) - 1
            if step.transaction:
                retries += _retrying(database, partial(in_transaction, step, last), lock_retries)
                continue
            for statement in step.statements:
                retries += _retrying(database, partial(alone, statement), lock_retries)
            database.begin()
            if last:
                finish()
            else:
                _record_step(database, migration, step.end)
            database.commit()
    except Exception as exc:
        database.rollback()
        raise _step_failed(database, file, migration, steps, at[0], exc, lock_retries) from None
    finally:
        with suppress(Exception):  # the connection may be gone
            for setting in database.settings_after_steps:
                database.execute(setting)
    return AppliedMigration(
        migration.version, migration.name, file, elapsed[0], lock_retries=retries, rebuilt_indexes=tuple(rebuilt)
    )


def _record_step(database: Database, migration: Migration, done: int) -> None:
    """The ``schemac_progress`` row saying the first ``done`` statements of ``migration`` ran (the steps they
    make), in the caller's transaction: a rerun goes on at the next step."""
    database.execute(database.sql(f"DELETE FROM {PROGRESS_TABLE} WHERE version = ?"), (migration.version,))
    database.execute(
        database.sql(f"INSERT INTO {PROGRESS_TABLE} ({', '.join(PROGRESS_COLUMNS[:4])}) VALUES (?, ?, ?, ?)"),
        (migration.version, migration.checksum, done, STOPPED),
    )


def _retrying(database: Database, attempt: Callable[[], None], lock_retries: int) -> int:
    """Run ``attempt`` (which undoes what it began when it fails), again after a pause each time it gives up
    waiting for a lock, at most ``lock_retries`` more times; how many times it was tried again."""
    for retry in range(lock_retries + 1):
        try:
            attempt()
            return retry
        except Exception as exc:
            if retry == lock_retries or not database.lock_timed_out(exc):
                raise
        time.sleep(min(RETRY_PAUSE * 2**retry, RETRY_PAUSE_LIMIT))
    raise AssertionError("unreachable")  # the last try returns or raises


def _step_failed(
    database: Database,
    file: str,
    migration: Migration,
    steps: list[Step],
    statement: Statement,
    error: Exception,
    lock_retries: int,
) -> SchemacError:
    """SC630 when ``statement`` gave up waiting for a lock on every try, else SC604; the hint says where a
    rerun goes on."""
    if isinstance(error, SchemacError):
        return error
    index = next((i for i, step in enumerate(steps) if statement in step.statements), 0)
    step = steps[index].statements[0].line
    if index == 0:
        kept = "nothing of this version stays applied"
    elif steps[index].transaction:
        kept = f"the steps before line {step} stay applied"
    else:
        kept = f"the steps before line {step} stay applied, and so may this step's statements before this one"
    rerun = "" if index == 0 else f"; rerun apply: it goes on from line {step}"
    if database.lock_timed_out(error):
        tries = f"{lock_retries + 1} time{'s' if lock_retries else ''}"
        message = f"gave up waiting for a lock on {database.dialect} {tries}: {one_line(error)}"
        hint = f"find the transaction that holds the lock (pg_locks, pg_stat_activity); {kept}{rerun}"
        return fail(file, statement.line, 1, "SC630", message, hint)
    message = f"migration failed on {database.dialect}: {one_line(error)}"
    return fail(file, statement.line, 1, "SC604", message, "" if index == 0 else f"fix the cause; {kept}{rerun}")


def _refused_online_hint(version: int, statement: Statement, statements: list[Statement]) -> str:
    """What to do when the engine can make a statement only while blocking writes (copying or locking the table)."""
    return (
        "the server would block writes while it makes this change (copying or locking the table); remove what the "
        "reason names and rerun apply, or in a quiet hour run the statement yourself without its ALGORITHM and LOCK "
        "options, then "
        f"UPDATE {PROGRESS_TABLE} SET statements = {statements.index(statement) + 1}, state = '{STOPPED}' "
        f"WHERE version = {version} and rerun apply"
    )


def _still_locked(database: Database, file: str, line: int) -> None:
    """SC637 at ``line`` when the run's lock may no longer be its own (:meth:`Database.lock_lost`): asked
    before each statement and commit, so that a run that lost its lock stops before it changes anything."""
    lost = database.lock_lost()
    if lost:
        hint = "what ran before this statement stays applied; rerun apply to resume here (it waits for the lock)"
        raise fail(file, line, 1, "SC637", lost, hint)


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
        number = error.args[0] if error.args else None
        if isinstance(number, int) and number in database.online_refusals:
            asked = asked_algorithms(database.altering_statement, [statement])
            message = (
                f"{database.dialect} refused to make statement {statements.index(statement) + 1} online as it asks "
                f"({asked[0][1] if asked else NO_ALGORITHM}): {one_line(error.args[-1])}"
            )
            return fail(file, statement.line, 1, "SC645", message, _refused_online_hint(version, statement, statements))
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
        _still_locked(database, file, statement.line)
        try:
            if atomic:
                running = True
                database.begin()
                database.execute(statement.sql)
                written = intent(index + 1)
                database.execute(replace, written)
                _still_locked(database, file, statement.line)
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
