"""What a plan is made of: one frozen dataclass per kind of operation, :class:`VersionPlan` (one spec's
operations and resulting schema), and the column-change judgements both the planner and the rules use
(:func:`fills_nulls`, :func:`narrows`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from schemac.model import Check, Column, ColumnType, ForeignKey, Index, Spec, Table


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
    ``insert_column`` when it goes before existing columns; ``add_checked_column`` when the dialect
    derives a check from it; ``add_referencing_column`` when it is, alone, each of its foreign keys,
    nullable with a NULL default; ``add_constrained_column`` when it is in the primary key, a check of
    its own or a foreign key with other columns, NOT NULL without default, or has a default that is not a
    constant (an expression, a function).

    ``foreign_keys``: the keys written in the column's own definition, where the dialect adds them so
    (``Dialect.inline_column_keys``) instead of with a separate :class:`AddForeignKey`.
    """

    table: str
    column: Column
    kind: str = "add_column"
    foreign_keys: tuple[ForeignKey, ...] = ()

    def describe(self) -> str:
        keys = f" with foreign key {', '.join(fk.name for fk in self.foreign_keys)}" if self.foreign_keys else ""
        return f"add column {self.table}.{self.column.name} {self.column.type}{keys}"


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
    own name changed: the checks a dialect derives from it (:func:`~schemac.spec.checks.derived_checks`) are
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
    ``drop_order`` lists every table dropped, in order; ``reasons``, what ALTER TABLE cannot do that they ask for.
    """

    tables: tuple[CopiedTable, ...]
    rebuilt: tuple[str, ...]
    drop_order: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
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
        why = f" (ALTER TABLE cannot {'; '.join(self.reasons)})" if self.reasons else ""
        text = f"rebuild {tables}{why}" + (f": {changes}" if changes else "")
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


def key_targets(operations: Iterable[Operation]) -> frozenset[tuple[str, frozenset[str]]]:
    """(table, columns) each foreign key ``operations`` add references."""
    keys: list[ForeignKey] = []
    for op in operations:
        if isinstance(op, CreateTable):
            keys += op.table.foreign_keys
        elif isinstance(op, AddForeignKey):
            keys.append(op.foreign_key)
        elif isinstance(op, AddColumn):
            keys += op.foreign_keys
    return frozenset((fk.ref_table, frozenset(fk.ref_columns)) for fk in keys)


def referenced_columns(
    operations: Iterable[Operation], schema: Mapping[str, Table]
) -> frozenset[tuple[str, frozenset[str]]]:
    """:func:`key_targets` but a table's primary key in ``schema``, which serves the key: elsewhere a
    unique index must exist before the key is added."""
    return frozenset(
        (table, columns)
        for table, columns in key_targets(operations)
        if table not in schema or columns != frozenset(schema[table].primary_key)
    )


def backs_a_key(op: Operation, referenced: frozenset[tuple[str, frozenset[str]]]) -> bool:
    """Whether ``op`` builds a unique index that a foreign key of ``referenced`` needs."""
    return (
        isinstance(op, CreateIndex)
        and op.index.unique
        and (op.table, frozenset(c.name for c in op.index.columns)) in referenced
    )


def fills_nulls(before: Column, after: Column) -> bool:
    """Whether a column made NOT NULL with a default gives that default to the rows holding NULL (every
    engine does, before the column becomes NOT NULL)."""
    return before.nullable and not after.nullable and after.default is not None


def _column_text(c: Column) -> str:
    if c.default is None:
        default = ""
    elif c.default.kind == "fn":  # a portable default: not the string it is named by
        default = f" default {{fn: {c.default.value}}}"
    else:
        default = f" default {c.default.value!r}"
    enum = f" enum {list(c.enum)}" if c.enum else ""
    return f"{c.type}{' NULL' if c.nullable else ' NOT NULL'}{default}{enum}{' identity' if c.identity else ''}"


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
