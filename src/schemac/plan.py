"""Plan stage: replay specs in version order, keep the schema as of every version, and list each
version's operations in a safe order.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import itertools
import json
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
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

    def __init__(self, total: int = 0) -> None:
        self.total = total

    def add(self, table: Table) -> None:
        self.total = (self.total + _table_digest(table)) % 2**256

    def remove(self, table: Table) -> None:
        self.total = (self.total - _table_digest(table)) % 2**256

    def hexdigest(self) -> str:
        return hashlib.sha256(self.total.to_bytes(32, "big")).hexdigest()


class SchemaAt(Mapping[str, Table]):
    """The schema as of one version, read from the shared history without copying it per version.

    ``base`` is the schema before the first version of the history (empty unless planning resumed).
    """

    def __init__(
        self, history: dict[str, list[tuple[int, Table | None]]], version: int, base: Mapping[str, Table]
    ) -> None:
        self._history, self._version, self._base = history, version, base

    def __getitem__(self, name: str) -> Table:
        changes = self._history.get(name, [])
        at = bisect.bisect_right(changes, self._version, key=lambda change: change[0])
        table = changes[at - 1][1] if at else self._base.get(name)
        if table is None:
            raise KeyError(name)
        return table

    def __iter__(self) -> Iterator[str]:
        names = itertools.chain(self._base, (name for name in self._history if name not in self._base))
        return (name for name in names if name in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class PlanState:
    """Where planning stands after some versions: enough to plan the next ones without replaying these."""

    tables: MutableMapping[str, Table] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    """Every table and index name in the schema → a description of its owner."""
    fingerprint: int = 0
    versions: int = 0

    def copy(self) -> PlanState:
        return PlanState(_shallow_copy(self.tables), dict(self.owners), self.fingerprint, self.versions)


def _shallow_copy(tables: MutableMapping[str, Table]) -> MutableMapping[str, Table]:
    return tables.copy() if isinstance(tables, dict) else copy.copy(tables)


def _object_names(table: Table) -> dict[str, str]:
    """Names a table puts in the schema's one namespace, each with a description of its owner."""
    names = {table.name: f"table '{table.name}'"}
    names.update({i.name: f"an index of table '{table.name}'" for i in table.indexes})
    return names


def _in_state_order(state: MutableMapping[str, Table], before: dict[str, Table | None]) -> list[str]:
    """The names in ``before``: those already known first, then new ones in the order ``state`` gained them."""
    new = {name for name, table in before.items() if table is None and name in state}
    added: list[str] = []
    newest_first: Iterator[str] = reversed(state)  # type: ignore[arg-type]  # dicts and LazyTables are reversible
    for name in newest_first:
        if len(added) == len(new):
            break
        if name in new:
            added.append(name)
    return [name for name in before if name not in new] + added[::-1]


def plan(specs: Iterable[Spec], start: PlanState | None = None) -> tuple[list[VersionPlan], list[Diagnostic]]:
    """Plans for every spec, in order, with every finding that needs the schema of earlier versions.

    ``start`` (updated in place) resumes after versions planned earlier. Work per version is
    proportional to the tables its spec names (the only ones it can change), never to the size of
    the schema so far.
    """
    current = start if start is not None else PlanState()
    state = current.tables
    base = _shallow_copy(state)
    history: dict[str, list[tuple[int, Table | None]]] = {}
    fingerprint = Fingerprint(current.fingerprint)
    plans: list[VersionPlan] = []
    diagnostics: list[Diagnostic] = []
    for number, spec in enumerate(specs, current.versions):
        touched = [t.name for t in spec.tables] + list(spec.drop_tables)
        touched += [t.renamed_from for t in spec.tables if t.renamed_from]
        before = {name: state.get(name) for name in touched}
        operations = _plan_one(spec, state, current.owners, diagnostics)
        for name in _in_state_order(state, before):
            old, new = before[name], state.get(name)
            if old is new:
                continue
            if old is not None:
                fingerprint.remove(old)
                for key in _object_names(old):
                    current.owners.pop(key, None)
            if new is not None:
                fingerprint.add(new)
                current.owners.update(_object_names(new))
            history.setdefault(name, []).append((number, new))
        plans.append(VersionPlan(spec, tuple(operations), SchemaAt(history, number, base), fingerprint.hexdigest()))
        current.versions, current.fingerprint = number + 1, fingerprint.total
    return plans, diagnostics


def _plan_one(
    spec: Spec, state: MutableMapping[str, Table], owners: Mapping[str, str], found: list[Diagnostic]
) -> list[Operation]:
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
    after = ChainMap({t.name: t for t in new_tables}, state)
    for table in new_tables:
        for fk in table.foreign_keys:
            _check_reference(table, fk, after, error)
    _check_object_names(new_tables, owners, error)
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


def _check_object_names(new_tables: list[Table], owners: Mapping[str, str], error: _Error) -> None:
    """Tables and indexes share one namespace per schema (SQLite, PostgreSQL); ``owners`` holds the existing names."""
    added: dict[str, str] = {}
    for table in new_tables:
        if table.name not in owners:
            added.setdefault(table.name, f"table '{table.name}'")
        for index in table.indexes:
            owner = added.get(index.name) or owners.get(index.name)
            if owner is not None:
                error(
                    index.where,
                    "SC304",
                    f"index name '{index.name}' is already used by {owner}",
                    "give the index another name",
                )
            added[index.name] = f"an index of table '{table.name}'"


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
