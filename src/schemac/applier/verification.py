"""Verify stage: compare a live database's catalog with the schema the specs give at its applied version.

Both sides are put in the engine's own spelling (:class:`~schemac.dialects.base.LiveTable`), so a
difference is a real one: a missing or extra table, column, index, key, foreign key or check, a
column whose type or nullability differs, or a check whose body differs. Each is a diagnostic at the
spec line that declares it. ``baseline`` (:mod:`schemac.applier.baselining`) compares the same way,
at the version it records (:func:`schema_differences`).

Check bodies and column defaults are compared as the engine shows them: the expected ones are
created in a temporary table of the verifying session and read back the way the live ones are
(:meth:`~schemac.dialects.base.Database.definitions`), so each engine's rewriting (PostgreSQL's casts,
MariaDB's spelling) is applied to both sides by the engine itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from schemac import render
from schemac.applier.standby import primary_position, read_replay, wait_until_replayed
from schemac.applier.states import migrations_for, recorded_status
from schemac.dialects import Dialect
from schemac.dialects.base import (
    Database,
    LiveColumn,
    LiveForeignKey,
    LiveIndex,
    LiveTable,
    Replay,
    Shown,
    TableBody,
)
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import Diagnostic, fail
from schemac.migrations.loader import Migration
from schemac.model import NO_WHERE, Column, Table, Where
from schemac.planner.operations import VersionPlan
from schemac.project.compiler import Compiled, compile_project
from schemac.project.settings import load_settings
from schemac.spec.checks import derived_checks


@dataclass(frozen=True)
class VerifyResult:
    database: str
    version: int | None
    """The newest applied version, whose schema the database was compared with."""
    differences: tuple[Diagnostic, ...]
    standby: Replay | None = None
    """Where the database is in its primary's log, when it is a standby (PostgreSQL in recovery)."""
    warnings: tuple[Diagnostic, ...] = ()
    """What was not compared (SC643: check bodies and defaults no session could word); not differences."""

    @property
    def ok(self) -> bool:
        return not self.differences


def catalog_type(dialect: Dialect, sql_type: str) -> str:
    """How ``dialect``'s catalog spells a type that its DDL writes as ``sql_type``."""
    text = sql_type.lower()
    for written, shown in dialect.catalog_types.items():
        if text == written or text.startswith(written + "("):
            return shown + text[len(written) :]
    return text


Normalise = Callable[[Mapping[str, TableBody]], dict[str, Shown] | None]
""":meth:`~schemac.dialects.base.Database.definitions`: (label → table body) → label → what the engine
shows of its checks and defaults."""


@dataclass(frozen=True)
class ExpectedCheck:
    """A check the specs give a table: its body as the migrations write it, where it is declared, and
    for an enum check its column (whose values a different body is read for)."""

    name: str
    expression: str
    where: Where
    enum_column: Column | None = None


def expected_checks(table: Table, dialect: Dialect) -> list[ExpectedCheck]:
    """The checks ``dialect``'s migrations give ``table``: derived from its columns, then its own."""
    found = [
        ExpectedCheck(c.name, c.expression, column.where, column if c.kind == "enum" else None)
        for column in table.columns
        for c in derived_checks(table.name, column, dialect)
    ]
    found += [
        ExpectedCheck(c.name, c.expression, c.where if c.where != NO_WHERE else table.where) for c in table.checks
    ]
    return found


_NAMES = re.compile(r'"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([A-Za-z_][A-Za-z0-9_$]*)')
"""A name in an expression, quoted or not (one inside a string literal too: a column too many does no harm)."""


def check_table_body(table: Table, dialect: Dialect, checks: list[ExpectedCheck]) -> TableBody:
    """``checks`` and the columns that have a default or that a check names (typed as the migrations type
    them, with their defaults), as a CREATE TABLE holds them. The engine makes a catalog entry for every
    column, so the others, which tell it nothing, are left out."""
    keyed = render.indexed_columns(table)
    names = {c.name for c in table.columns}
    named = [
        frozenset(
            quoted.replace('""', '"') or ticked.replace("``", "`") or word.lower()
            for quoted, ticked, word in _NAMES.findall(c.expression)
        )
        & names
        for c in checks
    ]
    wanted = set().union(*named)
    if checks and not wanted and table.columns:  # a check that names no column still needs a table to be made on
        wanted = {table.columns[0].name}
    columns = []
    for column in table.columns:
        if column.default is None and column.name not in wanted:
            continue
        shown = render.column_context(column, dialect, column.name in keyed, table)
        default = "" if shown["default"] is None else f" DEFAULT {shown['default']}"
        columns.append((column.name, f"{shown['name']} {shown['type']}{default}"))
    return TableBody(
        tuple(columns),
        tuple((c.name, c.expression, n) for c, n in zip(checks, named, strict=True)),
        tuple(f"CONSTRAINT {dialect.ident(c.name)} CHECK ({c.expression})" for c in checks),
    )


def expected_table(table: Table, dialect: Dialect) -> LiveTable:
    """What ``dialect``'s catalog should show for ``table``; its checks as the migrations write them."""
    keyed = render.indexed_columns(table)
    checks = {c.name: f"CHECK ({c.expression})" for c in expected_checks(table, dialect)}
    return LiveTable(
        table.name,
        tuple(
            LiveColumn(
                c.name,
                catalog_type(dialect, dialect.column_type(table, c, c.name in keyed)),
                c.nullable and (dialect.nullable_keys or c.name not in table.primary_key),
                identity=_numbered(table, c, dialect),
            )
            for c in table.columns
        ),
        table.primary_key,
        tuple(
            LiveIndex(
                i.name,
                i.unique,
                tuple((c.name, c.descending) for c in i.columns),
                bool(i.predicate) and dialect.partial_indexes,
            )
            for i in table.indexes
        ),
        tuple(
            LiveForeignKey(
                f.name,
                f.columns,
                f.ref_table,
                f.ref_columns,
                f.on_delete or dialect.fk_default_action,
                f.on_update or dialect.fk_default_action,
            )
            for f in table.foreign_keys
        ),
        checks,
    )


def _numbered(table: Table, column: Column, dialect: Dialect) -> bool:
    """Whether the engine numbers ``column``: an identity key, or any key that is a rowid alias (on SQLite a
    lone ``INTEGER`` key: an identity one, or one of a table with a rowid key)."""
    if dialect.rowid_keys:
        return table.primary_key == (column.name,) and dialect.column_type(table, column, True) == "INTEGER"
    return column.identity


def _describe_index(index: LiveIndex) -> str:
    columns = ", ".join(name + (" DESC" if desc else "") for name, desc in index.columns)
    return f"{'unique ' if index.unique else ''}({columns}){' partial' if index.partial else ''}"


def _describe_fk(fk: LiveForeignKey) -> str:
    return (
        f"({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)}) "
        f"on delete {fk.on_delete}, on update {fk.on_update}"
    )


def compare(
    expected: dict[str, tuple[Table, str]],
    live: dict[str, LiveTable],
    dialect: Dialect,
    target: Target,
    normalise: Normalise | None = None,
) -> list[Diagnostic]:
    """Every difference between the expected tables (with the spec file declaring each) and the live ones.

    With ``normalise`` (the database's :meth:`~schemac.dialects.base.Database.definitions`) check bodies
    and column defaults are compared too, unless the session cannot make a temporary table.
    """
    found = [
        Diagnostic(target.shown, 1, 1, "SC621", f"extra table '{name}': in the database, not in the specs")
        for name in sorted(live.keys() - expected.keys())
    ]
    definitions = _Definitions(expected, live, dialect, normalise)
    for name in sorted(expected):
        table, file = expected[name]
        if name in live:
            found += _compare_table(table, file, live[name], dialect)
            found += definitions.differences(table, file)
        else:
            found.append(
                Diagnostic(file, *table.where, "SC620", f"missing table '{name}': in the specs, not in the database")
            )
    return found


def _compare_table(table: Table, file: str, have: LiveTable, dialect: Dialect) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    name, want = table.name, expected_table(table, dialect)

    def at(where: tuple[int, int], code: str, message: str) -> None:
        found.append(Diagnostic(file, where[0], where[1], code, message))

    have_columns = {c.name: c for c in have.columns}
    nulls = {True: "NULL", False: "NOT NULL"}
    for column, wanted in zip(table.columns, want.columns, strict=True):
        got = have_columns.pop(column.name, None)
        label = f"column '{name}.{column.name}'"
        if got is None:
            at(column.where, "SC622", f"missing {label}")
        elif got.type != wanted.type:
            at(column.where, "SC623", f"{label} is {got.type}, the specs give {wanted.type}")
        elif got.nullable != wanted.nullable:
            at(column.where, "SC623", f"{label} is {nulls[got.nullable]}, the specs give {nulls[wanted.nullable]}")
        elif got.identity != wanted.identity:
            kinds = {True: "an identity", False: "a plain"}
            at(
                column.where,
                "SC623",
                f"{label} is {kinds[got.identity]} column, the specs give {kinds[wanted.identity]} column",
            )
    for extra in have_columns:
        at(table.where, "SC622", f"extra column '{name}.{extra}': in the database, not in the specs")
    if have.primary_key != want.primary_key:
        at(
            table.where,
            "SC624",
            f"primary key of '{name}' is ({', '.join(have.primary_key)}), "
            f"the specs give ({', '.join(want.primary_key)})",
        )
    where_of = {i.name: i.where for i in table.indexes} | {f.name: f.where for f in table.foreign_keys}
    where_of |= {c.name: c.where for c in expected_checks(table, dialect)}
    have_indexes = _named_like(want.indexes, have.indexes)
    have_keys = _named_like(want.foreign_keys, have.foreign_keys)
    named: list[tuple[str, str, dict[str, Any], dict[str, Any], Callable[[Any], str]]] = [
        ("SC624", "index", {i.name: i for i in want.indexes}, {i.name: i for i in have_indexes}, _describe_index),
        (
            "SC625",
            "foreign key",
            {f.name: f for f in want.foreign_keys},
            {f.name: f for f in have_keys},
            _describe_fk,
        ),
        ("SC626", "check", dict.fromkeys(want.checks, ""), dict.fromkeys(have.checks, ""), str),  # bodies: below
    ]
    for code, what, wanted_items, present, describe in named:
        for item in sorted(wanted_items.keys() | present.keys()):
            a, b = wanted_items.get(item), present.get(item)
            where = where_of.get(item, table.where)
            if b is None:
                at(where, code, f"missing {what} '{item}' on '{name}'")
            elif a is None:
                shown = f" {describe(b)}" if describe(b) else ""
                at(where, code, f"extra {what} '{item}'{shown} on '{name}': in the database, not in the specs")
            elif a != b:
                at(where, code, f"{what} '{item}' on '{name}' is {describe(b)}, the specs give {describe(a)}")
    return found


_Named = TypeVar("_Named", LiveIndex, LiveForeignKey)


def _named_like(wanted: tuple[_Named, ...], have: tuple[_Named, ...]) -> list[_Named]:
    """``have`` with each object the engine made without a name of its own named as the expected object it
    otherwise equals: SQLite shows no name for a foreign key written inline, and names the index of an
    inline ``UNIQUE`` ``sqlite_autoindex_…``, which is how a table written by hand (one the baseline spec
    describes) has them."""
    free = {w.name: w for w in wanted} if any(_unnamed(h.name) for h in have) else {}
    for item in have:
        free.pop(item.name, None)
    named = []
    for item in have:
        if _unnamed(item.name):
            match = next((name for name, w in free.items() if replace(item, name=name) == w), None)
            if match is not None:
                item = replace(item, name=match)
                del free[match]
        named.append(item)
    return named


def _unnamed(name: str) -> bool:
    return not name or name.startswith("sqlite_autoindex_")


def verify(
    project: str | Path = ".", db: str = "", *, wait_for_replay: float | None = None, primary: str | None = None
) -> VerifyResult:
    """Read the live schema from the database's catalog and list every difference from the specs.

    On a standby (PostgreSQL in recovery) the result's ``standby`` says where it is in its primary's log,
    and ``wait_for_replay`` seconds first waits for it to catch up (SC641 on timeout): up to the position
    the log of ``primary`` (the URL of the standby's primary; SC642 when it is not) had reached, else
    up to what it had received when the wait started. A standby cannot create the temporary table in
    which the engine words check bodies and defaults, so those are compared only with ``primary``, whose
    session does it; the result's ``warnings`` say when they were not (SC643), as where the session
    cannot create one. ``primary`` is opened only when the database is a standby."""
    settings = load_settings(Path(project))
    target = parse_url(db)
    upstream = parse_url(primary) if primary is not None else None
    directory, migrations = migrations_for(settings, target)
    with ExitStack() as opened:
        database = connect(target, 30.0, read_only=True)
        opened.callback(database.close)
        standby = read_replay(database, target)
        wording = _Wording(target, database.definitions)
        if standby is not None:
            wording, goal = _Wording(target, None), None
            if upstream is not None:
                source = _open_primary(upstream, target)
                opened.callback(source.close)
                wording, goal = _Wording(upstream, source.definitions), primary_position(source, target, standby)
            if wait_for_replay is not None:
                standby = wait_until_replayed(database, target, wait_for_replay, standby, goal)
        history, _, found = recorded_status(database, target, directory, migrations)
        compiled = compile_project(settings)
        known = {p.spec.version for p in compiled.plans} | {m.version for m in migrations}
        version = max((v for v in history if v in known), default=None)
        if not history:
            version = unrecorded_baseline(compiled.plans, migrations, database)
        found += schema_differences(database, target, compiled, migrations, version, wording)
    return VerifyResult(target.shown, version, tuple(found), standby, wording.warnings())


def unrecorded_baseline(
    plans: Sequence[VersionPlan], migrations: Collection[Migration], database: Database
) -> int | None:
    """The version of the baseline spec when no migration file is numbered at or below it and ``database``
    holds one of its tables: ``baseline`` then records nothing, and such a database is at that version, as
    no migration can build one up to it (None otherwise: an empty database is at no version)."""
    found = next((p for p in plans if p.spec.baseline), None)
    if found is None or any(m.version <= found.spec.version for m in migrations):
        return None
    return found.spec.version if any(database.table_exists(name) for name in found.schema) else None


def _open_primary(primary: Target, standby: Target) -> Database:
    """A session on the standby's primary, whose engine must be the standby's (SC642). ``verify`` only reads
    there, and makes the temporary table that words checks and defaults, rolled back."""
    if primary.dialect != standby.dialect:
        raise fail(
            primary.shown,
            1,
            1,
            "SC642",
            f"--primary {primary.shown} is a {primary.dialect} database: the primary of {standby.shown} "
            f"is a {standby.dialect} server",
            "pass the URL of the server the standby replicates from (primary_conninfo in its settings)",
        )
    return connect(primary, 30.0, read_only=True)


@dataclass
class _Wording:
    """The :data:`Normalise` of the session on ``session`` (``words``; ``None`` on a standby verified without
    its primary), noting whether it left a check or default it was asked for unworded, so not compared."""

    session: Target
    words: Normalise | None
    missed: bool = False

    def __call__(self, tables: Mapping[str, TableBody]) -> dict[str, Shown] | None:
        shown = None if self.words is None else self.words(tables)
        if shown is None and any(body.columns or body.checks for body in tables.values()):
            self.missed = True
        return shown

    def warnings(self) -> tuple[Diagnostic, ...]:
        """SC643 when something was not compared."""
        if not self.missed:
            return ()
        where = self.session.shown
        if self.words is None:
            why = f"{where} is a standby, which cannot create"
            hint = "pass --primary URL, the standby's primary, to compare them in a session there"
        else:
            why = f"the session on {where} cannot create"
            hint = "verify with a role that may create temporary tables, in a session that is not read-only"
        message = f"check bodies and defaults not compared: {why} the temporary table in which the engine words them"
        return (Diagnostic(where, 1, 1, "SC643", message, hint, "warning"),)


def expected_tables(
    plans: Sequence[VersionPlan], files: Collection[int], version: int | None
) -> dict[str, tuple[Table, str]]:
    """The tables the specs give a database whose newest applied migration is ``version`` (none for
    ``None``), each with the spec file that last declares it: those of the newest spec numbered below
    the next version that has a file (``files``: the migration files' versions; or a spec not built
    yet). So the baseline spec, which has no file, is reached with the files below it. ``plans`` are
    in version order."""
    if version is None:
        return {}
    later = [v for v in files if v > version]
    later += [p.spec.version for p in plans if p.spec.version > version and not p.spec.baseline]
    bound = min(later, default=None)
    expected: dict[str, tuple[Table, str]] = {}
    for plan in plans:
        if bound is not None and plan.spec.version >= bound:
            break
        declared = {t.name: plan.spec.file for t in plan.spec.tables}
        expected = {
            n: (t, declared.get(n, expected[n][1] if n in expected else plan.spec.file)) for n, t in plan.schema.items()
        }
    return expected


def schema_differences(
    database: Database,
    target: Target,
    compiled: Compiled,
    migrations: Sequence[Migration],
    version: int | None,
    normalise: Normalise | None = None,
) -> list[Diagnostic]:
    """Every difference between the live schema and the one the specs give a database at ``version``
    (:func:`expected_tables`), as ``verify`` lists them, check bodies and defaults worded by ``normalise``
    (default: the database's own :meth:`~schemac.dialects.base.Database.definitions`). Neither schemac's
    own tables nor those the project's ``ignore_tables`` setting names are compared."""
    ignored = compiled.settings.ignore_tables
    files = {m.version for m in migrations}
    expected = {n: e for n, e in expected_tables(compiled.plans, files, version).items() if n not in ignored}
    live = {n: t for n, t in database.tables().items() if n not in ignored}
    dialect = compiled.settings.dialect(target.dialect)  # as the project builds for it (plain keys: from when)
    return compare(expected, live, dialect, target, normalise or database.definitions)


class _Definitions:
    """The engine's definitions of the expected checks that a live table also has, and of the defaults of
    its columns, asked for all at once."""

    def __init__(
        self,
        expected: dict[str, tuple[Table, str]],
        live: dict[str, LiveTable],
        dialect: Dialect,
        normalise: Normalise | None,
    ) -> None:
        self.live, self.dialect, self.normalise = live, dialect, normalise
        self.checks: dict[str, list[ExpectedCheck]] = {}
        bodies = {}
        for name, (table, _) in expected.items():
            have = live.get(name)
            if have is not None:
                checks = [c for c in expected_checks(table, dialect) if c.name in have.checks]
                self.checks[name] = checks
                bodies[name] = check_table_body(table, dialect, checks)
        self.shown = normalise(bodies) if normalise is not None and bodies else None

    def differences(self, table: Table, file: str) -> list[Diagnostic]:
        """A finding for each column of ``table`` whose live default differs from the one the specs give,
        and each check whose live body does."""
        if self.shown is None or table.name not in self.shown:
            return []
        live, expected = self.live[table.name], self.shown[table.name]
        live_columns = {c.name: c for c in live.columns}
        found = []
        for column in table.columns:
            got = live_columns.get(column.name)
            if got is None or (column.default is not None and column.name not in expected.defaults):
                continue
            wanted = expected.defaults.get(column.name)  # a column the specs give no default was not made
            if got.default != wanted:
                message = f"column '{table.name}.{column.name}' has {_default_text(got.default)}, the specs give "
                found.append(Diagnostic(file, *column.where, "SC623", message + _default_text(wanted)))
        have, shown = live.checks, expected.checks
        for check in self.checks[table.name]:
            wanted = shown.get(check.name)
            if wanted is None or have[check.name] == wanted:
                continue
            message = f"check '{check.name}' on '{table.name}' is {have[check.name]}, the specs give {wanted}"
            if check.enum_column is not None:
                message += self._enum_difference(table, check.enum_column, have[check.name])
            found.append(Diagnostic(file, check.where[0], check.where[1], "SC626", message))
        return found

    def _enum_difference(self, table: Table, column: Column, definition: str) -> str:
        """How the values a live enum check allows differ from the column's, when the live check is
        exactly the enum check of some values (the engine shows their check as it shows the live one)."""
        values = _literal_values(definition, self.dialect, column.type.is_integer)
        if not values:
            return ""
        candidate = replace(column, enum=tuple(values))
        check = next(c for c in derived_checks(table.name, candidate, self.dialect) if c.kind == "enum")
        body = check_table_body(table, self.dialect, [ExpectedCheck(check.name, check.expression, NO_WHERE)])
        assert self.normalise is not None  # differences are only found with it
        shown = self.normalise({table.name: body})
        if shown is None or shown[table.name].checks.get(check.name) != definition:
            return ""
        added = [v for v in values if v not in column.enum]
        missing = [v for v in column.enum if v not in values]
        if not added and not missing:
            return ": the same values in another order"
        parts = [f"also allows {_listed(added)}"] if added else []
        parts += [f"does not allow {_listed(missing)}"] if missing else []
        return ": the database " + " and ".join(parts)


def _default_text(default: str | None) -> str:
    return "no default" if default is None else f"default {default}"


def _listed(values: list[str | int]) -> str:
    return ", ".join(repr(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in values)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}
"""MariaDB's backslash escapes in a string literal (any other escaped character stands for itself)."""


_INTEGER = re.compile(r"-?[0-9]+")
_WORD = re.compile(r"-?[0-9]+(?![A-Za-z0-9_.])|-?[A-Za-z0-9_.]+")


def _literal_values(text: str, dialect: Dialect, integers: bool) -> list[str | int]:
    """The string literals (or, for an integer column, the integers) in a check's definition, in order.

    Literals hold backslash escapes where the dialect's plain literals do (MariaDB); quoted names and
    the words of identifiers are skipped.
    """
    escapes = dialect.escape_backslash and not dialect.escape_prefix
    found: list[str | int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            chars, i = [], i + 1
            while i < n:
                if text[i] == "\\" and escapes and i + 1 < n:
                    chars.append(_ESCAPES.get(text[i + 1], text[i + 1]))
                    i += 2
                elif text.startswith("''", i):
                    chars.append("'")
                    i += 2
                elif text[i] == "'":
                    break
                else:
                    chars.append(text[i])
                    i += 1
            value = "".join(chars)
            if not integers:
                found.append(value)
            elif _INTEGER.fullmatch(value):
                found.append(int(value))
            i += 1
        elif ch in '"`':
            end = text.find(ch, i + 1)
            i = n if end == -1 else end + 1
        elif ch.isalnum() or ch == "_" or (ch == "-" and text[i + 1 : i + 2].isdigit()):
            word = _WORD.match(text, i)
            assert word is not None
            if integers and _INTEGER.fullmatch(word.group()):
                found.append(int(word.group()))
            i = word.end()
        else:
            i += 1
    return found
