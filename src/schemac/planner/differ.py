"""Planning: replay specs in order (:func:`plan`), each one's renames, drops, checks and creations, then
diff every re-listed table against its previous shape, one function per kind of element (columns,
primary key, indexes, checks, foreign keys)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from schemac.errors import Diagnostic
from schemac.model import (
    Column,
    ForeignKey,
    Index,
    Spec,
    Table,
    Where,
    column_shape,
    foreign_key_shape,
    index_shape,
    with_created_in,
)
from schemac.planner.findings import ErrorSink, refuse_destructive, whole_shape_hint
from schemac.planner.integrity import check_baseline, check_object_names, check_references, creation_order
from schemac.planner.operations import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    AlterPrimaryKey,
    CreateIndex,
    CreateTable,
    DropCheck,
    DropColumn,
    DropForeignKey,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
    ReorderColumns,
    VersionPlan,
    backs_a_key,
    key_targets,
    narrows,
    referenced_columns,
)
from schemac.planner.renames import (
    apply_column_renames,
    apply_table_renames,
    resolve_column_renames,
    resolve_drops,
    resolve_table_renames,
)
from schemac.planner.state import Fingerprint, PlanState, SchemaAt
from schemac.spec.audit import with_audit, with_time_defaults, without_audit
from schemac.spec.names import check_name, primary_key_name


def plan(
    specs: Iterable[Spec],
    start: PlanState | None = None,
    *,
    audit_defaults_from: int | None = None,
) -> tuple[list[VersionPlan], list[Diagnostic]]:
    """Plans for every spec, in order, with every finding that needs the schema of earlier versions.

    ``start`` (updated in place) resumes after versions planned earlier. Work per version follows
    what its spec touches, not the size of the schema so far. ``audit_defaults_from``: the version from
    which audit timestamps default to the current time (:func:`_with_time_defaults`).
    """
    state = start if start is not None else PlanState()
    base = copy.copy(state.tables)
    history: dict[str, list[tuple[int, Table | None]]] = {}
    plans: list[VersionPlan] = []
    diagnostics: list[Diagnostic] = []
    for spec in specs:
        number = state.versions
        version = _plan_one(_with_creation(spec, state), state, diagnostics, audit_defaults_from)
        changes = state.end_version()
        for name, table in changes:
            history.setdefault(name, []).append((number, table))
        fingerprint = Fingerprint(state.fingerprint).hexdigest()
        schema = SchemaAt(history, number, base)
        touched = tuple(name for name, _ in changes)
        plans.append(dataclasses.replace(version, schema=schema, fingerprint=fingerprint, touched=touched))
    return plans, diagnostics


def _plan_one(spec: Spec, state: PlanState, found: list[Diagnostic], audit_defaults_from: int | None) -> VersionPlan:
    """Update ``state`` to ``spec`` and return the operations (schema and fingerprint filled by the caller)."""

    def error(where: Where, code: str, message: str, hint: str = "") -> None:
        found.append(Diagnostic(spec.file, where[0], where[1], code, message, hint))

    spec = _as_legacy(spec, state)
    carried: tuple[Table, ...] = ()
    if audit_defaults_from is not None and spec.version >= audit_defaults_from:
        spec, carried = _with_time_defaults(spec, state, carry=spec.version == audit_defaults_from)
    declared_spec, spec = spec, dataclasses.replace(spec, tables=spec.tables + carried) if carried else spec
    table_renames = resolve_table_renames(spec, state, error)
    dropped = resolve_drops(spec, state, table_renames, error)
    apply_table_renames(state, table_renames)
    new_tables = [t for t in spec.tables if t.name not in state]
    relisted = {t.name: t for t in spec.tables if t.name in state}
    column_renames: dict[str, dict[str, str]] = {}
    for name, table in relisted.items():
        reported = len(found)
        renames = resolve_column_renames(spec, state[name], table, error)
        if len(found) == reported:  # else a refused rename would show up again as a drop and an add
            column_renames[name] = renames
    for name, renames in column_renames.items():
        apply_column_renames(state, name, renames)
    changed = {name: (state[name], relisted[name]) for name in column_renames}
    check_baseline(spec, state.versions == 0, {name: state[name] for name in relisted}, error)
    for table in dropped:
        del state[table.name]
    state.update({t.name: t for t in spec.tables})
    check_references(spec, state, dropped, error)
    check_object_names(spec, state, error)
    ordered = creation_order(new_tables, error)
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
    creates: list[Operation] = []
    for table in ordered:
        creates.append(CreateTable(table))
        creates.extend(CreateIndex(table.name, index) for index in table.indexes)
    alters = [op for diff in diffs for op in diff.alters]
    operations += _ordered_changes(creates, alters, [op for diff in diffs for op in diff.index_creates], state)
    operations += [DropTable(t) for t in reversed(creation_order(dropped, _ignore))]
    changed = {diff.table: changed[diff.table] for diff in diffs if not diff.empty}
    referenced_by = _referrers(state, changed, dropped, table_renames)
    carried_names = {table.name for table in carried}
    declared = (*ordered, *(table for name, table in relisted.items() if name not in carried_names))
    return VersionPlan(declared_spec, tuple(operations), {}, "", changed, declared, referenced_by)


def _ordered_changes(
    creates: list[Operation], alters: list[Operation], index_creates: list[Operation], schema: Mapping[str, Table]
) -> list[Operation]:
    """New tables, then changes to existing ones, then their new indexes; but the unique index or primary
    key of an existing table that a foreign key added by this version references comes first (after the
    changes to the columns it covers), as the key cannot be added without it."""
    added = [*creates, *alters]
    referenced, targets = referenced_columns(added, schema), key_targets(added)
    needed = [op for op in index_creates if backs_a_key(op, referenced)]
    keys = [op for op in alters if isinstance(op, AlterPrimaryKey) and (op.table, frozenset(op.after)) in targets]
    if not needed and not keys:
        return [*creates, *alters, *index_creates]
    covered = {(op.table, c.name) for op in needed if isinstance(op, CreateIndex) for c in op.index.columns}
    covered |= {(op.table, name) for op in keys for name in op.after}
    first = [op for op in alters if _changed_column(op) in covered or op in keys]
    return [
        *first,
        *needed,
        *creates,
        *(op for op in alters if op not in first),
        *(op for op in index_creates if op not in needed),
    ]


def _changed_column(op: Operation) -> tuple[str, str] | None:
    """(table, column) an added or altered column of ``op`` is, else None."""
    if isinstance(op, AddColumn):
        return op.table, op.column.name
    return (op.table, op.after.name) if isinstance(op, AlterColumn) else None


def _as_legacy(spec: Spec, state: PlanState) -> Spec:
    """``spec`` with every table it lists that comes from the baseline marked so. Such a table does not take
    the project's default audit policy: without an ``audit:`` of its own it keeps the groups it has (none,
    at first), so that changing a legacy table never adds columns its rows cannot fill."""
    tables = []
    for table in spec.tables:
        before = state.get(table.renamed_from or table.name) if not spec.baseline else None
        if before is not None and before.legacy:
            if table.audit_by_default:
                table = with_audit(dataclasses.replace(without_audit(table), audit=before.audit))
            table = dataclasses.replace(table, legacy=True)
        tables.append(table)
    if all(new is old for new, old in zip(tables, spec.tables, strict=True)):
        return spec
    return dataclasses.replace(spec, tables=tuple(tables))


def _with_creation(spec: Spec, state: PlanState) -> Spec:
    """``spec`` with :attr:`Table.created_in` set on each table: this version for a new table, the version
    that created it for a table listed again (under its old name when renamed)."""
    tables = []
    for table in spec.tables:
        before = state.get(table.renamed_from) if table.renamed_from else None
        before = before or state.get(table.name)
        tables.append(with_created_in(table, before.created_in if before is not None else spec.version))
    if all(new is old for new, old in zip(tables, spec.tables, strict=True)):
        return spec
    return dataclasses.replace(spec, tables=tuple(tables))


def _with_time_defaults(spec: Spec, state: PlanState, *, carry: bool) -> tuple[Spec, tuple[Table, ...]]:
    """``spec`` with the audit timestamps of its tables defaulting to the current time; with ``carry`` (the
    version where ``[audit] defaults`` takes effect), also every earlier table it does not list, rename or
    drop whose timestamps do not default yet, as it is but for those defaults: planned as if the spec
    listed them, so that this version changes them."""
    tables = tuple(with_time_defaults(t) for t in spec.tables)
    if any(new is not old for new, old in zip(tables, spec.tables, strict=True)):
        spec = dataclasses.replace(spec, tables=tables)
    carried: list[Table] = []
    if carry:
        listed = {t.name for t in spec.tables} | {t.renamed_from for t in spec.tables if t.renamed_from}
        for name in state.in_order(set(state) - listed - set(spec.drop_tables)):
            table = with_time_defaults(state[name])
            if table is not state[name]:
                columns = tuple(dataclasses.replace(c, renamed_from=None) for c in table.columns)
                carried.append(dataclasses.replace(table, columns=columns, renamed_from=None))
    return spec, tuple(carried)


def _ignore(where: Where, code: str, message: str, hint: str = "") -> None:
    """Dropped tables that reference each other are dropped in any order."""


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
    spec: Spec, before: Table, after: Table, error: ErrorSink, original: str, renamed_columns: set[str]
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


def _diff_columns(
    spec: Spec, before: Table, after: Table, error: ErrorSink, table_renamed: bool, renamed_columns: set[str]
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
    dropped = [column for column in before.columns if column.name not in new_columns]
    hint = whole_shape_hint(before, dropped)
    for column in dropped:
        refuse_destructive(spec, after.where, f"dropping column '{name}.{column.name}'", error, hint)
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
            refuse_destructive(
                spec,
                spec.at("tables", name, "columns", column.name, "type"),
                f"narrowing column '{name}.{column.name}' from {old.type} to {column.type}",
                error,
            )
        if old.nullable and not column.nullable and column.default is None:
            refuse_destructive(
                spec, where(column), f"making column '{name}.{column.name}' NOT NULL without a default", error
            )
        ops.append(AlterColumn(name, old, column))
    kept = [c.name for c in after.columns if c.name in old_columns]
    # An added column before the last existing one is inserted among them.
    last_kept = max((i for i, c in enumerate(after.columns) if c.name in old_columns), default=-1)
    added_kind = _added_kind(after)
    for position, column in enumerate(after.columns):
        if column.name in old_columns:
            continue
        if not column.nullable and column.default is None:
            refuse_destructive(
                spec, where(column), f"adding NOT NULL column '{name}.{column.name}' without a default", error
            )
        ops.append(AddColumn(name, column, added_kind(column, position < last_kept)))
    if kept != [c.name for c in before.columns if c.name in new_columns]:
        ops.append(ReorderColumns(name, tuple(c.name for c in after.columns)))
    return ops


_CONSTANT_DEFAULTS = frozenset({"literal", "json"})
"""Default kinds that are one value whatever the row (an expression or function may not be)."""


def _added_kind(table: Table) -> Callable[[Column, bool], str]:
    """The kind of an :class:`AddColumn` of ``table``'s column (``inserted``: it goes before existing ones).

    ``add_constrained_column``: in the primary key, under a check of its own, in a foreign key with other
    columns or with a default other than NULL, NOT NULL without a default, or with a default that is not a
    constant (an expression or a function).
    ``add_referencing_column``: otherwise in foreign keys of its own alone. Then ``insert_column`` or
    ``add_column`` by position. The keys and checks of ``table`` are indexed once.
    """
    constrained = _constrained(table)
    alone = {fk.columns[0] for fk in table.foreign_keys if len(fk.columns) == 1}
    alone -= {name for fk in table.foreign_keys if len(fk.columns) > 1 for name in fk.columns}
    checks = {check.name for check in table.checks}
    alone -= {*table.primary_key, *(c.name for c in table.columns if check_name(table.name, c.name) in checks)}

    def kind(column: Column, inserted: bool) -> str:
        null_default = column.default is None or (column.default.kind == "literal" and column.default.value is None)
        if column.name in alone and column.nullable and null_default:
            return "add_referencing_column"
        if (
            constrained(column)
            or (not column.nullable and column.default is None)
            or (column.default is not None and column.default.kind not in _CONSTANT_DEFAULTS)
        ):
            return "add_constrained_column"
        return "insert_column" if inserted else "add_column"

    return kind


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
