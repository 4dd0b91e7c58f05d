"""Checks across tables, after a spec's tables are in the plan state: foreign keys reference existing
columns of a key with the same types, object names are unique per schema, and new tables are created
referenced ones first (a cycle is reported)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from schemac.model import ForeignKey, Spec, Table
from schemac.planner.findings import ErrorSink, known
from schemac.planner.state import OWNER_WORDING, PlanState
from schemac.spec.audit import AUDIT_COLUMNS
from schemac.spec.names import primary_key_name


def check_baseline(spec: Spec, first: bool, previous: Mapping[str, Table], error: ErrorSink) -> None:
    """A baseline is the first spec. What a legacy table may have, a table gets only in a baseline, or in a
    later spec when its ``previous`` shape has it too: a column named like an audit column written by hand
    (elsewhere the compiler adds it) and a nullable primary key column (SQLite lets a key other than an
    INTEGER one hold NULL)."""
    if spec.baseline and not first:
        error(
            spec.at("baseline"),
            "SC527",
            "a baseline spec must be the first spec: it is the schema every later spec starts from",
            "remove baseline: true, or number this spec below every other spec",
        )
    if spec.baseline:
        return
    for table in spec.tables:
        before = previous.get(table.name)
        kept = {c.name for c in before.columns if not c.audit} if before is not None else set()
        nullable_keys = {c.name for c in before.columns if c.nullable} & set(before.primary_key) if before else set()
        for name in table.primary_key:
            column = next((c for c in table.columns if c.name == name), None)
            if column is not None and column.nullable and name not in nullable_keys:
                where = spec.at("tables", table.name, "columns", name, "nullable")
                error(where, "SC307", f"primary key column '{name}' cannot be nullable")
        for column in table.columns:
            if not column.audit and column.name in AUDIT_COLUMNS and column.name not in kept:
                error(
                    column.where,
                    "SC309",
                    f"'{column.name}' is an audit column and is added by the compiler",
                    "remove it and control audit columns with the table's audit: key; "
                    "only a table from the baseline spec keeps audit columns written by hand",
                )


def check_references(spec: Spec, state: PlanState, dropped: list[Table], error: ErrorSink) -> None:
    """Foreign keys of declared tables, and of every table that references a declared or dropped one."""
    state.refresh()
    declared = {t.name for t in spec.tables}
    gone = {t.name for t in dropped}
    for i, name in enumerate(spec.drop_tables):
        users = sorted(state.referrers.get(name, ()))
        if name in gone and users:
            error(
                spec.at("drop_tables", i),
                "SC408",
                f"table '{name}' cannot be dropped: {', '.join(users)} still reference it",
                "drop those foreign keys (or tables) in this spec too",
            )
    involved = declared.union(*(state.referrers.get(name, set()) for name in declared))
    targets = _Targets(state)
    for table in (state[name] for name in state.in_order(involved)):
        if table.name in declared:
            for fk in table.foreign_keys:
                _check_reference(table, fk, targets, error)
            continue
        for fk in _keys_to(table, declared):
            target = state[fk.ref_table]
            _check_reference(table, dataclasses.replace(fk, where=target.where), targets, error)


def _keys_to(table: Table, targets: set[str]) -> list[ForeignKey]:
    """The foreign keys of ``table`` that reference one of ``targets``, in order, found in time that follows
    the smaller of the two: a table that references many is not walked whole each time one of them changes."""
    by_target = table.foreign_keys_by_target
    if len(targets) <= len(by_target):
        positions = [p for name in targets if name in by_target for p in by_target[name]]
    else:
        positions = [p for name, found in by_target.items() if name in targets for p in found]
    return [table.foreign_keys[p] for p in sorted(positions)]


class _Targets:
    """What foreign keys ask of the tables they reference, worked out once per table however many keys ask.

    ``tables`` must not change while it is in use.
    """

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self.tables = tables
        self._keys: dict[str, frozenset[frozenset[str]]] = {}
        self._known_columns: dict[str, str] = {}

    @functools.cached_property
    def known_tables(self) -> str:
        return known("tables", self.tables)

    def known_columns(self, table: Table) -> str:
        if table.name not in self._known_columns:
            self._known_columns[table.name] = known("columns", table.columns_by_name)
        return self._known_columns[table.name]

    def keys(self, table: Table) -> frozenset[frozenset[str]]:
        """The column sets a foreign key may reference: the primary key and each unique, non-partial index."""
        if table.name not in self._keys:
            unique = (frozenset(c.name for c in i.columns) for i in table.indexes if i.unique and i.predicate is None)
            self._keys[table.name] = frozenset([frozenset(table.primary_key), *unique])
        return self._keys[table.name]


def _check_reference(table: Table, fk: ForeignKey, targets: _Targets, error: ErrorSink) -> None:
    target = targets.tables.get(fk.ref_table)
    if target is None:
        error(
            fk.where,
            "SC305",
            f"foreign key {fk.name} references table '{fk.ref_table}', which does not exist",
            targets.known_tables,
        )
        return
    for column in fk.ref_columns:
        if target.column(column) is None:
            error(
                fk.where,
                "SC306",
                f"foreign key {fk.name} references column '{fk.ref_table}.{column}', which does not exist",
                targets.known_columns(target),
            )
            return
    if frozenset(fk.ref_columns) not in targets.keys(target):
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


def check_object_names(spec: Spec, state: PlanState, error: ErrorSink) -> None:
    """Tables, indexes and primary keys (an index on PostgreSQL) share one namespace per schema.

    Objects of tables this spec does not list were checked by earlier specs; each clash that
    involves a listed table is reported at that table's object.
    """
    state.refresh()
    listed = [state[t.name] for t in spec.tables]
    names = {t.name for t in listed}
    owners = _Owners(state, names)
    for table in listed:
        if table.name in owners:
            error(
                table.where,
                "SC304",
                f"table name '{table.name}' is already used by {owners[table.name]}",
                "give the table another name",
            )
        owners[table.name] = OWNER_WORDING["table"].format(table.name)
    for table in listed:
        if table.primary_key:
            name = primary_key_name(table.name)
            if name in owners:
                error(
                    table.where,
                    "SC304",
                    f"primary key name '{name}' of table '{table.name}' is already used by {owners[name]}",
                    "rename the table or the other object",
                )
            owners[name] = OWNER_WORDING["primary key"].format(table.name)
        for index in table.indexes:
            if index.name in owners:
                error(
                    index.where,
                    "SC304",
                    f"index name '{index.name}' is already used by {owners[index.name]}",
                    "give the index another name",
                )
            owners[index.name] = OWNER_WORDING["index"].format(table.name)


class _Owners(dict[str, str]):
    """Owners of object names: those set here first, then the schema's tables other than ``excluding``."""

    def __init__(self, state: PlanState, excluding: set[str]) -> None:
        super().__init__()
        self.state, self.excluding = state, excluding

    def __missing__(self, name: str) -> str:
        owner = self.state.owner(name, self.excluding)
        if owner is None:
            raise KeyError(name)
        return self.state.describe(name, owner)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (
            isinstance(name, str) and self.state.owner(name, self.excluding) is not None
        )


def creation_order(tables: list[Table], error: ErrorSink) -> list[Table]:
    """Referenced tables first; spec order otherwise (:func:`in_rounds`). A cycle is reported, not broken."""
    names = {t.name for t in tables}
    waits_for = {t.name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in names} - {t.name} for t in tables}
    placed = in_rounds([t.name for t in tables], waits_for.__getitem__)
    if len(placed) < len(tables):
        done = set(placed)
        pending = {
            name: {target for target in targets if target not in done}
            for name, targets in waits_for.items()
            if name not in done
        }
        cycle = _find_cycle(pending)
        first = next(t for t in tables if t.name == cycle[0])
        error(
            first.where,
            "SC311",
            f"circular foreign keys: {' -> '.join([*cycle, cycle[0]])}",
            "drop one of the foreign keys, or add it in a later spec",
        )
        return tables
    by_name = {t.name: t for t in tables}
    return [by_name[name] for name in placed]


def in_rounds(names: list[str], references: Callable[[str], set[str]]) -> list[str]:
    """The ``names`` that a reference cycle does not hold back, in rounds: each after the rounds of the
    tables it references (among ``names``), in the given order within a round. A name's round is one
    after that of the last name it waits for (Kahn's algorithm: each reference followed once)."""
    position = {name: i for i, name in enumerate(names)}
    waits_for = {name: references(name) - {name} for name in names}
    waited_by: dict[str, list[str]] = {}
    for name, targets in waits_for.items():
        for target in targets:
            waited_by.setdefault(target, []).append(name)
    unmet = {name: len(targets) for name, targets in waits_for.items()}
    round_of: dict[str, int] = {}
    ready = [name for name in names if not unmet[name]]
    depth = 0
    while ready:
        following = []
        for name in ready:
            round_of[name] = depth
            for user in waited_by.get(name, ()):
                unmet[user] -= 1
                if not unmet[user]:
                    following.append(user)
        ready, depth = following, depth + 1
    return sorted(round_of, key=lambda name: (round_of[name], position[name]))


def _find_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    """A cycle among ``pending`` (each waits for at least one other), from the smallest name, following the
    smallest reference."""
    path: dict[str, int] = {}  # node → its position on the path
    node = min(pending)
    while node not in path:
        path[node] = len(path)
        node = min(pending[node])
    return list(path)[path[node] :]
