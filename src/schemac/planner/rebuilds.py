"""Operations for one dialect (:func:`for_dialect`): the changes it cannot make with ALTER become
:class:`RebuildTable` operations, one per group of tables that reference each other, ordered so that
the database never holds a row without its parent."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from schemac.model import Table
from schemac.planner.integrity import in_rounds
from schemac.planner.operations import (
    CopiedTable,
    CreateIndex,
    CreateTable,
    DropIndex,
    DropTable,
    Operation,
    RebuildTable,
    RenameTable,
    TableChange,
    VersionPlan,
    fills_nulls,
)


def for_dialect(
    operations: tuple[Operation, ...],
    version: VersionPlan,
    in_place: frozenset[str],
    reason: Callable[[str], str] = lambda kind: "make this change",
) -> tuple[Operation, ...]:
    """``operations`` (of ``version``) for a dialect that makes only the ``in_place`` kinds with ALTER.

    Every other change to a table becomes a :class:`RebuildTable`, which also copies every table that
    references the rebuilt one (directly or through others) and absorbs the changes of those tables,
    and drops the tables of ``drop_tables`` among them; it says why (``reason``: what ALTER TABLE cannot
    do that a kind asks for). Rebuilds whose tables reference each other are one. Renames and index drops stay
    before the rebuilds; the rebuilds come after every other change (so that what they reference is in
    place), before the remaining ``drop_tables``.
    """
    rebuilt = [
        op.table
        for op in operations
        if isinstance(op, TableChange) and op.kind not in in_place and op.table in version.changed
    ]
    if not rebuilt:
        return operations
    created = {op.table.name for op in operations if isinstance(op, CreateTable)}
    dropped = {op.table.name: op.table for op in operations if isinstance(op, DropTable)}
    groups = _rebuild_groups(list(dict.fromkeys(rebuilt)), version.referenced_by, created)
    grouped = {name for group in groups for name in group}
    changes: dict[str, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    kept: list[Operation] = []
    for op in operations:
        if isinstance(op, TableChange) and op.table in grouped:
            changes.setdefault(op.table, [])
            if not isinstance(op, CreateIndex):  # every index of a rebuilt table is made again anyway
                changes[op.table].append(op.describe())
            if op.kind not in in_place:
                reasons.setdefault(op.table, []).append(reason(op.kind))
        elif not (isinstance(op, DropTable) and op.table.name in grouped):
            kept.append(op)
    live = _LiveTables(operations, version, dropped)
    rebuilds = [_rebuild(group, set(rebuilt), changes, reasons, live) for group in groups]
    after = _created_after_rebuilds(kept, grouped, live)
    kept, moved = [op for op in kept if _table_of(op) not in after], [op for op in kept if _table_of(op) in after]
    first_drop = next((i for i, op in enumerate(kept) if isinstance(op, DropTable)), len(kept))
    return (*kept[:first_drop], *rebuilds, *moved, *kept[first_drop:])


def _table_of(op: Operation) -> str | None:
    """The table a :class:`CreateTable` or :class:`CreateIndex` makes or adds to (None for other kinds)."""
    if isinstance(op, CreateTable):
        return op.table.name
    return op.table if isinstance(op, CreateIndex) else None


def _created_after_rebuilds(operations: list[Operation], grouped: set[str], live: _LiveTables) -> set[str]:
    """The tables this version creates that reference a rebuilt one (directly or through each other): made
    after the rebuilds, so that no old table is dropped while a new table's key action could reach it
    (SQLite prepares the ``ON DELETE`` action of every referencing table, and with it that table's own
    keys, when a parent is dropped). None moves if a rebuilt table references one of them."""
    created = {op.table.name: op.table for op in operations if isinstance(op, CreateTable)}
    later: set[str] = set()
    grew = True
    while grew:
        found = {name for name, table in created.items() if live.references(table) & (grouped | later)}
        grew, later = found != later, found
    if any(live.references(live.shapes(name)[1]) & later for name in grouped if name not in live.dropped):
        return set()
    return later


def _rebuild_groups(
    rebuilt: list[str], referenced_by: Mapping[str, tuple[str, ...]], created: set[str]
) -> list[list[str]]:
    """The rebuilt tables and every table that references one, directly or through others (tables
    this version creates are empty and left out), split into groups that share no table and no key.

    A table that references a table of a group is in it, so groups are the connected parts of the
    reference graph among these tables; each lists its tables in the order they were found.
    """
    found: dict[str, str] = {}  # table → a table of its group (union-find)

    def root(name: str) -> str:
        while found[name] != name:
            found[name] = found[found[name]]
            name = found[name]
        return name

    order: list[str] = []
    for start in rebuilt:
        if start in found:
            continue
        found[start] = start
        order.append(start)
        pending = [start]
        while pending:
            name = pending.pop()
            for user in referenced_by.get(name, ()):
                if user in created:
                    continue
                if user not in found:
                    found[user] = user
                    order.append(user)
                    pending.append(user)
                found[root(user)] = root(name)
    groups: dict[str, list[str]] = {}
    for name in order:
        groups.setdefault(root(name), []).append(name)
    return list(groups.values())


class _LiveTables:
    """The shape of each table when a version's rebuilds run: after its renames and every other change,
    before the rebuilds; a table of ``drop_tables`` with its keys following this version's renames."""

    def __init__(self, operations: tuple[Operation, ...], version: VersionPlan, dropped: Mapping[str, Table]) -> None:
        self.version, self.dropped = version, dropped
        self.renamed = {op.old: op.new for op in operations if isinstance(op, RenameTable)}
        self.index_drops = {(op.table, op.index.name) for op in operations if isinstance(op, DropIndex)}

    def shapes(self, name: str) -> tuple[Table, Table]:
        """The table as the rebuild finds it, and as the version leaves it."""
        if name in self.version.changed:
            return self.version.changed[name]
        table = self.version.schema[name]
        return table, table

    def references(self, table: Table, required: bool = False) -> set[str]:
        """The other tables ``table`` has a foreign key to, by their names in the database; with
        ``required``, only through keys whose columns are all NOT NULL (every row references a parent)."""
        return {
            self.renamed.get(fk.ref_table, fk.ref_table)
            for fk in table.foreign_keys
            if not required or not any(table.columns_by_name[c].nullable for c in fk.columns)
        } - {table.name}


def _rebuild(
    group: list[str],
    rebuilt: set[str],
    changes: Mapping[str, list[str]],
    reasons: Mapping[str, list[str]],
    live: _LiveTables,
) -> RebuildTable:
    """One group's :class:`RebuildTable`: new tables made referenced ones first, old ones dropped
    referencing ones first (the tables of ``drop_tables`` among them); ``reasons``: why, by table."""
    members = set(group)
    shapes = {name: live.shapes(name) for name in group if name not in live.dropped}
    old = {name: live.dropped[name] if name in live.dropped else shapes[name][0] for name in group}
    copy_order = _referenced_first(
        list(shapes), lambda name, required: live.references(shapes[name][1], required) & members
    )
    drop_order = _referenced_first(group, lambda name, required: live.references(old[name], required) & members)
    drop_order.reverse()
    tables = tuple(
        CopiedTable(
            before,
            after,
            _copies(before, after),
            tuple(changes.get(name, ())),
            tuple(i.name for i in before.indexes if (name, i.name) not in live.index_drops),
        )
        for name in copy_order
        for before, after in [shapes[name]]
    )
    named = tuple(name for name in group if name in rebuilt or changes.get(name))
    dropped = tuple(name for name in drop_order if name in live.dropped)
    why = tuple(dict.fromkeys(text for name in group for text in reasons.get(name, ())))
    return RebuildTable(tables, named, tuple(drop_order), dropped, why)


def _referenced_first(names: list[str], references: Callable[[str, bool], set[str]]) -> list[str]:
    """``names``, each after the others it references (``references(name, required)``, among ``names``).

    Tables that a reference cycle holds back come last: whenever none is free, the first whose pending
    references all go through nullable keys (likely NULL in a row the cycle's other tables reference),
    else the first, goes next.
    """
    placed = in_rounds(names, lambda name: references(name, False))
    done = set(placed)
    remaining = [name for name in names if name not in done]
    while remaining:
        free = [name for name in remaining if references(name, False) - {name} <= done]
        if not free:
            free = [next((name for name in remaining if references(name, True) - {name} <= done), remaining[0])]
        placed += free
        done.update(free)
        remaining = [name for name in remaining if name not in done]
    return placed


def _copies(before: Table, after: Table) -> tuple[tuple[str, bool], ...]:
    found = []
    for column in after.columns:
        old = before.column(column.name)
        if old is not None:
            found.append((column.name, fills_nulls(old, column)))
    return tuple(found)
