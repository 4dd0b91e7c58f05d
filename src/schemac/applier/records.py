"""schemac's own tables in a database: ``schemac_history`` (the applied versions) and ``schemac_progress``
(how far a run of a version got, on engines without transactional DDL).

Every value read back is checked to be one schemac writes: anything else was written by someone else
and is refused (SC612), never trusted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemac.dialects.base import HISTORY_TABLE, PROGRESS_TABLE, Database
from schemac.dialects.connections import Target
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail

DEFAULT_LOCK_TIMEOUT = 300.0


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


def one_line(error: BaseException) -> str:
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


def tampered(target: Target, message: str, hint: str) -> Diagnostic:
    return Diagnostic(target.shown, 1, 1, "SC612", message, hint)


def _own_rows(database: Database, target: Target, table: str, columns: str) -> list[dict[str, Any]]:
    """The rows of one of schemac's tables; SC612 when it cannot be read as schemac made it."""
    try:
        return database.records(f"SELECT {columns} FROM {table}")
    except database.driver_error as exc:
        found = tampered(
            target, f"{table} cannot be read: {one_line(exc)}", f"{table} was changed outside schemac: restore it"
        )
        raise SchemacError([found], EXIT_FINDINGS) from None


def read_history(database: Database, target: Target) -> tuple[dict[int, HistoryRow], list[Diagnostic]]:
    """The applied versions, and SC612 for each row of ``schemac_history`` schemac cannot have written."""
    if not database.table_exists(HISTORY_TABLE):
        return {}, []
    found: dict[int, HistoryRow] = {}
    problems, seen = [], Counter[int]()
    hint = f"{HISTORY_TABLE} was changed outside schemac: restore it from a backup, or correct the row"
    for row in _own_rows(database, target, HISTORY_TABLE, ", ".join(_HISTORY_VALUES)):
        wrong = _wrong_values(row, _HISTORY_VALUES)
        if wrong:
            problems.append(tampered(target, f"{HISTORY_TABLE} holds a row where {'; '.join(wrong)}", hint))
            continue
        version = row["version"]
        seen[version] += 1
        found[version] = HistoryRow(version, row["name"], row["checksum"], str(row["applied_at"]), row["execution_ms"])
    problems += [
        tampered(target, f"{HISTORY_TABLE} holds {count} rows for version {version}", hint)
        for version, count in seen.items()
        if count > 1
    ]
    return found, problems


def read_progress(database: Database, target: Target) -> tuple[dict[int, ProgressRow], list[Diagnostic]]:
    """What ``schemac_progress`` records (MariaDB; nothing on engines with transactional DDL), and SC612
    for each row schemac cannot have written. A table made by an older schemac lacks the last columns."""
    if not database.progress_ddl or not database.table_exists(PROGRESS_TABLE):
        return {}, []
    found, problems, seen = {}, [], Counter[int]()
    for row in _own_rows(database, target, PROGRESS_TABLE, "*"):
        wrong = _wrong_values(row, _PROGRESS_VALUES)
        if isinstance(row.get("state"), str) and row["state"] not in (RUNNING, STOPPED):
            wrong.append(f"state is {_value(row['state'])}, not {_PROGRESS_VALUES['state'][1]}")
        elif database.runs_steps and row.get("state") != STOPPED:  # its steps commit whole: none is left running
            wrong.append(f"state is {_value(row.get('state'))}, not '{STOPPED}'")
        if wrong:
            where = f" for version {row['version']}" if type(row.get("version")) is int else ""
            hint = (
                "check which statements of the version ran, then correct the row: "
                f"UPDATE {PROGRESS_TABLE} SET statements = <how many ran>, state = '{STOPPED}' WHERE version = …"
            )
            problems.append(tampered(target, f"{PROGRESS_TABLE} holds a row{where} where {'; '.join(wrong)}", hint))
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
        tampered(
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


def create_own_tables(database: Database, target: Target) -> None:
    """``schemac_history`` and ``schemac_progress``, if missing; SC606 when the database will not have them."""
    try:
        for table, ddl in ((HISTORY_TABLE, database.history_ddl), (PROGRESS_TABLE, database.progress_ddl)):
            if ddl and not database.table_exists(table):
                database.begin()
                database.execute(ddl)
                database.commit()
    except database.driver_error as exc:
        database.rollback()
        raise fail(target.shown, 1, 1, "SC606", f"cannot create schemac's tables: {one_line(exc)}") from None


def upgrade_progress_table(database: Database, target: Target) -> None:
    """Give a ``schemac_progress`` an older schemac made today's columns (before its rows are read, so that
    the operator can settle a row it left as SC612 says); SC606 when the database will not have them."""
    try:
        if not database.progress_columns or not database.table_exists(PROGRESS_TABLE):
            return
        if not set(PROGRESS_COLUMNS) <= set(database.column_names(PROGRESS_TABLE)):
            database.execute(f"ALTER TABLE {PROGRESS_TABLE} {', '.join(database.progress_columns)}")
    except database.driver_error as exc:
        raise fail(target.shown, 1, 1, "SC606", f"cannot upgrade {PROGRESS_TABLE}: {one_line(exc)}") from None
