"""``status``: each version's state in a database, and every finding that needs attention before ``apply``.

:func:`recorded` is what ``apply`` also reads before it runs anything (:mod:`schemac.applier.runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from schemac.applier.records import (
    DEFAULT_LOCK_TIMEOUT,
    STOPPED,
    HistoryRow,
    ProgressRow,
    one_line,
    read_history,
    read_progress,
    tampered,
)
from schemac.applier.standby import read_replay
from schemac.applier.statements import LiveSchema, Statement, matches, split_statements
from schemac.dialects.base import HISTORY_TABLE, PROGRESS_TABLE, Database, Replay
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import Diagnostic, SchemacError, fail
from schemac.migrations.loader import Migration, load_migrations
from schemac.project.settings import Settings, load_settings


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
    standby: Replay | None = None
    """Where the database is in its primary's log, when it is a standby (PostgreSQL in recovery)."""

    def of(self, state: str) -> tuple[StatusEntry, ...]:
        return tuple(e for e in self.entries if e.state == state)

    @property
    def ok(self) -> bool:
        """Every version is applied, or pending above the newest applied one, and nothing needs attention."""
        return not self.findings


def migrations_for(settings: Settings, target: Target, *, verify: bool = True) -> tuple[str, list[Migration]]:
    """The migration directory (as shown) and migrations this project has for the target's engine
    (``verify``: every file's SHA-256 checked against the manifest)."""
    if target.dialect not in settings.dialects:
        raise fail(
            settings.source or "schemac.toml",
            1,
            1,
            "SC610",
            f"the project builds no {target.dialect} migrations (dialects: {', '.join(settings.dialects)})",
            f"add \"{target.dialect}\" to dialects and run 'schemac build'",
        )
    directory = settings.output_dir(target.dialect)
    return settings.relative(directory), load_migrations(directory, target.dialect, verify=verify, root=settings.root)


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
        return tampered(
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
    if following is None or matches(database.atomic_statement, following.sql) or row.next_fingerprint is None:
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
        raise fail(target.shown, 1, 1, "SC606", f"cannot read the database: {one_line(exc)}") from None


def _recorded(database: Database, target: Target, directory: str, migrations: list[Migration]) -> Recorded:
    history, refusals = read_history(database, target)
    trusted_history = not refusals  # else which versions are applied is unknown: no SC611 from it
    progress, bad = read_progress(database, target)
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
        tampered(
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


EDITED_FILE = frozenset({"SC501", "SC520"})
"""The loader's findings for a file edited since the manifest recorded it: ``status`` lists the file as
changed, with the finding, where ``apply`` refuses to start."""


def status(project: str | Path = ".", db: str = "") -> StatusResult:
    """Applied, pending, partial (MariaDB), changed and unknown versions; reads the database, writes nothing.

    A migration file edited since the manifest recorded it is listed as changed, and its finding
    (SC501, SC520) is among the findings. On a standby, ``standby`` says where it is in its primary's log."""
    settings = load_settings(Path(project))
    target = parse_url(db)
    try:
        directory, migrations = migrations_for(settings, target)
        edited: list[Diagnostic] = []
    except SchemacError as exc:  # an edited file is listed as changed, with why; anything else stops here
        edited = list(exc.diagnostics)
        if not edited or any(d.code not in EDITED_FILE for d in edited):
            raise
        directory, migrations = migrations_for(settings, target, verify=False)
    database = connect(target, DEFAULT_LOCK_TIMEOUT, read_only=True)
    try:
        standby = read_replay(database, target)
        _, entries, findings = recorded_status(database, target, directory, migrations)
    finally:
        database.close()
    changed = {d.file for d in edited}
    entries = [replace(e, state="changed") if e.file in changed and e.state == "pending" else e for e in entries]
    return StatusResult(target.shown, tuple(entries), tuple(sorted([*edited, *findings])), standby)
