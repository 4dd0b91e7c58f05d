"""Apply stage: run pending migrations against a database, one transaction each, and report status.

Every migration runs with its history row in one transaction where the engine has transactional
DDL (SQLite, PostgreSQL). MariaDB commits each DDL statement on its own, so there the applier
records after every statement how far it got, and a rerun resumes after the last one recorded.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schemac.dialects.connections import HISTORY_TABLE, PROGRESS_TABLE, Database, Target, connect, parse_url
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError
from schemac.migrations.loader import Migration, load_migrations
from schemac.project.settings import Settings, load_settings
from schemac.spec.source import position_of

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


RUNNING, STOPPED = "running", "stopped"
PROGRESS_COLUMNS = ("version", "checksum", "statements", "state", "fingerprint", "next_fingerprint")


@dataclass(frozen=True)
class ProgressRow:
    """A row of ``schemac_progress`` (engines without transactional DDL): how far a run of a version got.

    The first ``statements`` ran. In state ``running`` a run was at work on the next one:
    ``fingerprint`` is the live schema after those statements and ``next_fingerprint`` the objects the
    next one names, as they were before it ran. In state ``stopped`` the next one did not run (it
    failed, or an operator said so). An older schemac wrote rows with no state and no fingerprint.
    """

    version: int
    checksum: str
    statements: int
    state: str | None
    fingerprint: str | None
    next_fingerprint: str | None


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
    """What needs attention, as ``apply`` would say it: a changed or unknown version (SC602, SC603), a
    version a run left part-way (SC604, where it resumes), a pending version below the newest applied
    one (SC611), a row of schemac's own tables that schemac cannot have written (SC612)."""

    def of(self, state: str) -> tuple[StatusEntry, ...]:
        return tuple(e for e in self.entries if e.state == state)

    @property
    def ok(self) -> bool:
        """Every version is applied, or pending above the newest applied one, and nothing needs attention."""
        return not self.findings


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _value(value: object) -> str:
    """A value read from the database as a message quotes it: its repr, cut short."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"


_TEXT, _INTEGER = ((str,), "text"), ((int,), "an integer")
_HISTORY_VALUES: dict[str, tuple[tuple[type, ...], str]] = {
    "version": _INTEGER,
    "name": _TEXT,
    "checksum": _TEXT,
    "applied_at": ((str, datetime), "a time"),
    "execution_ms": _INTEGER,
}
_PROGRESS_VALUES: dict[str, tuple[tuple[type, ...], str]] = {
    "version": _INTEGER,
    "checksum": _TEXT,
    "statements": _INTEGER,
    "state": ((str, type(None)), f"'{RUNNING}', '{STOPPED}' or NULL"),
    "fingerprint": ((str, type(None)), "text or NULL"),
    "next_fingerprint": ((str, type(None)), "text or NULL"),
}
"""What schemac writes in each column of its tables; anything else there was written by someone else."""


def _wrong_values(row: dict[str, Any], expected: dict[str, tuple[tuple[type, ...], str]]) -> list[str]:
    """``column is <value>, not <what schemac writes>`` for each value of ``row`` schemac cannot have written."""
    return [
        f"{column} is {_value(row.get(column))}, not {what}"
        for column, (types, what) in expected.items()
        if isinstance(row.get(column), bool) or not isinstance(row.get(column), types)
    ]


def _tampered(target: Target, message: str, hint: str) -> Diagnostic:
    return Diagnostic(target.shown, 1, 1, "SC612", message, hint)


def _own_rows(database: Database, target: Target, table: str, columns: str) -> list[dict[str, Any]]:
    """The rows of one of schemac's tables; SC612 when it cannot be read as schemac made it."""
    try:
        return database.records(f"SELECT {columns} FROM {table}")
    except database.driver_error as exc:
        found = _tampered(
            target, f"{table} cannot be read: {_one_line(exc)}", f"{table} was changed outside schemac: restore it"
        )
        raise SchemacError([found], EXIT_FINDINGS) from None


def _history(database: Database, target: Target) -> tuple[dict[int, HistoryRow], list[Diagnostic]]:
    """The applied versions, and SC612 for each row of ``schemac_history`` schemac cannot have written."""
    if not database.table_exists(HISTORY_TABLE):
        return {}, []
    found: dict[int, HistoryRow] = {}
    problems, seen = [], Counter[int]()
    hint = f"{HISTORY_TABLE} was changed outside schemac: restore it from a backup, or correct the row"
    for row in _own_rows(database, target, HISTORY_TABLE, ", ".join(_HISTORY_VALUES)):
        wrong = _wrong_values(row, _HISTORY_VALUES)
        if wrong:
            problems.append(_tampered(target, f"{HISTORY_TABLE} holds a row where {'; '.join(wrong)}", hint))
            continue
        version = row["version"]
        seen[version] += 1
        found[version] = HistoryRow(version, row["name"], row["checksum"], str(row["applied_at"]), row["execution_ms"])
    problems += [
        _tampered(target, f"{HISTORY_TABLE} holds {count} rows for version {version}", hint)
        for version, count in seen.items()
        if count > 1
    ]
    return found, problems


def _progress_rows(database: Database, target: Target) -> tuple[dict[int, ProgressRow], list[Diagnostic]]:
    """What ``schemac_progress`` records (MariaDB; nothing on engines with transactional DDL), and SC612
    for each row schemac cannot have written. A table made by an older schemac lacks the last columns."""
    if not database.progress_ddl or not database.table_exists(PROGRESS_TABLE):
        return {}, []
    found, problems, seen = {}, [], Counter[int]()
    for row in _own_rows(database, target, PROGRESS_TABLE, "*"):
        wrong = _wrong_values(row, _PROGRESS_VALUES)
        if isinstance(row.get("state"), str) and row["state"] not in (RUNNING, STOPPED):
            wrong.append(f"state is {_value(row['state'])}, not {_PROGRESS_VALUES['state'][1]}")
        if wrong:
            where = f" for version {row['version']}" if type(row.get("version")) is int else ""
            hint = (
                "check which statements of the version ran, then correct the row: "
                f"UPDATE {PROGRESS_TABLE} SET statements = <how many ran>, state = '{STOPPED}' WHERE version = …"
            )
            problems.append(_tampered(target, f"{PROGRESS_TABLE} holds a row{where} where {'; '.join(wrong)}", hint))
            continue
        seen[row["version"]] += 1
        found[row["version"]] = ProgressRow(
            row["version"],
            row["checksum"],
            row["statements"],
            row.get("state"),
            row.get("fingerprint"),
            row.get("next_fingerprint"),
        )
    problems += [
        _tampered(
            target,
            f"{PROGRESS_TABLE} holds {count} rows for version {version}",
            f"check which statements of the version ran, then keep one row: DELETE FROM {PROGRESS_TABLE} WHERE "
            f"version = {version}; INSERT INTO {PROGRESS_TABLE} (version, checksum, statements, state) VALUES "
            f"({version}, '<its checksum>', <how many ran>, '{STOPPED}')",
        )
        for version, count in seen.items()
        if count > 1
    ]
    return found, problems


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
    return settings.relative(directory), load_migrations(directory, target.dialect, root=settings.root)


_WORD = re.compile(r"[\w$]+")
_QUOTED_NAME = re.compile(r"`((?:[^`]|``)+)`|\"((?:[^\"]|\"\")+)\"")


def statement_names(sql: str) -> frozenset[str]:
    """Every name ``sql`` may give an object, lower-cased: each word and each quoted name (more, never fewer)."""
    names = {word.lower() for word in _WORD.findall(sql)}
    for backticked, double_quoted in _QUOTED_NAME.findall(sql):
        names.add((backticked.replace("``", "`") or double_quoted.replace('""', '"')).lower())
    return frozenset(names)


class LiveSchema:
    """The live schema as a run knows it (engines without transactional DDL): a digest per object.

    Read whole once; after each statement only the tables it names are read again, with those whose
    foreign keys or triggers a named object is part of (the child of a renamed parent, the table of a
    dropped trigger). That keeps it equal to a fresh read for any statement that changes only what it
    names. One that changes more leaves it stale: a run resumed after it finds a schema it cannot
    explain and refuses (SC612), never guesses.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.digests = database.schema_digests()

    def refresh(self, *statements: str) -> None:
        named = frozenset().union(*map(statement_names, statements))
        tables = named | {first for first, second in self.digests if second in named}
        kept = {key: digest for key, digest in self.digests.items() if key[0] not in tables}
        self.digests = kept | self.database.schema_digests(tables)

    def fingerprint(self, statement: str | None = None) -> str:
        """SHA-256 of the whole schema, or of the objects ``statement`` names."""
        names = None if statement is None else statement_names(statement)
        lines = sorted(
            f"{first}\0{second}\0{digest}"
            for (first, second), digest in self.digests.items()
            if names is None or first in names or second in names
        )
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _matches(pattern: re.Pattern[str] | None, sql: str) -> bool:
    return bool(pattern and pattern.match(sql))


def _hint_to_settle(version: int, statement: int) -> str:
    return (
        f"check whether statement {statement} ran; then run UPDATE {PROGRESS_TABLE} SET statements = {statement}, "
        f"state = '{STOPPED}' WHERE version = {version} if it did, or UPDATE {PROGRESS_TABLE} SET state = "
        f"'{STOPPED}' WHERE version = {version} if it did not, and rerun apply"
    )


def _stopped_at(
    database: Database,
    target: Target,
    file: str,
    migration: Migration,
    statements: list[Statement],
    row: ProgressRow,
    live: Callable[[], LiveSchema],
) -> tuple[int, Diagnostic] | Diagnostic:
    """How many statements of ``migration`` ran, with the SC604 that says where the run stopped; or SC612
    when the progress row and the live schema do not tell.

    The next statement did not run if the row says it stopped there, or if the schema is the one
    recorded after the statements before it. Otherwise it ran if the objects it names changed. Any
    other change is someone else's: refused, never guessed at.
    """
    version, ran, total = migration.version, row.statements, len(statements)
    if not 0 <= ran <= total:
        return _tampered(
            target,
            f"{PROGRESS_TABLE} says {_statements(ran)} of version {version} ran, but {file} holds {total}",
            "check which statements of the file ran, then correct the row: "
            f"UPDATE {PROGRESS_TABLE} SET statements = <how many ran>, state = '{STOPPED}' WHERE version = {version}",
        )
    line = statements[ran].line if ran < total else 1
    if row.state is None:
        return Diagnostic(
            file,
            line,
            1,
            "SC612",
            f"{PROGRESS_TABLE} says {ran} of {_statements(total)} of version {version} ran, but records no schema "
            f"fingerprint (an older schemac wrote it): whether statement {ran + 1} ran is unknown",
            _hint_to_settle(version, ran + 1) + " (apply first gives the table its state column)",
        )
    if row.state == STOPPED:
        return ran, _partial(target, file, migration, statements, ran, failed=True)
    schema = live()
    if schema.fingerprint() == row.fingerprint:
        return ran, _partial(target, file, migration, statements, ran, failed=False)
    following = statements[ran] if ran < total else None
    if following is None or _matches(database.atomic_statement, following.sql) or row.next_fingerprint is None:
        return Diagnostic(
            file,
            line,
            1,
            "SC612",
            f"the schema of {target.shown} changed since {PROGRESS_TABLE} recorded {ran} of "
            f"{_statements(total)} of version {version} as run, and no statement of it explains the change",
            f"check the database; then run UPDATE {PROGRESS_TABLE} SET state = '{STOPPED}' WHERE version = {version} "
            "and rerun apply",
        )
    if schema.fingerprint(following.sql) == row.next_fingerprint:
        return Diagnostic(
            file,
            line,
            1,
            "SC612",
            f"the schema of {target.shown} changed since {PROGRESS_TABLE} recorded {ran} of {_statements(total)} "
            f"of version {version} as run, but not in any object statement {ran + 1} names: whether it ran is unknown",
            _hint_to_settle(version, ran + 1),
        )
    return ran + 1, _partial(target, file, migration, statements, ran + 1, failed=False)


def _partial(
    target: Target, file: str, migration: Migration, statements: list[Statement], ran: int, *, failed: bool
) -> Diagnostic:
    """SC604 at the statement a run of ``migration`` stopped at, saying what happened and what to do."""
    total, version = len(statements), migration.version
    if ran == total:
        message = f"all {_statements(total)} of version {version} ran on {target.shown}, but it is not recorded"
        return Diagnostic(file, 1, 1, "SC604", message + " as applied (a run was interrupted)", "rerun apply")
    how = "this one failed" if failed else "a run was interrupted before this one"
    return Diagnostic(
        file,
        statements[ran].line,
        1,
        "SC604",
        f"version {version} is partly applied on {target.shown}: {ran} of {_statements(total)} ran, {how}",
        "fix the cause, then rerun apply: it resumes here" if failed else "rerun apply: it resumes here",
    )


def _statements(count: int) -> str:
    return f"{count} statement{'' if count == 1 else 's'}"


def _drift_diagnostics(
    target: Target, entries: list[StatusEntry], history: dict[int, HistoryRow], progress: dict[int, ProgressRow]
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
                    f"{target.shown} from a file with SHA-256 {progress[entry.version].checksum[:12]}…, "
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


@dataclass
class Recorded:
    """What the database records of the migrations, and what needs attention before ``apply`` runs."""

    history: dict[int, HistoryRow]
    entries: list[StatusEntry]
    refusals: list[Diagnostic]
    """Why ``apply`` must not run at all: SC602, SC603, SC612."""
    gaps: dict[int, Diagnostic]
    """Per pending version below the newest applied one, its SC611."""
    partial: list[Diagnostic]
    """Per version a run left part-way, SC604 where it resumes (``apply`` resumes it)."""
    resume: dict[int, int]
    """Per version a run left part-way, how many of its statements ran."""
    schema: LiveSchema | None
    """The live schema, when it had to be read (engines without transactional DDL)."""

    @property
    def findings(self) -> list[Diagnostic]:
        return sorted([*self.refusals, *self.gaps.values(), *self.partial])


def recorded(database: Database, target: Target, directory: str, migrations: list[Migration]) -> Recorded:
    """Read ``schemac_history`` and ``schemac_progress``, every value checked, and each version's state.

    A database error while reading is SC606, never an internal error.
    """
    try:
        return _recorded(database, target, directory, migrations)
    except database.driver_error as exc:
        raise SchemacError(
            [Diagnostic(target.shown, 1, 1, "SC606", f"cannot read the database: {_one_line(exc)}")]
        ) from None


def _recorded(database: Database, target: Target, directory: str, migrations: list[Migration]) -> Recorded:
    history, refusals = _history(database, target)
    trusted_history = not refusals  # else which versions are applied is unknown: no SC611 from it
    progress, bad = _progress_rows(database, target)
    refusals += bad
    result = Recorded(history, [], refusals, {}, [], {}, None)

    def live() -> LiveSchema:
        if result.schema is None:
            result.schema = LiveSchema(database)
        return result.schema

    for m in migrations:
        file, row, part = f"{directory}/{m.file}", history.get(m.version), progress.get(m.version)
        if row is not None:
            state = "applied" if row.checksum == m.checksum else "changed"
            result.entries.append(StatusEntry(m.version, m.name, file, state, row.applied_at))
        elif part is not None:
            statements = split_statements(m.sql)
            ran = part.statements
            if part.checksum == m.checksum:  # else changed: SC602 below
                outcome = _stopped_at(database, target, file, m, statements, part, live)
                if isinstance(outcome, Diagnostic):
                    refusals.append(outcome)
                else:
                    ran, finding = outcome
                    result.partial.append(finding)
                    result.resume[m.version] = ran
            state = "partial" if part.checksum == m.checksum else "changed"
            result.entries.append(
                StatusEntry(m.version, m.name, file, state, statements_done=ran, statements=len(statements))
            )
        else:
            result.entries.append(StatusEntry(m.version, m.name, file, "pending"))
    known = {m.version for m in migrations}
    result.entries += [
        StatusEntry(v, r.name, "", "unknown", r.applied_at) for v, r in history.items() if v not in known
    ]
    result.entries += [
        StatusEntry(v, "", "", "unknown", statements_done=p.statements)
        for v, p in progress.items()
        if v not in known and v not in history
    ]
    result.entries.sort(key=lambda e: e.version)
    refusals += [
        _tampered(
            target,
            f"version {v} is applied, yet {PROGRESS_TABLE} records a run of it ({_statements(p.statements)})",
            f"check the database; then remove the row: DELETE FROM {PROGRESS_TABLE} WHERE version = {v}",
        )
        for v, p in progress.items()
        if v in history
    ]
    refusals += _drift_diagnostics(target, result.entries, history, progress)
    top = max((v for v in history if v in known and trusted_history), default=None)  # unknown ones: SC603
    for entry in result.entries:
        if top is not None and entry.version < top and entry.state in ("pending", "partial"):
            result.gaps[entry.version] = Diagnostic(
                entry.file,
                1,
                1,
                "SC611",
                f"version {entry.version} is pending but {target.shown} is already at version {top}",
                "if it was never applied (a branch merged after newer versions ran), run apply --out-of-order; "
                f"if its {HISTORY_TABLE} row was deleted, restore the row",
            )
    return result


def recorded_status(
    database: Database, target: Target, directory: str, migrations: list[Migration]
) -> tuple[dict[int, HistoryRow], list[StatusEntry], list[Diagnostic]]:
    """The database's history, every version's state, and every finding ``status`` reports."""
    found = recorded(database, target, directory, migrations)
    return found.history, found.entries, found.findings


def status(project: str | Path = ".", db: str = "") -> StatusResult:
    """Applied, pending, partial (MariaDB), changed and unknown versions; reads the database, writes nothing."""
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    database = connect(target, DEFAULT_LOCK_TIMEOUT, read_only=True)
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
    out_of_order: bool = False,
    on_applied: Callable[[AppliedMigration], None] | None = None,
) -> ApplyResult:
    """Apply every pending migration (up to ``to``) in version order, each in its own transaction.

    Refuses to start when an applied file changed, the database has a version the files do not, a
    row of schemac's tables is not one schemac wrote, or (unless ``out_of_order``) a pending version
    is below the newest applied one. Concurrent appliers wait for one another on the database's lock;
    each version runs once. On MariaDB a version a run left part-way resumes where it stopped.
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
            state = _checked(database, target, directory, migrations, wanted, out_of_order)
            pending = tuple(m for m in wanted if m.version not in state.history)
            _refuse_nul_characters(database, directory, pending)
            return ApplyResult(target.shown, directory, (), pending, True, max(state.history, default=None))
        with database.locked(lock_timeout):
            _upgrade_progress_table(database, target)
            state = _checked(database, target, directory, migrations, wanted, out_of_order)
            pending = tuple(m for m in wanted if m.version not in state.history)
            _refuse_nul_characters(database, directory, pending)
            applied = []
            if pending:
                _create_own_tables(database, target)
                schema = state.schema
                if schema is None and not database.transactional_ddl:
                    schema = LiveSchema(database)
                for migration in pending:
                    done = _apply_one(database, directory, migration, state.resume.get(migration.version, 0), schema)
                    if done is not None:
                        applied.append(done)
                        if on_applied:
                            on_applied(done)
            current = max(_history(database, target)[0], default=None)
    finally:
        database.close()
    return ApplyResult(target.shown, directory, tuple(applied), pending, False, current)


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


def _create_own_tables(database: Database, target: Target) -> None:
    """``schemac_history`` and ``schemac_progress``, if missing; SC606 when the database will not have them."""
    try:
        for table, ddl in ((HISTORY_TABLE, database.history_ddl), (PROGRESS_TABLE, database.progress_ddl)):
            if ddl and not database.table_exists(table):
                database.begin()
                database.execute(ddl)
                database.commit()
    except database.driver_error as exc:
        database.rollback()
        raise SchemacError(
            [Diagnostic(target.shown, 1, 1, "SC606", f"cannot create schemac's tables: {_one_line(exc)}")]
        ) from None


def _upgrade_progress_table(database: Database, target: Target) -> None:
    """Give a ``schemac_progress`` an older schemac made today's columns (before its rows are read, so that
    the operator can settle a row it left as SC612 says); SC606 when the database will not have them."""
    try:
        if not database.progress_columns or not database.table_exists(PROGRESS_TABLE):
            return
        if not set(PROGRESS_COLUMNS) <= set(database.column_names(PROGRESS_TABLE)):
            database.execute(f"ALTER TABLE {PROGRESS_TABLE} {', '.join(database.progress_columns)}")
    except database.driver_error as exc:
        raise SchemacError(
            [Diagnostic(target.shown, 1, 1, "SC606", f"cannot upgrade {PROGRESS_TABLE}: {_one_line(exc)}")]
        ) from None


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
        database.rollback()
        raise
    except Exception as exc:
        database.rollback()
        hint = "" if transactional else "statements before this one stay applied; fix the cause and rerun to resume"
        raise SchemacError(
            [Diagnostic(file, line, 1, "SC604", f"migration failed on {database.dialect}: {_one_line(exc)}", hint)]
        ) from None
    return AppliedMigration(migration.version, migration.name, file, elapsed)


def _run_resumable(
    database: Database, file: str, migration: Migration, statements: list[Statement], ran: int, schema: LiveSchema
) -> None:
    """Run ``statements[ran:]`` of a migration on an engine without transactional DDL, so that a run
    killed at any point resumes without running a committed statement again.

    A data change commits in one transaction with its progress row. Before any other statement the
    progress row holds the live schema's fingerprint and that of the objects the statement names, so a
    resumed run can tell whether it committed (see :func:`_stopped_at`); after it, the objects it and
    the next statement name are read again. A statement the server refused leaves the row ``stopped``
    there. Session statements (``SET``) that ran before ``ran`` run again first.
    """
    version, checksum = migration.version, migration.checksum
    replace = database.sql(
        f"REPLACE INTO {PROGRESS_TABLE} ({', '.join(PROGRESS_COLUMNS)}) VALUES ({', '.join('?' * 6)})"
    )

    def intent(done: int) -> tuple[object, ...]:
        """The progress row saying that the first ``done`` statements ran and the next may be running."""
        following = statements[done].sql if done < len(statements) else None
        named = None
        if following is not None and not _matches(database.atomic_statement, following):
            named = schema.fingerprint(following)
        return (version, checksum, done, RUNNING, schema.fingerprint(), named)

    def failed(statement: Statement, error: Exception, hint: str) -> SchemacError:
        message = f"migration failed on {database.dialect}: {_one_line(error)}"
        return SchemacError([Diagnostic(file, statement.line, 1, "SC604", message, hint)])

    for statement in statements[:ran]:
        if _matches(database.session_statement, statement.sql):
            try:
                database.execute(statement.sql)
            except database.driver_error as exc:
                raise failed(statement, exc, "it ran before the run that stopped; fix the cause and rerun") from None
    written: tuple[object, ...] | None = None
    for index in range(ran, len(statements)):
        statement = statements[index]
        atomic = _matches(database.atomic_statement, statement.sql)
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
            if not _matches(database.session_statement, statement.sql):
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
