"""Plan stage: replay specs in version order, keep the schema as of every version, and list each
version's operations in a safe order.

A spec that lists an existing table gives its whole desired shape; the plan diffs it against the
previous shape, one function per kind of element (columns, primary key, indexes, checks, foreign
keys). Operations are dialect-neutral; :func:`for_dialect` folds the changes a dialect cannot make
in place into :class:`RebuildTable` operations, each also copying the tables that reference its own.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from schemac.errors import Diagnostic
from schemac.model import (
    Check,
    Column,
    ColumnType,
    ForeignKey,
    Index,
    IndexColumn,
    Spec,
    Table,
    Where,
    column_shape,
    foreign_key_shape,
    index_shape,
)
from schemac.spec.names import check_name, primary_key_name


@dataclass(frozen=True)
class CreateTable:
    table: Table
    kind: ClassVar[str] = "create_table"

    def describe(self) -> str:
        return f"create table {self.table.name}"


@dataclass(frozen=True)
class CreateIndex:
    table: str
    index: Index
    kind: ClassVar[str] = "create_index"

    def describe(self) -> str:
        return f"create index {self.index.name} on {self.table}"


@dataclass(frozen=True)
class DropIndex:
    """``serves`` lists the foreign keys of the table whose columns lead this index and no other index or
    key left when it goes (an engine that needs an index for each key uses this one: see
    ``Dialect.keys_need_index``)."""

    table: str
    index: Index
    serves: tuple[ForeignKey, ...] = ()
    kind: ClassVar[str] = "drop_index"

    def describe(self) -> str:
        return f"drop index {self.index.name} of {self.table}"


@dataclass(frozen=True)
class DropTable:
    table: Table
    kind: ClassVar[str] = "drop_table"

    def describe(self) -> str:
        return f"drop table {self.table.name}"


@dataclass(frozen=True)
class RenameTable:
    old: str
    new: str
    kind: ClassVar[str] = "rename_table"

    def describe(self) -> str:
        return f"rename table {self.old} to {self.new}"


@dataclass(frozen=True)
class RenameColumn:
    table: str
    old: str
    new: str
    kind: ClassVar[str] = "rename_column"

    def describe(self) -> str:
        return f"rename column {self.table}.{self.old} to {self.new}"


@dataclass(frozen=True)
class AddColumn:
    """``kind`` is ``add_column`` when the column goes last and needs nothing an append cannot give;
    ``insert_column`` when it goes before existing columns; ``add_constrained_column`` when it
    brings a check, key, NOT NULL without default, or an expression default."""

    table: str
    column: Column
    kind: str = "add_column"

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name} {self.column.type}"


@dataclass(frozen=True)
class DropColumn:
    """``kind`` is ``drop_constrained_column`` when a key, check or enum of the table uses the column."""

    table: str
    column: Column
    kind: str = "drop_column"

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column.name}"


@dataclass(frozen=True)
class AlterColumn:
    """A change of type, nullability, default or enum; or, with ``renames_checks``, a column whose table or
    own name changed: the checks a dialect derives from it (:func:`~schemac.model.derived_checks`) are
    named after the old names, and each dialect renders what that takes, or nothing."""

    table: str
    before: Column
    after: Column
    renames_checks: bool = False
    kind: ClassVar[str] = "alter_column"

    @property
    def fills_nulls(self) -> bool:
        """Whether rows holding NULL get the column's default (see :func:`fills_nulls`)."""
        return fills_nulls(self.before, self.after)

    def describe(self) -> str:
        if self.renames_checks:
            return f"rename the checks of column {self.table}.{self.after.name}"
        return f"alter column {self.table}.{self.after.name}: {_column_text(self.before)} -> {_column_text(self.after)}"


@dataclass(frozen=True)
class ReorderColumns:
    table: str
    columns: tuple[str, ...]
    kind: ClassVar[str] = "reorder_columns"

    def describe(self) -> str:
        return f"reorder columns of {self.table}: {', '.join(self.columns)}"


@dataclass(frozen=True)
class AlterPrimaryKey:
    """A changed key, or a key whose constraint name changes with its table's (``old_constraint``)."""

    table: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    old_constraint: str
    kind: ClassVar[str] = "alter_primary_key"

    def describe(self) -> str:
        return f"change primary key of {self.table}: ({', '.join(self.before)}) -> ({', '.join(self.after)})"


@dataclass(frozen=True)
class AddCheck:
    table: str
    check: Check
    kind: ClassVar[str] = "add_check"

    def describe(self) -> str:
        return f"add check {self.check.name} on {self.table}"


@dataclass(frozen=True)
class DropCheck:
    table: str
    check: Check
    kind: ClassVar[str] = "drop_check"

    def describe(self) -> str:
        return f"drop check {self.check.name} of {self.table}"


@dataclass(frozen=True)
class AddForeignKey:
    table: str
    foreign_key: ForeignKey
    kind: ClassVar[str] = "add_foreign_key"

    def describe(self) -> str:
        return f"add foreign key {self.foreign_key.name} on {self.table}"


@dataclass(frozen=True)
class DropForeignKey:
    table: str
    foreign_key: ForeignKey
    kind: ClassVar[str] = "drop_foreign_key"

    def describe(self) -> str:
        return f"drop foreign key {self.foreign_key.name} of {self.table}"


@dataclass(frozen=True)
class CopiedTable:
    """One table of a :class:`RebuildTable`: its shape as the database holds it when the rebuild runs
    (``before``) and as the version leaves it (``after``).

    ``copies`` lists the columns copied from the old table, each with whether NULLs are replaced by
    the new column's default (a column that became NOT NULL); ``changes`` describes the operations
    the copy stands for (none: the table is copied only because it references a rebuilt one);
    ``old_indexes`` names the indexes of the old table still there (dropped so that the new table
    can take their names).
    """

    before: Table
    after: Table
    copies: tuple[tuple[str, bool], ...]
    changes: tuple[str, ...] = ()
    old_indexes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RebuildTable:
    """Recreate tables keeping every row, correct with foreign keys on or off, inside any transaction.

    ``tables`` (referenced ones first) are the tables whose change ALTER cannot make (``rebuilt``) and
    every table that references one of them, directly or through others: each is created under a
    temporary name (its keys pointing at the other new tables), filled and indexed. Then the old
    tables go, referencing ones first, with the tables of ``drop_tables`` that reference them
    (``dropped``), so that no ON DELETE action fires and no row is left without its parent; last, the
    new tables take their names (SQLite points the keys of other tables at a renamed table).
    ``drop_order`` lists every table dropped, in order.
    """

    tables: tuple[CopiedTable, ...]
    rebuilt: tuple[str, ...]
    drop_order: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    kind: ClassVar[str] = "rebuild_table"

    @property
    def after(self) -> Table:
        """The new shape of the first rebuilt table (the one the rebuild is named after)."""
        return next(t.after for t in self.tables if t.after.name == self.rebuilt[0])

    @property
    def copied(self) -> tuple[str, ...]:
        """The tables copied only because they reference a rebuilt one."""
        return tuple(t.after.name for t in self.tables if t.after.name not in self.rebuilt)

    def describe(self) -> str:
        tables = "table " + self.rebuilt[0] if len(self.rebuilt) == 1 else "tables " + ", ".join(self.rebuilt)
        changes = "; ".join(change for t in self.tables for change in t.changes)
        text = f"rebuild {tables}" + (f": {changes}" if changes else "")
        also = [f"copies {', '.join(self.copied)} too"] if self.copied else []
        also += [f"drops {', '.join(self.dropped)} first"] if self.dropped else []
        if not also:
            return text
        subject = "they reference" if len(self.copied) + len(self.dropped) > 1 else "it references"
        return f"{text} ({' and '.join(also)}: {subject} {'it' if len(self.rebuilt) == 1 else 'them'})"


Operation = (
    CreateTable
    | CreateIndex
    | DropIndex
    | DropTable
    | RenameTable
    | RenameColumn
    | AddColumn
    | DropColumn
    | AlterColumn
    | ReorderColumns
    | AlterPrimaryKey
    | AddCheck
    | DropCheck
    | AddForeignKey
    | DropForeignKey
    | RebuildTable
)
TableChange = (
    AddColumn
    | DropColumn
    | AlterColumn
    | ReorderColumns
    | AlterPrimaryKey
    | AddCheck
    | DropCheck
    | AddForeignKey
    | DropForeignKey
    | CreateIndex
)


@dataclass(frozen=True)
class VersionPlan:
    """One spec, the operations that take the schema from the previous version to it, and the result.

    ``changed`` maps each altered table to its shape before (after renames) and after this version;
    ``declared`` holds every table this spec lists (created, changed or restated); ``referenced_by``
    names, for each altered table and each table that references one (directly or through others),
    the tables with a foreign key to it during the version (its result, the altered tables' earlier
    shapes, and the tables it drops).
    """

    spec: Spec
    operations: tuple[Operation, ...]
    schema: Mapping[str, Table]
    fingerprint: str
    changed: Mapping[str, tuple[Table, Table]] = field(default_factory=dict)
    declared: tuple[Table, ...] = ()
    referenced_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    touched: tuple[str, ...] = ()
    """The names whose table this version created, replaced or removed (every other table is the same object)."""


def fills_nulls(before: Column, after: Column) -> bool:
    """Whether a column made NOT NULL with a default gives that default to the rows holding NULL (every
    engine does, before the column becomes NOT NULL)."""
    return before.nullable and not after.nullable and after.default is not None


def _column_text(c: Column) -> str:
    default = "" if c.default is None else f" default {c.default.value!r}"
    enum = f" enum {list(c.enum)}" if c.enum else ""
    return f"{c.type}{' NULL' if c.nullable else ' NOT NULL'}{default}{enum}"


class Fingerprint:
    """A hash of a set of tables that updates in O(changed tables): the sum of table digests mod 2**256."""

    def __init__(self, total: int = 0) -> None:
        self.total = total

    def add(self, table: Table) -> None:
        self.total = (self.total + table.digest) % 2**256

    def remove(self, table: Table) -> None:
        self.total = (self.total - table.digest) % 2**256

    def hexdigest(self) -> str:
        return hashlib.sha256(self.total.to_bytes(32, "big")).hexdigest()


def _object_names(table: Table) -> list[str]:
    """Names a table puts in the schema's one namespace."""
    key = [primary_key_name(table.name)] if table.primary_key else []
    return [table.name, *(i.name for i in table.indexes), *key]


_OWNER_WORDING = {
    "table": "table '{}'",
    "primary key": "the primary key of table '{}'",
    "index": "an index of table '{}'",
}
"""How findings name the owner of an object name, by kind, given the table's name."""


def _describe_object(name: str, table: Table) -> str:
    """What object ``name`` of ``table`` is, as findings say it (a primary key, then an index, then the table)."""
    if table.primary_key and name == primary_key_name(table.name):
        kind = "primary key"
    elif name in table.index_names:
        kind = "index"
    else:
        kind = "table"
    return _OWNER_WORDING[kind].format(table.name)


class PlanState(MutableMapping[str, Table]):
    """The schema while planning, with what the checks look up kept up to date as tables change.

    Who owns each object name, which tables reference each table, and the schema order are
    updated per changed table, so planning a version costs what its spec touches, not the size of
    the schema. A state can be kept and resumed (the build cache does), ``tables`` may load lazily.
    """

    def __init__(self, tables: MutableMapping[str, Table] | None = None) -> None:
        self.tables: MutableMapping[str, Table] = tables if tables is not None else {}
        self.position = {name: i for i, name in enumerate(self.tables)}
        self.next_position = len(self.position)
        self.owners: dict[str, str] = {}
        """Object name → the table that owns it."""
        self.shared: dict[str, set[str]] = {}
        """Object names that several tables own at once (while a version is planned) → those tables."""
        self.referrers: dict[str, set[str]] = {}
        self.fingerprint = 0
        self.versions = 0
        self._since_version: dict[str, Table | None] = {}
        self._since_index: dict[str, Table | None] = {name: None for name in self.tables}
        self.refresh()
        self._since_version.clear()

    def __getitem__(self, name: str) -> Table:
        table: Table = self.tables[name]
        return table

    def __setitem__(self, name: str, table: Table) -> None:
        self._touch(name)
        if name not in self.tables:
            self.position[name] = self.next_position
            self.next_position += 1
        self.tables[name] = table

    def __delitem__(self, name: str) -> None:
        self._touch(name)
        del self.tables[name]
        del self.position[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def _touch(self, name: str) -> None:
        for record in (self._since_version, self._since_index):
            if name not in record:
                record[name] = self.tables.get(name)

    def refresh(self) -> None:
        """Bring owners and referrers up to date with the tables changed since the last refresh."""
        for name, old in self._since_index.items():
            new = self.tables.get(name)
            if old is new:
                continue
            for table, add in ((old, False), (new, True)):
                if table is None:
                    continue
                for key in _object_names(table):
                    (self._claim if add else self._release)(key, name)
                for target in {fk.ref_table for fk in table.foreign_keys}:
                    users = self.referrers.setdefault(target, set())
                    (users.add if add else users.discard)(name)
        self._since_index.clear()

    def end_version(self) -> list[tuple[str, Table | None]]:
        """The tables this version changed (in schema order), folded into the fingerprint."""
        self.refresh()
        fingerprint = Fingerprint(self.fingerprint)
        changes = []
        for name, old in self._since_version.items():
            new = self.tables.get(name)
            if old is new:
                continue
            if old is not None:
                fingerprint.remove(old)
            if new is not None:
                fingerprint.add(new)
            changes.append((name, new))
        self._since_version.clear()
        self.fingerprint = fingerprint.total
        self.versions += 1
        return changes

    def _claim(self, key: str, table: str) -> None:
        owner = self.owners.setdefault(key, table)
        if owner != table:
            self.shared.setdefault(key, {owner}).add(table)

    def _release(self, key: str, table: str) -> None:
        users = self.shared.get(key)
        if users is None:
            if self.owners.get(key) == table:
                del self.owners[key]
            return
        users.discard(table)
        if self.owners[key] == table:
            self.owners[key] = next(iter(users))
        if len(users) == 1:
            del self.shared[key]

    def owner(self, name: str, excluding: set[str]) -> str | None:
        """Which table owns object ``name`` among tables not in ``excluding`` (the latest in schema order)."""
        tables = self.shared.get(name) or ((self.owners[name],) if name in self.owners else ())
        owning = [t for t in tables if t not in excluding]
        return max(owning, key=self.position.__getitem__) if owning else None

    def describe(self, name: str, table: str) -> str:
        return _describe_object(name, self.tables[table])

    def in_order(self, names: Iterable[str]) -> list[str]:
        return sorted((n for n in set(names) if n in self.position), key=self.position.__getitem__)

    def copy(self) -> PlanState:
        """A copy to resume from later (tables themselves are immutable and shared)."""
        clone: PlanState = copy.copy(self)
        clone.tables = copy.copy(self.tables)
        clone.position = dict(self.position)
        clone.owners = dict(self.owners)
        clone.shared = {name: set(users) for name, users in self.shared.items()}
        clone.referrers = {name: set(users) for name, users in self.referrers.items()}
        clone._since_version, clone._since_index = dict(self._since_version), dict(self._since_index)
        return clone


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


def plan(specs: Iterable[Spec], start: PlanState | None = None) -> tuple[list[VersionPlan], list[Diagnostic]]:
    """Plans for every spec, in order, with every finding that needs the schema of earlier versions.

    ``start`` (updated in place) resumes after versions planned earlier. Work per version follows
    what its spec touches, not the size of the schema so far.
    """
    state = start if start is not None else PlanState()
    base = copy.copy(state.tables)
    history: dict[str, list[tuple[int, Table | None]]] = {}
    plans: list[VersionPlan] = []
    diagnostics: list[Diagnostic] = []
    for spec in specs:
        number = state.versions
        version = _plan_one(spec, state, diagnostics)
        changes = state.end_version()
        for name, table in changes:
            history.setdefault(name, []).append((number, table))
        fingerprint = Fingerprint(state.fingerprint).hexdigest()
        schema = SchemaAt(history, number, base)
        touched = tuple(name for name, _ in changes)
        plans.append(dataclasses.replace(version, schema=schema, fingerprint=fingerprint, touched=touched))
    return plans, diagnostics


def for_dialect(
    operations: tuple[Operation, ...], version: VersionPlan, in_place: frozenset[str]
) -> tuple[Operation, ...]:
    """``operations`` (of ``version``) for a dialect that makes only the ``in_place`` kinds with ALTER.

    Every other change to a table becomes a :class:`RebuildTable`, which also copies every table that
    references the rebuilt one (directly or through others) and absorbs the changes of those tables,
    and drops the tables of ``drop_tables`` among them. Rebuilds whose tables reference each other
    are one. Renames and index drops stay before the rebuilds; the rebuilds come after every other
    change (so that what they reference is in place), before the remaining ``drop_tables``.
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
    kept: list[Operation] = []
    for op in operations:
        if isinstance(op, TableChange) and op.table in grouped:
            changes.setdefault(op.table, [])
            if not isinstance(op, CreateIndex):  # every index of a rebuilt table is made again anyway
                changes[op.table].append(op.describe())
        elif not (isinstance(op, DropTable) and op.table.name in grouped):
            kept.append(op)
    live = _LiveTables(operations, version, dropped)
    rebuilds = [_rebuild(group, set(rebuilt), changes, live) for group in groups]
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


def _rebuild(group: list[str], rebuilt: set[str], changes: Mapping[str, list[str]], live: _LiveTables) -> RebuildTable:
    """One group's :class:`RebuildTable`: new tables made referenced ones first, old ones dropped
    referencing ones first (the tables of ``drop_tables`` among them)."""
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
    return RebuildTable(tables, named, tuple(drop_order), dropped)


def _referenced_first(names: list[str], references: Callable[[str, bool], set[str]]) -> list[str]:
    """``names``, each after the others it references (``references(name, required)``, among ``names``).

    Tables that a reference cycle holds back come last: whenever none is free, the first whose pending
    references all go through nullable keys (likely NULL in a row the cycle's other tables reference),
    else the first, goes next.
    """
    placed = _in_rounds(names, lambda name: references(name, False))
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


def _in_rounds(names: list[str], references: Callable[[str], set[str]]) -> list[str]:
    """The ``names`` that a reference cycle does not hold back, in rounds: each after the rounds of the
    tables it references (among ``names``), in the given order within a round."""
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


def _copies(before: Table, after: Table) -> tuple[tuple[str, bool], ...]:
    found = []
    for column in after.columns:
        old = before.column(column.name)
        if old is not None:
            found.append((column.name, fills_nulls(old, column)))
    return tuple(found)


class _Error(Protocol):
    def __call__(self, where: Where, code: str, message: str, hint: str = "") -> None: ...


def _plan_one(spec: Spec, state: PlanState, found: list[Diagnostic]) -> VersionPlan:
    """Update ``state`` to ``spec`` and return the operations (schema and fingerprint filled by the caller)."""

    def error(where: Where, code: str, message: str, hint: str = "") -> None:
        found.append(Diagnostic(spec.file, where[0], where[1], code, message, hint))

    table_renames = _table_renames(spec, state, error)
    dropped = _dropped_tables(spec, state, table_renames, error)
    _rename_tables(state, table_renames)
    new_tables = [t for t in spec.tables if t.name not in state]
    relisted = {t.name: t for t in spec.tables if t.name in state}
    column_renames: dict[str, dict[str, str]] = {}
    for name, table in relisted.items():
        reported = len(found)
        renames = _column_renames(spec, state[name], table, error)
        if len(found) == reported:  # else a refused rename would show up again as a drop and an add
            column_renames[name] = renames
    for name, renames in column_renames.items():
        _rename_columns(state, name, renames)
    changed = {name: (state[name], relisted[name]) for name in column_renames}
    for table in dropped:
        del state[table.name]
    state.update({t.name: t for t in spec.tables})
    _check_references(spec, state, dropped, error)
    _check_object_names(spec, state, error)
    ordered = _creation_order(new_tables, error)
    diffs = [
        _diff_table(spec, before, after, error, table_renames.get(name, name), set(column_renames[name]))
        for name, (before, after) in changed.items()
    ]
    operations: list[Operation] = [RenameTable(old, new) for new, old in table_renames.items()]
    operations += [
        RenameColumn(name, old, new) for name, renames in column_renames.items() for new, old in renames.items()
    ]
    operations += [op for diff in diffs for op in diff.index_drops]
    operations += [op for diff in diffs for op in diff.constraint_drops]
    for table in ordered:
        operations.append(CreateTable(table))
        operations.extend(CreateIndex(table.name, index) for index in table.indexes)
    operations += [op for diff in diffs for op in diff.alters]
    operations += [op for diff in diffs for op in diff.index_creates]
    operations += [DropTable(t) for t in reversed(_creation_order(dropped, _ignore))]
    changed = {diff.table: changed[diff.table] for diff in diffs if not diff.empty}
    referenced_by = _referrers(state, changed, dropped, table_renames)
    return VersionPlan(spec, tuple(operations), {}, "", changed, (*ordered, *relisted.values()), referenced_by)


def _referrers(
    state: PlanState, changed: Mapping[str, tuple[Table, Table]], dropped: list[Table], renames: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """For each altered table, and each table that references one of them directly or through others,
    the tables with a foreign key to it during the version: in the schema the version leaves (which
    ``state`` indexes), and among the altered tables' earlier shapes and the dropped ones (whose keys
    follow the table ``renames``, new name → old, as the database's do)."""
    state.refresh()
    new_name = {old: new for new, old in renames.items()}
    earlier: dict[str, set[str]] = {}
    for before, _ in changed.values():
        for fk in before.foreign_keys:
            earlier.setdefault(fk.ref_table, set()).add(before.name)
    for table in dropped:
        for fk in table.foreign_keys:
            earlier.setdefault(new_name.get(fk.ref_table, fk.ref_table), set()).add(table.name)
    found: dict[str, tuple[str, ...]] = {}
    pending = list(changed)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = tuple(sorted(state.referrers.get(name, set()) | earlier.get(name, set())))
        pending.extend(user for user in found[name] if user not in found)
    return found


@dataclass(frozen=True)
class _TableDiff:
    """One re-listed table's operations, by the phase of the version they belong to."""

    table: str
    index_drops: list[Operation]
    constraint_drops: list[Operation]
    alters: list[Operation]
    index_creates: list[Operation]

    @property
    def empty(self) -> bool:
        return not (self.index_drops or self.constraint_drops or self.alters or self.index_creates)


def _diff_table(
    spec: Spec, before: Table, after: Table, error: _Error, original: str, renamed_columns: set[str]
) -> _TableDiff:
    """``before`` (its renames applied) → ``after``; ``original`` is the table's name in the previous version."""
    index_drops, index_creates = _diff_indexes(before, after)
    check_drops, check_adds = _diff_checks(before, after)
    key_drops, key_adds = _diff_foreign_keys(before, after)
    columns = _diff_columns(spec, before, after, error, original != after.name, renamed_columns)
    primary_key = _diff_primary_key(before, after, original)
    return _TableDiff(
        after.name, index_drops, key_drops + check_drops, columns + primary_key + check_adds + key_adds, index_creates
    )


def _refuse_destructive(spec: Spec, where: Where, change: str, error: _Error) -> None:
    if not spec.allow_destructive:
        error(
            where,
            "SC403",
            f"destructive change refused: {change}",
            "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec",
        )


def _table_renames(spec: Spec, state: Mapping[str, Table], error: _Error) -> dict[str, str]:
    """New name → old name for every table whose ``renamed_from`` names a table of the previous version."""
    renames: dict[str, str] = {}
    renamed_to: dict[str, str] = {}  # old name → new name

    @functools.cache
    def known_tables() -> str:
        return _known("tables", state)

    for table in spec.tables:
        source = table.renamed_from
        if not source or source == table.name:
            continue
        where = spec.at("tables", table.name, "renamed_from")
        if table.name in state:
            if source in state:
                error(
                    where,
                    "SC405",
                    f"table '{table.name}' is renamed from '{source}', but '{table.name}' already exists",
                    f"drop '{table.name}' in an earlier spec, or remove renamed_from",
                )
            continue  # a rename recorded by an earlier spec
        if source not in state:
            error(
                where,
                "SC404",
                f"table '{table.name}' is renamed from '{source}', which does not exist",
                known_tables(),
            )
        elif source in renamed_to:
            error(where, "SC405", f"tables '{renamed_to[source]}' and '{table.name}' are both renamed from '{source}'")
        else:
            renames[table.name] = source
            renamed_to[source] = table.name
    return renames


def _dropped_tables(spec: Spec, state: Mapping[str, Table], renames: Mapping[str, str], error: _Error) -> list[Table]:
    listed = {t.name for t in spec.tables}
    renamed = set(renames.values())
    dropped = []

    @functools.cache
    def known_tables() -> str:
        return _known("tables", state)

    for i, name in enumerate(spec.drop_tables):
        where = spec.at("drop_tables", i)
        if name not in state:
            error(where, "SC407", f"drop_tables names '{name}', which does not exist", known_tables())
        elif name in listed or name in renamed:
            error(
                where,
                "SC406",
                f"table '{name}' is both dropped and {'listed' if name in listed else 'renamed'} in this spec",
                "drop it in one spec and create the new table in a later one",
            )
        else:
            _refuse_destructive(spec, where, f"dropping table '{name}'", error)
            dropped.append(state[name])
    return dropped


def _rename_tables(state: PlanState, renames: Mapping[str, str]) -> None:
    """Apply ``renames`` (new name → old) to ``state``, and point every foreign key at the new names (as
    the databases do). A new name is never an old one, so all apply at once; only referencing tables change."""
    if not renames:
        return
    new_name = {old: new for new, old in renames.items()}
    state.refresh()
    users = {new_name.get(user, user) for old in new_name for user in state.referrers.get(old, ())}
    for new, old in renames.items():
        state[new] = dataclasses.replace(state.pop(old), name=new)

    def rewrite(fk: ForeignKey) -> ForeignKey:
        moved = new_name.get(fk.ref_table)
        return fk if moved is None else dataclasses.replace(fk, ref_table=moved)

    _rewrite_references(state, users, rewrite)


def _rename_columns(state: PlanState, table_name: str, renames: Mapping[str, str]) -> None:
    """Apply ``renames`` (new name → old) to a table of ``state``: its columns, key, indexes and foreign
    keys, and references from other tables. A new name is never an old one, so all apply at once."""
    if not renames:
        return
    new_name = {old: new for new, old in renames.items()}

    def rename(name: str) -> str:
        return new_name.get(name, name)

    state.refresh()
    users = set(state.referrers.get(table_name, ()))
    table = state[table_name]
    state[table_name] = dataclasses.replace(
        table,
        columns=tuple(dataclasses.replace(c, name=rename(c.name)) if c.name in new_name else c for c in table.columns),
        primary_key=tuple(map(rename, table.primary_key)),
        indexes=tuple(
            dataclasses.replace(i, columns=tuple(IndexColumn(rename(c.name), c.descending) for c in i.columns))
            for i in table.indexes
        ),
        foreign_keys=tuple(dataclasses.replace(f, columns=tuple(map(rename, f.columns))) for f in table.foreign_keys),
    )
    _rewrite_references(
        state,
        users,
        lambda fk: (
            dataclasses.replace(fk, ref_columns=tuple(map(rename, fk.ref_columns)))
            if fk.ref_table == table_name
            else fk
        ),
    )


def _rewrite_references(state: PlanState, users: Iterable[str], rewrite: Callable[[ForeignKey], ForeignKey]) -> None:
    """Rewrite the foreign keys of ``users``, the tables that reference what changed, in schema order."""
    for name in state.in_order(users):
        table = state[name]
        keys = tuple(map(rewrite, table.foreign_keys))
        if keys != table.foreign_keys:
            state[name] = dataclasses.replace(table, foreign_keys=keys)


def _column_renames(spec: Spec, before: Table, after: Table, error: _Error) -> dict[str, str]:
    """New name → old name for every column of ``after`` renamed from a column of ``before``."""
    renames: dict[str, str] = {}
    renamed_to: dict[str, str] = {}  # old name → new name

    @functools.cache
    def known_columns() -> str:
        return _known("columns", before.columns_by_name)

    for column in after.columns:
        source = column.renamed_from
        if not source or source == column.name:
            continue
        where = spec.at("tables", after.name, "columns", column.name, "renamed_from")
        if before.column(column.name) is not None:
            if before.column(source) is not None:
                error(
                    where,
                    "SC405",
                    f"column '{after.name}.{column.name}' is renamed from '{source}', but both exist",
                    "remove renamed_from, or drop one of them first",
                )
            continue  # a rename recorded by an earlier spec
        if before.column(source) is None:
            error(
                where,
                "SC404",
                f"column '{after.name}.{column.name}' is renamed from '{source}', which does not exist",
                known_columns(),
            )
        elif after.column(source) is not None:
            error(
                where,
                "SC405",
                f"column '{after.name}.{column.name}' is renamed from '{source}', which is still listed",
                f"remove column '{source}' or the renamed_from",
            )
        elif source in renamed_to:
            error(
                where,
                "SC405",
                f"columns '{renamed_to[source]}' and '{column.name}' of '{after.name}' "
                f"are both renamed from '{source}'",
            )
        else:
            renames[column.name] = source
            renamed_to[source] = column.name
    return renames


_WIDENINGS = frozenset({("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("real", "double")})
_TEXT_LIKE = frozenset({"text", "string", "uuid", "date", "timestamp", "json"})


def narrows(old: ColumnType, new: ColumnType) -> bool:
    """Whether values of ``old`` may not fit ``new`` (a change that can lose or refuse data)."""
    if old == new or (new.name == "text" and old.name in _TEXT_LIKE):
        return False
    if old.name == new.name == "string":
        return (new.length or 0) < (old.length or 0)
    if old.name == new.name == "decimal":
        old_p, old_s, new_p, new_s = old.length or 0, old.scale or 0, new.length or 0, new.scale or 0
        return new_s < old_s or new_p - new_s < old_p - old_s
    return (old.name, new.name) not in _WIDENINGS


def _diff_columns(
    spec: Spec, before: Table, after: Table, error: _Error, table_renamed: bool, renamed_columns: set[str]
) -> list[Operation]:
    """Drops, type/nullability/default changes, adds and reordering; destructive ones are refused unless allowed.

    A renamed enum, boolean or string(n) column, or any such column of a renamed table, changes the name of the
    check derived from it, so it counts as altered.
    """
    ops: list[Operation] = []
    name = after.name
    old_columns, new_columns = before.columns_by_name, after.columns_by_name

    def where(column: Column) -> Where:
        return after.where if column.audit else column.where

    was_constrained = _constrained(before)
    for column in before.columns:
        if column.name not in new_columns:
            _refuse_destructive(spec, after.where, f"dropping column '{name}.{column.name}'", error)
            kind = "drop_constrained_column" if was_constrained(column) else "drop_column"
            ops.append(DropColumn(name, column, kind))
    for column in after.columns:
        old = old_columns.get(column.name)
        if old is None:
            continue
        if column_shape(old) == column_shape(column):
            if table_renamed or column.name in renamed_columns:
                ops.append(AlterColumn(name, old, column, renames_checks=True))
            continue
        if narrows(old.type, column.type):
            _refuse_destructive(
                spec,
                spec.at("tables", name, "columns", column.name, "type"),
                f"narrowing column '{name}.{column.name}' from {old.type} to {column.type}",
                error,
            )
        if old.nullable and not column.nullable and column.default is None:
            _refuse_destructive(
                spec, where(column), f"making column '{name}.{column.name}' NOT NULL without a default", error
            )
        ops.append(AlterColumn(name, old, column))
    kept = [c.name for c in after.columns if c.name in old_columns]
    # An added column before the last existing one is inserted among them.
    last_kept = max((i for i, c in enumerate(after.columns) if c.name in old_columns), default=-1)
    constrained = _constrained(after)
    for position, column in enumerate(after.columns):
        if column.name in old_columns:
            continue
        if not column.nullable and column.default is None:
            _refuse_destructive(
                spec, where(column), f"adding NOT NULL column '{name}.{column.name}' without a default", error
            )
        if position < last_kept:
            kind = "insert_column"
        elif (
            constrained(column)
            or (not column.nullable and column.default is None)
            or (column.default is not None and column.default.kind == "sql")
        ):
            kind = "add_constrained_column"
        else:
            kind = "add_column"
        ops.append(AddColumn(name, column, kind))
    if kept != [c.name for c in before.columns if c.name in new_columns]:
        ops.append(ReorderColumns(name, tuple(c.name for c in after.columns)))
    return ops


def _constrained(table: Table) -> Callable[[Column], bool]:
    """Whether a key or check of ``table`` names a column (so ALTER cannot add or drop it); checks a
    dialect derives from the column are its own business (:func:`schemac.render.dialect_operations`).

    The table's keys and checks are indexed once, however many columns are asked about.
    """
    keyed = set(table.primary_key).union(*(fk.columns for fk in table.foreign_keys))
    checks = {check.name for check in table.checks}

    def constrained(column: Column) -> bool:
        return column.name in keyed or check_name(table.name, column.name) in checks

    return constrained


def _diff_primary_key(before: Table, after: Table, original: str) -> list[Operation]:
    """A changed key, or a renamed table (its key constraint is named after the table)."""
    if before.primary_key == after.primary_key and (original == after.name or not after.primary_key):
        return []
    return [AlterPrimaryKey(after.name, before.primary_key, after.primary_key, primary_key_name(original))]


def _diff_indexes(before: Table, after: Table) -> tuple[list[Operation], list[Operation]]:
    """Index drops and creates: a changed definition is a drop and a create under the same name."""
    old = {i.name: i for i in before.indexes}
    new = {i.name: i for i in after.indexes}
    dropped = [i for i in before.indexes if i.name not in new or index_shape(new[i.name]) != index_shape(i)]
    gone: set[str] = set()
    drops: list[Operation] = []
    for index in dropped:
        gone.add(index.name)
        left = [i for i in before.indexes if i.name not in gone]
        drops.append(DropIndex(after.name, index, _last_index_of(before, index, left)))
    creates: list[Operation] = [
        CreateIndex(after.name, i)
        for i in after.indexes
        if i.name not in old or index_shape(old[i.name]) != index_shape(i)
    ]
    return drops, creates


def _leads(columns: Iterable[str], fk: ForeignKey) -> bool:
    """Whether ``columns`` (of an index or key, in order) begin with the columns of ``fk``."""
    return tuple(columns)[: len(fk.columns)] == fk.columns


def _last_index_of(table: Table, index: Index, left: Iterable[Index]) -> tuple[ForeignKey, ...]:
    """The foreign keys of ``table`` led by ``index`` and by none of the indexes ``left`` nor the primary key."""
    others = [table.primary_key, *([c.name for c in i.columns] for i in left)]
    return tuple(
        fk
        for fk in table.foreign_keys
        if _leads((c.name for c in index.columns), fk) and not any(_leads(o, fk) for o in others)
    )


def _diff_checks(before: Table, after: Table) -> tuple[list[Operation], list[Operation]]:
    old = {c.name: c.expression for c in before.checks}
    new = {c.name: c.expression for c in after.checks}
    drops: list[Operation] = [DropCheck(after.name, c) for c in before.checks if new.get(c.name) != c.expression]
    adds: list[Operation] = [AddCheck(after.name, c) for c in after.checks if old.get(c.name) != c.expression]
    return drops, adds


def _diff_foreign_keys(before: Table, after: Table) -> tuple[list[Operation], list[Operation]]:
    old = {f.name: foreign_key_shape(f) for f in before.foreign_keys}
    new = {f.name: foreign_key_shape(f) for f in after.foreign_keys}
    drops: list[Operation] = [
        DropForeignKey(after.name, f) for f in before.foreign_keys if new.get(f.name) != foreign_key_shape(f)
    ]
    adds: list[Operation] = [
        AddForeignKey(after.name, f) for f in after.foreign_keys if old.get(f.name) != foreign_key_shape(f)
    ]
    return drops, adds


def _check_references(spec: Spec, state: PlanState, dropped: list[Table], error: _Error) -> None:
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
        return _known("tables", self.tables)

    def known_columns(self, table: Table) -> str:
        if table.name not in self._known_columns:
            self._known_columns[table.name] = _known("columns", table.columns_by_name)
        return self._known_columns[table.name]

    def keys(self, table: Table) -> frozenset[frozenset[str]]:
        """The column sets a foreign key may reference: the primary key and each unique, non-partial index."""
        if table.name not in self._keys:
            unique = (frozenset(c.name for c in i.columns) for i in table.indexes if i.unique and i.predicate is None)
            self._keys[table.name] = frozenset([frozenset(table.primary_key), *unique])
        return self._keys[table.name]


def _check_reference(table: Table, fk: ForeignKey, targets: _Targets, error: _Error) -> None:
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


def _check_object_names(spec: Spec, state: PlanState, error: _Error) -> None:
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
        owners[table.name] = _OWNER_WORDING["table"].format(table.name)
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
            owners[name] = _OWNER_WORDING["primary key"].format(table.name)
        for index in table.indexes:
            if index.name in owners:
                error(
                    index.where,
                    "SC304",
                    f"index name '{index.name}' is already used by {owners[index.name]}",
                    "give the index another name",
                )
            owners[index.name] = _OWNER_WORDING["index"].format(table.name)


def _creation_order(tables: list[Table], error: _Error) -> list[Table]:
    """Referenced tables first; spec order otherwise. A cycle is reported, not broken.

    Tables come in rounds, each in spec order: first those that reference no other listed table, then
    those that reference only tables of earlier rounds. A table's round is one after that of the last
    table it waits for (Kahn's algorithm: each reference is followed once, from the referenced table).
    """
    names = {t.name for t in tables}
    waits_for = {t.name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in names} - {t.name} for t in tables}
    waited_by: dict[str, list[str]] = {}
    for name, targets in waits_for.items():
        for target in targets:
            waited_by.setdefault(target, []).append(name)
    unmet = {name: len(targets) for name, targets in waits_for.items()}
    round_of: dict[str, int] = {}
    ready = [name for name, count in unmet.items() if count == 0]
    depth = 0
    while ready:
        following = []
        for name in ready:
            round_of[name] = depth
            for user in waited_by.get(name, ()):
                unmet[user] -= 1
                if unmet[user] == 0:
                    following.append(user)
        ready, depth = following, depth + 1
    if len(round_of) < len(waits_for):
        pending = {
            name: {target for target in targets if target not in round_of}
            for name, targets in waits_for.items()
            if name not in round_of
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
    rounds: list[list[Table]] = [[] for _ in range(depth)]
    for table in tables:
        rounds[round_of[table.name]].append(table)
    return [table for tables_of_round in rounds for table in tables_of_round]


def _find_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    """A cycle among ``pending`` (each waits for at least one other), from the smallest name, following the
    smallest reference."""
    path: dict[str, int] = {}  # node → its position on the path
    node = min(pending)
    while node not in path:
        path[node] = len(path)
        node = min(pending[node])
    return list(path)[path[node] :]


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


def _known(what: str, items: Mapping[str, object]) -> str:
    names = sorted(items)
    return f"known {what}: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}" if names else ""


def _ignore(where: Where, code: str, message: str, hint: str = "") -> None:
    """Dropped tables that reference each other are dropped in any order."""
