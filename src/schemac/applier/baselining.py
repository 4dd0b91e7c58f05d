"""``baseline``: record the migrations up to a version as applied, without running them, in a database
another runner migrated, once its live schema is the one the specs give at that version.

So a database whose hand-written (adopted) files a runner of its own applied, tracking them in a table
of its own, comes under ``apply``, which from then on runs only the newer versions. Nothing is recorded
when the database differs from the specs at that version (the findings ``verify`` gives, exit 1), or
when schemac has recorded anything there already (SC613).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemac.applier.records import (
    DEFAULT_LOCK_TIMEOUT,
    create_own_tables,
    one_line,
    read_history,
    read_progress,
)
from schemac.applier.runner import record_applied, writers_lock
from schemac.applier.standby import refuse_standby
from schemac.applier.states import migrations_for
from schemac.applier.verification import schema_differences
from schemac.dialects.base import HISTORY_TABLE, PROGRESS_TABLE, Database
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail
from schemac.migrations.loader import Migration, migrations_dir
from schemac.migrations.published import read_manifest
from schemac.project.compiler import compile_project
from schemac.project.settings import Settings, load_settings


@dataclass(frozen=True)
class BaselineResult:
    """What ``baseline`` recorded: the database is at ``version``, the migrations of ``recorded`` marked
    as applied (none of them run)."""

    database: str
    version: int
    recorded: tuple[int, ...]
    """The versions recorded as applied, in order: every migration file numbered at or below ``version``."""
    files: tuple[str, ...] = ()
    """Their files, as findings name them (``migrations/001_initial.sql``), in the same order."""


def baseline(
    project: str | Path = ".", db: str = "", version: int | None = None, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> BaselineResult:
    """Record every migration numbered at or below ``version`` as applied in ``schemac_history``, running
    none of them, once the live schema matches the one the specs give at ``version``.

    ``version`` defaults to the newest adopted file's or the baseline spec's, whichever is higher; it
    must be the version of a migration file or of the baseline spec (SC614). Refuses a database
    schemac has recorded anything in (SC613), and one whose schema differs from the specs at
    ``version`` (the findings ``verify`` gives, exit 1; the project's ``ignore_tables`` are not
    compared), and a read-only standby (SC640). The rows go in one transaction, under the lock ``apply`` takes.
    """
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    version = _version(settings, target, directory, migrations, version)
    compiled = compile_project(settings)
    wanted = [m for m in migrations if m.version <= version]
    if target.dialect == "sqlite":  # a SQLite file that does not exist is SC606, never a new database
        connect(target, lock_timeout, read_only=True).close()
    database = connect(target, lock_timeout)
    try:
        refuse_standby(database, target, "baseline")
        with writers_lock(database, target, lock_timeout):
            _refuse_managed(database, target)
            differences = schema_differences(database, target, compiled, migrations, version)
            if differences:
                raise SchemacError(differences, EXIT_FINDINGS)
            _record(database, target, wanted)
    finally:
        database.close()
    files = tuple(f"{directory}/{m.file}" for m in wanted)
    return BaselineResult(target.shown, version, tuple(m.version for m in wanted), files)


def _version(
    settings: Settings, target: Target, directory: str, migrations: list[Migration], version: int | None
) -> int:
    """The version to baseline to: ``version`` if a migration file or the baseline spec has it; without
    it, the newest adopted file's or the baseline spec's, whichever is higher. SC614 otherwise."""
    manifest = read_manifest(migrations_dir(settings.output_dir(target.dialect), target.dialect), settings)
    spec = manifest.baseline.version if manifest is not None and manifest.baseline is not None else None
    adopted = [a.version for a in manifest.adopted] if manifest is not None else []
    if version is None:
        default = max([*adopted, *([spec] if spec is not None else [])], default=None)
        if default is None:
            raise fail(
                directory,
                1,
                1,
                "SC614",
                "no version to baseline to: the manifest records no adopted file and no baseline spec",
                "pass --version V, the version of the newest migration file whose changes the database holds",
            )
        return default
    known = sorted({m.version for m in migrations} | ({spec} if spec is not None else set()))
    if version not in known:
        raise fail(
            directory,
            1,
            1,
            "SC614",
            f"--version {version}: no migration file and no baseline spec has version {version} "
            f"(the versions: {_listed(known)})",
            "pass the version of the newest migration file whose changes the database holds",
        )
    return version


def _listed(versions: list[int]) -> str:
    """The versions, the middle ones left out when there are many."""
    shown = [str(v) for v in versions]
    if len(shown) > 6:
        shown = [*shown[:2], "…", *shown[-3:]]
    return ", ".join(shown) if shown else "none"


def _managed(database: Database, target: Target) -> Diagnostic | None:
    """SC613 when schemac's tables record anything: a version applied, or (MariaDB) a run part-way."""
    history, bad_history = read_history(database, target)
    progress, bad_progress = read_progress(database, target)
    if history:
        count = len(history)
        recorded = (
            f"{HISTORY_TABLE} records {count} applied version{'' if count == 1 else 's'}, the newest {max(history)}"
        )
    elif progress:
        recorded = f"{PROGRESS_TABLE} records a run of version {min(progress)}"
    elif bad_history or bad_progress:
        recorded = f"{HISTORY_TABLE if bad_history else PROGRESS_TABLE} holds rows"
    else:
        return None
    return Diagnostic(
        target.shown,
        1,
        1,
        "SC613",
        f"baseline refused: {target.shown} is already managed by schemac ({recorded})",
        "see its versions with 'schemac status', and run the newer ones with 'schemac apply'",
    )


def _refuse_managed(database: Database, target: Target) -> None:
    problem = _managed(database, target)
    if problem is not None:
        raise SchemacError([problem])


def _record(database: Database, target: Target, migrations: list[Migration]) -> None:
    """A history row for each of ``migrations`` (0 ms), all in one transaction; schemac's tables are
    made first if missing. The history is read again inside the transaction: on SQLite its
    ``BEGIN IMMEDIATE`` is the lock, and another writer may have recorded versions since."""
    create_own_tables(database, target)
    try:
        database.begin()
        _refuse_managed(database, target)
        for migration in migrations:
            record_applied(database, migration, 0)
        database.commit()
    except SchemacError:
        database.rollback()
        raise
    except database.driver_error as exc:
        database.rollback()
        raise fail(target.shown, 1, 1, "SC606", f"cannot record the versions as applied: {one_line(exc)}") from None
