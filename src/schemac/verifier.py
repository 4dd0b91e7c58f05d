"""Verify stage: compare a live database's catalog with the schema the specs give at its applied version.

Both sides are put in the engine's own spelling (:class:`~schemac.databases.LiveTable`), so a
difference is a real one: a missing or extra table, column, index, key, foreign key or check, or a
column whose type or nullability differs. Each is a diagnostic at the spec line that declares it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import dialects, render
from .applier import migrations_for, recorded_status
from .compiler import compile_project
from .databases import LiveColumn, LiveForeignKey, LiveIndex, LiveTable, Target, connect, parse_url
from .dialects import Dialect
from .errors import Diagnostic
from .model import Table
from .settings import load_settings


@dataclass(frozen=True)
class VerifyResult:
    database: str
    version: int | None
    """The newest applied version, whose schema the database was compared with."""
    differences: tuple[Diagnostic, ...]

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


def expected_table(table: Table, dialect: Dialect) -> LiveTable:
    """What ``dialect``'s catalog should show for ``table``."""
    keyed = render.indexed_columns(table)
    checks = {name for column in table.columns for name, _ in dialect.column_checks(table.name, column)}
    return LiveTable(
        table.name,
        tuple(
            LiveColumn(c.name, catalog_type(dialect, dialect.sql_type(c.type, c.name in keyed)), c.nullable)
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
        frozenset(checks | {c.name for c in table.checks}),
    )


def _describe_index(index: LiveIndex) -> str:
    columns = ", ".join(name + (" DESC" if desc else "") for name, desc in index.columns)
    return f"{'unique ' if index.unique else ''}({columns}){' partial' if index.partial else ''}"


def _describe_fk(fk: LiveForeignKey) -> str:
    return (
        f"({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)}) "
        f"on delete {fk.on_delete}, on update {fk.on_update}"
    )


def compare(
    expected: dict[str, tuple[Table, str]], live: dict[str, LiveTable], dialect: Dialect, target: Target
) -> list[Diagnostic]:
    """Every difference between the expected tables (with the spec file declaring each) and the live ones."""
    found = [
        Diagnostic(target.shown, 1, 1, "SC621", f"extra table '{name}': in the database, not in the specs")
        for name in sorted(live.keys() - expected.keys())
    ]
    for name in sorted(expected):
        table, file = expected[name]
        if name in live:
            found += _compare_table(table, file, live[name], dialect)
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
    named: list[tuple[str, str, dict[str, Any], dict[str, Any], Callable[[Any], str]]] = [
        ("SC624", "index", {i.name: i for i in want.indexes}, {i.name: i for i in have.indexes}, _describe_index),
        (
            "SC625",
            "foreign key",
            {f.name: f for f in want.foreign_keys},
            {f.name: f for f in have.foreign_keys},
            _describe_fk,
        ),
        ("SC626", "check", dict.fromkeys(want.checks, ""), dict.fromkeys(have.checks, ""), str),
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


def verify(project: str | Path = ".", db: str = "") -> VerifyResult:
    """Read the live schema from the database's catalog and list every difference from the specs."""
    settings = load_settings(Path(project))
    target = parse_url(db)
    directory, migrations = migrations_for(settings, target)
    database = connect(target, 30.0, read_only=True)
    try:
        history, _, found = recorded_status(database, target, directory, migrations)
        live = database.tables()
    finally:
        database.close()
    compiled = compile_project(settings)
    known = [v for v in history if any(p.spec.version == v for p in compiled.plans)]
    version = max(known, default=None)
    expected: dict[str, tuple[Table, str]] = {}
    for plan in compiled.plans:
        if version is None or plan.spec.version > version:
            break
        declared = {t.name: plan.spec.file for t in plan.spec.tables}
        expected = {
            n: (t, declared.get(n, expected[n][1] if n in expected else plan.spec.file)) for n, t in plan.schema.items()
        }
    found += compare(expected, live, dialects.get(target.dialect), target)
    return VerifyResult(target.shown, version, tuple(found))
