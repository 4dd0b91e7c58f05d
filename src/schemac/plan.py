"""Plan stage: replay specs in version order, keep the schema as of every version, and list each
version's operations in a safe order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from .errors import Diagnostic
from .model import ForeignKey, Index, Spec, Table


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class CreateIndex:
    table: str
    index: Index


Operation = CreateTable | CreateIndex


@dataclass(frozen=True)
class VersionPlan:
    """One spec, the operations that take the schema from the previous version to it, and the result."""

    spec: Spec
    operations: tuple[Operation, ...]
    schema: Mapping[str, Table]
    fingerprint: str


def table_shape(table: Table) -> dict[str, object]:
    """What a live database can show of a table: no descriptions, renames or source positions."""
    return {
        "name": table.name,
        "columns": [
            [c.name, str(c.type), c.nullable, c.default and [c.default.kind, c.default.value], list(c.enum)]
            for c in table.columns
        ],
        "primary_key": list(table.primary_key),
        "indexes": sorted(
            [i.name, i.unique, [[c.name, c.descending] for c in i.columns], i.predicate] for i in table.indexes
        ),
        "checks": sorted([c.name, c.expression] for c in table.checks),
        "foreign_keys": sorted(
            [f.name, list(f.columns), f.ref_table, list(f.ref_columns), f.on_delete, f.on_update]
            for f in table.foreign_keys
        ),
    }


@cache
def _table_digest(table: Table) -> int:
    text = json.dumps(table_shape(table), sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


class Fingerprint:
    """A hash of a set of tables that updates in O(changed tables): the sum of table digests mod 2**256."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, table: Table) -> None:
        self.total = (self.total + _table_digest(table)) % 2**256

    def remove(self, table: Table) -> None:
        self.total = (self.total - _table_digest(table)) % 2**256

    def hexdigest(self) -> str:
        return hashlib.sha256(self.total.to_bytes(32, "big")).hexdigest()


def plan(specs: Iterable[Spec]) -> tuple[list[VersionPlan], list[Diagnostic]]:
    """Plans for every spec, in order, with every finding that needs the schema of earlier versions."""
    state: dict[str, Table] = {}
    fingerprint = Fingerprint()
    plans: list[VersionPlan] = []
    diagnostics: list[Diagnostic] = []
    for spec in specs:
        before = dict(state)
        operations = _plan_one(spec, state, diagnostics)
        for name in before.keys() | state.keys():
            if before.get(name) is not state.get(name):
                if name in before:
                    fingerprint.remove(before[name])
                if name in state:
                    fingerprint.add(state[name])
        plans.append(VersionPlan(spec, tuple(operations), dict(state), fingerprint.hexdigest()))
    return plans, diagnostics


def _plan_one(spec: Spec, state: dict[str, Table], found: list[Diagnostic]) -> list[Operation]:
    def error(where: tuple[int, int], code: str, message: str, hint: str = "") -> None:
        found.append(Diagnostic(spec.file, where[0], where[1], code, message, hint))

    new_tables: list[Table] = []
    for table in spec.tables:
        previous = state.get(table.name)
        if previous is None:
            new_tables.append(table)
        elif previous != table:
            error(
                table.where,
                "SC402",
                f"table '{table.name}' already exists with another shape",
                "changing an existing table needs schema evolution support",
            )
    for name in spec.drop_tables:
        error(spec.at("drop_tables"), "SC402", f"dropping table '{name}' is not supported")
    after = {**state, **{t.name: t for t in new_tables}}
    for table in new_tables:
        for fk in table.foreign_keys:
            _check_reference(table, fk, after, error)
    _check_object_names(new_tables, state, error)
    ordered = _creation_order(new_tables, error)
    state.update({t.name: t for t in ordered})
    operations: list[Operation] = []
    for table in ordered:
        operations.append(CreateTable(table))
        operations.extend(CreateIndex(table.name, index) for index in table.indexes)
    return operations


def _check_reference(table: Table, fk: ForeignKey, tables: Mapping[str, Table], error: _Error) -> None:
    target = tables.get(fk.ref_table)
    if target is None:
        error(
            fk.where,
            "SC305",
            f"foreign key {fk.name} references table '{fk.ref_table}', which does not exist",
            _known("tables", tables),
        )
        return
    for column in fk.ref_columns:
        if target.column(column) is None:
            error(
                fk.where,
                "SC306",
                f"foreign key {fk.name} references column '{fk.ref_table}.{column}', which does not exist",
                _known("columns", {c.name: c for c in target.columns}),
            )
            return
    keys = [set(target.primary_key)] + [
        {c.name for c in i.columns} for i in target.indexes if i.unique and i.predicate is None
    ]
    if set(fk.ref_columns) not in keys:
        error(
            fk.where,
            "SC312",
            f"foreign key {fk.name} references {fk.ref_table}({', '.join(fk.ref_columns)}), "
            "which is neither its primary key nor unique",
            "reference the primary key or a unique column",
        )
    for mine, theirs in zip(fk.columns, fk.ref_columns, strict=False):
        a, b = table.column(mine), target.column(theirs)
        if a is not None and b is not None and a.type != b.type:
            error(
                fk.where,
                "SC313",
                f"foreign key {fk.name}: column '{mine}' is {a.type} but '{fk.ref_table}.{theirs}' is {b.type}",
                "give both columns the same type",
            )


def _check_object_names(new_tables: list[Table], state: Mapping[str, Table], error: _Error) -> None:
    """Tables, indexes and primary keys (an index on PostgreSQL) share one namespace per schema."""
    owners: dict[str, str] = {}
    for table in state.values():
        owners[table.name] = f"table '{table.name}'"
        owners.update({i.name: f"an index of table '{table.name}'" for i in table.indexes})
        if table.primary_key:
            owners[f"pk_{table.name}"] = f"the primary key of table '{table.name}'"
    for table in new_tables:
        if table.name in owners:
            error(
                table.where,
                "SC304",
                f"table name '{table.name}' is already used by {owners[table.name]}",
                "give the table another name",
            )
        owners[table.name] = f"table '{table.name}'"
    for table in new_tables:
        if table.primary_key:
            name = f"pk_{table.name}"
            if name in owners:
                error(
                    table.where,
                    "SC304",
                    f"primary key name '{name}' of table '{table.name}' is already used by {owners[name]}",
                    "rename the table or the other object",
                )
            owners[name] = f"the primary key of table '{table.name}'"
        for index in table.indexes:
            if index.name in owners:
                error(
                    index.where,
                    "SC304",
                    f"index name '{index.name}' is already used by {owners[index.name]}",
                    "give the index another name",
                )
            owners[index.name] = f"an index of table '{table.name}'"


def _creation_order(tables: list[Table], error: _Error) -> list[Table]:
    """Referenced tables first; spec order otherwise. A cycle is reported, not broken."""
    names = {t.name for t in tables}
    pending = {t.name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in names} - {t.name} for t in tables}
    ordered: list[Table] = []
    while pending:
        ready = [t for t in tables if t.name in pending and not pending[t.name]]
        if not ready:
            cycle = _find_cycle(pending)
            first = next(t for t in tables if t.name == cycle[0])
            error(
                first.where,
                "SC311",
                f"circular foreign keys: {' -> '.join([*cycle, cycle[0]])}",
                "drop one of the foreign keys, or add it in a later spec",
            )
            return tables
        for table in ready:
            ordered.append(table)
            del pending[table.name]
        for deps in pending.values():
            deps.difference_update(t.name for t in ready)
    return ordered


def _find_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    path: list[str] = []
    node = min(pending)
    while node not in path:
        path.append(node)
        node = min(pending[node])
    return path[path.index(node) :]


def _known(what: str, items: Mapping[str, object]) -> str:
    names = sorted(items)
    return f"known {what}: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}" if names else ""


class _Error(Protocol):
    def __call__(self, where: tuple[int, int], code: str, message: str, hint: str = "") -> None: ...
