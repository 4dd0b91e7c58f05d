"""Render stage: turn each version's operations into SQL text through per-dialect Jinja templates.

Python decides everything (names, types, literals, order); templates only lay the text out.
A project's ``templates/<dialect>/`` overrides packaged templates by file name, and every template
runs in the narrowed Jinja sandbox of :mod:`schemac.render.sandbox`, with a budget per migration file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jinja2

from schemac.dialects import Dialect
from schemac.dialects.base import STEP_NO_TRANSACTION, STEP_TRANSACTION
from schemac.errors import SchemacError, fail
from schemac.model import Column, DerivedCheck, ForeignKey, Table
from schemac.planner import (
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
    RebuildTable,
    RenameColumn,
    RenameTable,
    ReorderColumns,
    VersionPlan,
    backs_a_key,
    for_dialect,
    referenced_columns,
)
from schemac.render.sandbox import TEMPLATE_HINT, TemplateRefused, allow_for, budgeted, environment, template_error
from schemac.render.state import VersionState, indexed_columns, keyed, renames
from schemac.spec.checks import derived_checks
from schemac.spec.names import not_null_check_name, primary_key_name

__all__ = ["VersionState", "environment", "indexed_columns", "render_operation", "render_version"]

Context = dict[str, Any]


CHANGE, VALIDATE, CONCURRENT = "change", "validate", "concurrent"
"""The steps of a lock-safe migration file (:class:`~schemac.dialects.base.LockSafe`), in the order they run."""


@dataclass(frozen=True)
class RenderedStatement:
    """One SQL statement, whether re-running it is harmless, and the step of a lock-safe file that runs it."""

    sql: str
    idempotent: bool = True
    step: str = CHANGE


def _lock_safe(table: str, dialect: Dialect, state: VersionState) -> bool:
    """Whether a change to ``table`` is written lock-safe: the dialect has that form and the table is not
    one the version creates (empty, it takes no writes to block)."""
    return dialect.lock_safe is not None and table not in state.created


def column_context(column: Column, dialect: Dialect, indexed: bool = False, table: Table | None = None) -> Context:
    """``identity``: what follows the type of an identity column (``Dialect.identity_sql``), else None.
    With ``table``, the column's type there (:meth:`~schemac.dialects.base.Dialect.column_type`)."""
    return {
        "name": dialect.ident(column.name),
        "type": dialect.sql_type(column.type, indexed)
        if table is None
        else dialect.column_type(table, column, indexed),
        "nullable": column.nullable,
        "default": dialect.default(column.default, column.type) if column.default is not None else None,
        "identity": (dialect.identity_sql or None) if column.identity else None,
    }


def foreign_key_context(fk: ForeignKey, dialect: Dialect) -> Context:
    q = dialect.ident
    return {
        "kind": "foreign_key",
        "name": q(fk.name),
        "columns": [q(c) for c in fk.columns],
        "ref_table": q(fk.ref_table),
        "ref_columns": [q(c) for c in fk.ref_columns],
        "on_delete": (fk.on_delete or "").upper(),
        "on_update": (fk.on_update or "").upper(),
    }


def constraint_contexts(table: Table, dialect: Dialect) -> list[Context]:
    """Primary key, foreign keys, then checks (column-derived first), each with its name."""
    q = dialect.ident
    found: list[Context] = []
    if table.primary_key:
        found.append(
            {
                "kind": "primary_key",
                "name": q(primary_key_name(table.name)),
                "columns": [q(c) for c in table.primary_key],
            }
        )
    found.extend(foreign_key_context(fk, dialect) for fk in table.foreign_keys)
    for column in table.columns:
        found.extend({"kind": "check", **check} for check in _derived_checks(table.name, column, dialect))
    found.extend({"kind": "check", "name": q(check.name), "expression": check.expression} for check in table.checks)
    return found


def _create_table(op: CreateTable, dialect: Dialect, state: VersionState) -> Context:
    """``table_options``, only where the dialect has any: what it writes after the parentheses
    (``Dialect.table_options``)."""
    indexed = indexed_columns(op.table)
    context: Context = {
        "table": dialect.ident(op.table.name),
        "columns": [column_context(c, dialect, c.name in indexed, op.table) for c in op.table.columns],
        "constraints": constraint_contexts(op.table, dialect),
    }
    if dialect.table_options:
        context["table_options"] = dialect.table_options
    return context


def _create_index(op: CreateIndex, dialect: Dialect, state: VersionState) -> Context:
    index = op.index
    return {
        "name": dialect.ident(index.name),
        "table": dialect.ident(op.table),
        "unique": index.unique,
        "columns": [dialect.ident(c.name) + (" DESC" if c.descending else "") for c in index.columns],
        "predicate": index.predicate if dialect.partial_indexes else None,
        "lock_safe": _lock_safe(op.table, dialect, state) and not backs_a_key(op, state.referenced),
    }


def _drop_index(op: DropIndex, dialect: Dialect, state: VersionState) -> Context:
    """``key_indexes``: where each foreign key needs an index (``Dialect.keys_need_index``), the one to add
    for each key this index is the last to lead, named after the key."""
    q = dialect.ident
    serves = op.serves if dialect.keys_need_index else ()
    return {
        "name": q(op.index.name),
        "table": q(op.table),
        "key_indexes": [{"name": q(fk.name), "columns": [q(c) for c in fk.columns]} for fk in serves],
        "lock_safe": _lock_safe(op.table, dialect, state),
    }


def _drop_table(op: DropTable, dialect: Dialect, state: VersionState) -> Context:
    pairs = _restricting_self_references(op.table, dialect) if dialect.drop_deletes_rows else []
    return {
        "table": dialect.ident(op.table.name),
        "self_references": pairs,
        "stand_in_columns": list(dict.fromkeys(name for pair in pairs for name in pair)),
    }


def _rename_table(op: RenameTable, dialect: Dialect, state: VersionState) -> Context:
    return {"old": dialect.ident(op.old), "new": dialect.ident(op.new)}


def _rename_column(op: RenameColumn, dialect: Dialect, state: VersionState) -> Context:
    return {"table": dialect.ident(op.table), "old": dialect.ident(op.old), "new": dialect.ident(op.new)}


def _derived_checks(table: str, column: Column, dialect: Dialect) -> list[Context]:
    return [{"name": dialect.ident(c.name), "expression": c.expression} for c in derived_checks(table, column, dialect)]


def _keyed_column(table: str, column: Column, dialect: Dialect, state: VersionState) -> Context:
    return column_context(column, dialect, (table, column.name) in state.keyed)


def _add_column(op: AddColumn, dialect: Dialect, state: VersionState) -> Context:
    """``references``: the column's own foreign keys, where the dialect writes them in its definition."""
    return {
        "table": dialect.ident(op.table),
        "column": _keyed_column(op.table, op.column, dialect, state),
        "add_checks": _derived_checks(op.table, op.column, dialect),
        "references": [foreign_key_context(fk, dialect) for fk in op.foreign_keys],
        "lock_safe": _lock_safe(op.table, dialect, state),
    }


def _drop_column(op: DropColumn, dialect: Dialect, state: VersionState) -> Context:
    return {"table": dialect.ident(op.table), "column": dialect.ident(op.column.name)}


def _alter_column(op: AlterColumn, dialect: Dialect, state: VersionState) -> Context:
    """``default_reset``: the default is dropped before the type change (``Dialect.retype_casts_default``), so
    ``default_changed`` then says whether the new one is set after it. ``fill``: the default written into
    the rows holding NULL before the column becomes NOT NULL (after the statements of ``fill_before``: the
    dialect's online clause ``fill_nulls``), with ``column_with_nulls`` the new definition
    still NULL (for an engine that changes type and nullability in one statement). ``sequence_of``: the
    table and column as string literals, the arguments of PostgreSQL's ``pg_get_serial_sequence``.
    ``not_null_check``: lock-safe, the check ``column IS NOT NULL`` added ``NOT VALID`` here, which the
    validate step validates before ``SET NOT NULL`` (then a catalog lookup, not a scan under the lock); none
    when the column gets an identity in the same change, which needs it NOT NULL at once."""
    before = column_context(op.before, dialect, (op.table, op.before.name) in state.was_keyed)
    after = _keyed_column(op.table, op.after, dialect, state)
    type_changed = before["type"] != after["type"]
    moves = _check_moves(op, dialect, state, type_changed)
    reset = type_changed and before["default"] is not None and dialect.retype_casts_default
    q = dialect.ident
    lock_safe = _lock_safe(op.table, dialect, state)
    gets_identity = before["identity"] != after["identity"] and after["identity"] is not None
    later = lock_safe and before["nullable"] and not after["nullable"] and not gets_identity
    return {
        "drop_checks": [q(c.name) for c in moves.drops],
        "rename_checks": [{"old": q(old.name), "new": q(new.name)} for old, new in moves.renames],
        "add_checks": [{"name": q(c.name), "expression": c.expression} for c in moves.adds],
        "table": dialect.ident(op.table),
        "column": after,
        "before": before,
        "type_changed": type_changed,
        "nullable_changed": before["nullable"] != after["nullable"],
        "default_reset": reset,
        "default_changed": (None if reset else before["default"]) != after["default"],
        "identity_changed": before["identity"] != after["identity"],
        "sequence_of": [dialect.string(dialect.ident(op.table)), dialect.string(op.after.name)],
        "fill": after["default"] if op.fills_nulls else None,
        "fill_before": list(dialect.online_clause("fill_nulls")),
        "column_with_nulls": {**after, "nullable": True},
        "lock_safe": lock_safe,
        "not_null_check": q(not_null_check_name(op.table, op.after.name)) if later else None,
    }


def _reorder_columns(op: ReorderColumns, dialect: Dialect, state: VersionState) -> Context:
    return {"table": dialect.ident(op.table), "columns": [dialect.ident(c) for c in op.columns]}


def _alter_primary_key(op: AlterPrimaryKey, dialect: Dialect, state: VersionState) -> Context:
    return {
        "table": dialect.ident(op.table),
        "old_name": dialect.ident(op.old_constraint),
        "name": dialect.ident(primary_key_name(op.table)),
        "before": [dialect.ident(c) for c in op.before],
        "columns": [dialect.ident(c) for c in op.after],
    }


def _add_check(op: AddCheck, dialect: Dialect, state: VersionState) -> Context:
    return {
        "table": dialect.ident(op.table),
        "name": dialect.ident(op.check.name),
        "expression": op.check.expression,
        "lock_safe": _lock_safe(op.table, dialect, state),
    }


def _drop_check(op: DropCheck, dialect: Dialect, state: VersionState) -> Context:
    return {"table": dialect.ident(op.table), "name": dialect.ident(op.check.name)}


def _add_foreign_key(op: AddForeignKey, dialect: Dialect, state: VersionState) -> Context:
    return {
        "table": dialect.ident(op.table),
        "constraint": foreign_key_context(op.foreign_key, dialect),
        "lock_safe": _lock_safe(op.table, dialect, state),
    }


def _drop_foreign_key(op: DropForeignKey, dialect: Dialect, state: VersionState) -> Context:
    return {"table": dialect.ident(op.table), "name": dialect.ident(op.foreign_key.name)}


def _rebuild_table(op: RebuildTable, dialect: Dialect, state: VersionState) -> Context:
    """Each new table filled in turn (its old table's self-references settled, then its indexes made),
    then the drops and renames. A new table's keys name the other new tables by their temporary names;
    with foreign keys on, SQLite wants a key's table to exist when rows are written, so a table is
    made before the first one whose rows reference it (before its own turn in a reference cycle)."""
    q = dialect.ident
    temporary = {t.after.name: f"_schemac_new_{t.after.name}" for t in op.tables}
    shapes = {t.after.name: t.after for t in op.tables}
    made: set[str] = set()
    tables = []
    for copied in op.tables:
        after = copied.after
        columns = {c.name: c for c in after.columns}
        values = []
        for name, fill in copied.copies:
            default = columns[name].default
            if fill and default is not None:
                values.append(f"COALESCE({q(name)}, {dialect.default(default, columns[name].type)})")
            else:
                values.append(q(name))
        needed = [after.name, *(fk.ref_table for fk in after.foreign_keys if fk.ref_table in temporary)]
        creates = [name for name in dict.fromkeys(needed) if name not in made]
        made.update(creates)
        tables.append(
            {
                "table": q(after.name),
                "temporary": q(temporary[after.name]),
                "creates": [_new_table(shapes[name], temporary, dialect, state) for name in creates],
                "copy_columns": [q(name) for name, _ in copied.copies],
                "copy_values": values,
                "self_references": _restricting_self_references(copied.before, dialect),
                "old_indexes": [q(name) for name in copied.old_indexes],
                "indexes": [
                    _create_index(CreateIndex(temporary[after.name], index), dialect, state) for index in after.indexes
                ],
            }
        )
    return {
        "rebuilt": [q(name) for name in op.rebuilt],
        "reasons": list(op.reasons),
        "copied": [q(name) for name in op.copied],
        "dropped": [q(name) for name in op.dropped],
        "tables": tables,
        "drops": [{"table": q(name), "if_exists": name in op.dropped} for name in op.drop_order],
    }


def _new_table(after: Table, temporary: dict[str, str], dialect: Dialect, state: VersionState) -> Context:
    """The ``create_table`` context of new shape ``after`` under its temporary name, its keys naming the
    other new tables by theirs."""
    keys = tuple(replace(fk, ref_table=temporary.get(fk.ref_table, fk.ref_table)) for fk in after.foreign_keys)
    return {
        **_create_table(CreateTable(replace(after, foreign_keys=keys)), dialect, state),
        "table": dialect.ident(temporary[after.name]),
    }


def _restricting_self_references(table: Table, dialect: Dialect) -> list[list[str]]:
    """(column, referenced column) pairs of the ``ON DELETE RESTRICT`` keys by which rows of ``table``
    reference other rows of it: dropping the table would stop at the first row another references,
    unless each row first references itself."""
    q = dialect.ident
    return [
        [q(column), q(referenced)]
        for fk in table.foreign_keys
        if fk.ref_table == table.name and fk.on_delete == "restrict"
        for column, referenced in zip(fk.columns, fk.ref_columns, strict=True)
    ]


# Operation type → (template file, context builder, whether re-running it is harmless).
# A dialect renders only the kinds its plan holds: SQLite never sees AlterColumn, AddCheck, … (they are
# folded into RebuildTable by plan.for_dialect), so it ships no template for them, nor takes the shared one.
RENDERERS: dict[type, tuple[str, Callable[[Any, Dialect, VersionState], Context], bool]] = {
    CreateTable: ("create_table.sql.j2", _create_table, True),
    CreateIndex: ("create_index.sql.j2", _create_index, True),
    DropIndex: ("drop_index.sql.j2", _drop_index, True),
    DropTable: ("drop_table.sql.j2", _drop_table, True),
    RenameTable: ("rename_table.sql.j2", _rename_table, False),
    RenameColumn: ("rename_column.sql.j2", _rename_column, False),
    AddColumn: ("add_column.sql.j2", _add_column, False),
    DropColumn: ("drop_column.sql.j2", _drop_column, False),
    AlterColumn: ("alter_column.sql.j2", _alter_column, False),
    ReorderColumns: ("reorder_columns.sql.j2", _reorder_columns, False),
    AlterPrimaryKey: ("alter_primary_key.sql.j2", _alter_primary_key, False),
    AddCheck: ("add_check.sql.j2", _add_check, False),
    DropCheck: ("drop_check.sql.j2", _drop_check, False),
    AddForeignKey: ("add_foreign_key.sql.j2", _add_foreign_key, False),
    DropForeignKey: ("drop_foreign_key.sql.j2", _drop_foreign_key, False),
    RebuildTable: ("rebuild_table.sql.j2", _rebuild_table, False),
}


class _NoTemplate(Exception):
    """The dialect has no template for an operation (not: a template includes one that is missing)."""


def render_operation(
    op: Operation, dialect: Dialect, env: jinja2.Environment, state: VersionState | None = None
) -> RenderedStatement:
    """``op`` as ``dialect`` writes it; ``state``: what the version being rendered knows (by default nothing).

    Every template gets ``algorithm``: the options that make the change online (``Dialect.online_clauses``)."""
    return render_statements(op, dialect, env, state or VersionState())[0]


def render_statements(
    op: Operation, dialect: Dialect, env: jinja2.Environment, state: VersionState
) -> list[RenderedStatement]:
    """``op``'s statement (see :func:`render_operation`), then, written lock-safe, what the validate step does
    after it (:func:`_validations`). A lock-safe index build or drop runs in the concurrent step."""
    template, build_context, idempotent = RENDERERS[type(op)]
    loaded = _template(env, template)
    context = build_context(op, dialect, state)
    context["algorithm"] = list(dialect.online_clause(online_kind(op, context)))
    with budgeted():
        allow_for(context)
        sql = loaded.render(context).strip()
    step = CONCURRENT if isinstance(op, CreateIndex | DropIndex) and context["lock_safe"] else CHANGE
    found = [RenderedStatement(sql, idempotent, step)]
    for follow_up, follow_context, rerunnable in _validations(op, context):
        with budgeted():
            allow_for(follow_context)
            sql = _template(env, follow_up).render(follow_context).strip()
        found.append(RenderedStatement(sql, rerunnable, VALIDATE))
    return found


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as missing:
        if missing.name != name:
            raise
        raise _NoTemplate(name) from None


def _validations(op: Operation, context: Context) -> list[tuple[str, Context, bool]]:
    """(template, context, whether re-running it is harmless) of each statement the validate step runs after
    ``op``, written lock-safe: every constraint it added ``NOT VALID`` validated, and a column made NOT NULL
    through its validated check (which is then dropped: validating it again fails)."""
    if not context.get("lock_safe"):
        return []
    if isinstance(op, AddCheck):
        names = [context["name"]]
    elif isinstance(op, AddForeignKey):
        names = [context["constraint"]["name"]]
    elif isinstance(op, AddColumn | AlterColumn):
        names = [check["name"] for check in context["add_checks"]]
    else:
        names = []
    table = context["table"]
    found = [("validate_constraint.sql.j2", {"table": table, "name": name}, True) for name in names]
    if isinstance(op, AlterColumn) and context["not_null_check"]:
        column, check = context["column"]["name"], context["not_null_check"]
        found.append(("set_not_null.sql.j2", {"table": table, "column": column, "check": check}, False))
    return found


_STEP_MARKERS = {CHANGE: "", VALIDATE: STEP_TRANSACTION, CONCURRENT: STEP_NO_TRANSACTION}


def _in_steps(
    statements: list[RenderedStatement], dialect: Dialect, env: jinja2.Environment
) -> list[RenderedStatement]:
    """A lock-safe file's statements step by step, each step opened by its marker (the first has none) and its
    settings (:class:`~schemac.dialects.base.LockSafe`); a step with nothing to do is left out."""
    lock_safe = dialect.lock_safe
    if lock_safe is None:
        return statements
    found = []
    for step, marker in _STEP_MARKERS.items():
        members = [statement for statement in statements if statement.step == step]
        if not members and step != CHANGE:
            continue
        settings = lock_safe.change_settings if step == CHANGE else lock_safe.scan_settings
        context = {"marker": marker, "step": step, "settings": list(settings)}
        with budgeted():
            allow_for(context)
            opener = _template(env, "step.sql.j2").render(context).strip()
        found += [RenderedStatement(opener, True, step), *members]
    return found


def online_kind(op: Operation, context: Context) -> str:
    """The kind :attr:`Dialect.online_clauses` knows ``op`` by: a column change's is named after the most it
    changes (its type or identity, whether it holds NULL, its default); a foreign key's that names a
    ``RESTRICT`` action is ``add_restricting_foreign_key``."""
    if isinstance(op, AddForeignKey) and "restrict" in (op.foreign_key.on_delete, op.foreign_key.on_update):
        return "add_restricting_foreign_key"
    if not isinstance(op, AlterColumn):
        return op.kind
    if context["type_changed"] or context["identity_changed"]:
        return "alter_column_type"
    return "alter_column_null" if context["nullable_changed"] else "alter_column_default"


def dialect_operations(version: VersionPlan, dialect: Dialect) -> tuple[Operation, ...]:
    """``version``'s operations as ``dialect`` runs them: column changes that render to the same
    definition here (``bigint`` → ``integer`` on SQLite) are dropped, then what the dialect cannot
    ALTER is folded into table rebuilds."""
    state = renames(version)
    visible = tuple(_as_here(op, dialect) for op in version.operations if not _same_here(op, dialect, state, version))
    operations = _with_column_keys(_rechecked(version, dialect, visible), dialect)
    return for_dialect(operations, version, dialect.in_place, dialect.rebuild_reason)


def _with_column_keys(operations: tuple[Operation, ...], dialect: Dialect) -> tuple[Operation, ...]:
    """Where the dialect writes an added column's own foreign keys in its ``ADD COLUMN``
    (``Dialect.inline_column_keys``), each :class:`AddForeignKey` on an ``add_referencing_column`` it makes
    in place goes into that :class:`AddColumn`."""
    if not dialect.inline_column_keys:
        return operations
    added = {
        (op.table, op.column.name)
        for op in operations
        if isinstance(op, AddColumn) and op.kind == "add_referencing_column" and op.kind in dialect.in_place
    }
    keys: dict[tuple[str, str], list[ForeignKey]] = {}
    for op in operations:
        if isinstance(op, AddForeignKey) and (op.table, op.foreign_key.columns[0]) in added:
            keys.setdefault((op.table, op.foreign_key.columns[0]), []).append(op.foreign_key)
    if not keys:
        return operations
    found: list[Operation] = []
    for op in operations:
        if isinstance(op, AddColumn) and (op.table, op.column.name) in keys:
            found.append(replace(op, foreign_keys=tuple(keys[op.table, op.column.name])))
        elif not (isinstance(op, AddForeignKey) and (op.table, op.foreign_key.columns[0]) in keys):
            found.append(op)
    return tuple(found)


def _rechecked(version: VersionPlan, dialect: Dialect, operations: tuple[Operation, ...]) -> tuple[Operation, ...]:
    """Where a type change rewrites the checks on the column (``Dialect.retype_rewrites_checks``), the table's
    own checks that name a retyped column are dropped before its first type change and added after its
    last, so that they read as a fresh build's (its derived checks: see :func:`_check_moves`)."""
    if not dialect.retype_rewrites_checks:
        return operations
    planned = {(op.table, op.check.name) for op in operations if isinstance(op, DropCheck | AddCheck)}
    retyped: dict[str, list[tuple[int, str]]] = {}
    for i, op in enumerate(operations):
        if isinstance(op, AlterColumn) and dialect.sql_type(op.before.type) != dialect.sql_type(op.after.type):
            retyped.setdefault(op.table, []).append((i, op.after.name))
    before: dict[int, list[Operation]] = {}
    after: dict[int, list[Operation]] = {}
    for table, changes in retyped.items():
        names = {name for _, name in changes}
        checks = [
            check
            for check in version.changed[table][1].checks
            if (table, check.name) not in planned and names & set(_WORD.findall(check.expression.lower()))
        ]
        before.setdefault(changes[0][0], []).extend(DropCheck(table, check) for check in checks)
        after.setdefault(changes[-1][0], []).extend(AddCheck(table, check) for check in checks)
    return tuple(made for i, op in enumerate(operations) for made in (*before.get(i, ()), op, *after.get(i, ())))


_WORD = re.compile(r"[a-z0-9_]+")
"""A word of an expression: a superset of the columns it names (words in its strings are counted too)."""


def _same_here(op: Operation, dialect: Dialect, state: VersionState, version: VersionPlan) -> bool:
    """Whether ``op`` changes nothing on ``dialect``: a column change that renders to the same definition
    here and leaves its derived checks as they are (a renamed boolean on PostgreSQL has none to rename).
    A key's type is its type in its table (``identity`` makes a plain SQLite key ``INTEGER``)."""
    if not isinstance(op, AlterColumn):
        return False
    tables = version.changed.get(op.table)
    before = column_context(op.before, dialect, table=tables[0] if tables else None)
    after = column_context(op.after, dialect, table=tables[1] if tables else None)
    return before == after and not _check_moves(op, dialect, state, before["type"] != after["type"])


def _as_here(op: Operation, dialect: Dialect) -> Operation:
    """``op`` with the kind it has on ``dialect``: a plain column this dialect derives a check from is
    added with its checks, and dropped with its constraints (SQLite cannot drop it with ALTER)."""
    if not isinstance(op, AddColumn | DropColumn) or op.kind not in _CHECKED_KIND:
        return op
    if not derived_checks(op.table, op.column, dialect):
        return op
    return replace(op, kind=_CHECKED_KIND[op.kind])


_CHECKED_KIND = {
    "add_column": "add_checked_column",
    "insert_column": "add_checked_column",
    "drop_column": "drop_constrained_column",
}


@dataclass(frozen=True)
class CheckMoves:
    """What takes a column's derived checks, as the database holds them, to those the version gives."""

    drops: tuple[DerivedCheck, ...] = ()
    renames: tuple[tuple[DerivedCheck, DerivedCheck], ...] = ()
    adds: tuple[DerivedCheck, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.drops or self.renames or self.adds)


def _check_moves(op: AlterColumn, dialect: Dialect, state: VersionState, type_changed: bool) -> CheckMoves:
    """The derived checks ``op`` drops, renames and adds on ``dialect``.

    The database holds the checks of ``op.before`` under the names the table and column had before this
    version's renames, with bodies the engine rewrote to the new names: a check whose body stays is
    renamed where the engine can (``RENAME CONSTRAINT``), else dropped and added again. A type change
    makes them all again where the engine rewrites checks with the old type's casts. An AlterColumn
    between identical columns only gives the column the type a key needs (see :func:`_retyped`): its
    checks are in place.
    """
    wanted = derived_checks(op.table, op.after, dialect)
    if op.before == op.after and not op.renames_checks:
        return CheckMoves()
    old_table = state.renamed_tables.get(op.table, op.table)
    old_column = replace(op.before, name=state.renamed_columns.get((op.table, op.before.name), op.before.name))
    named = {c.kind: c.name for c in derived_checks(old_table, old_column, dialect)}
    held = [replace(c, name=named[c.kind]) for c in derived_checks(op.table, op.before, dialect)]
    if type_changed and dialect.retype_rewrites_checks:
        return CheckMoves(tuple(held), (), wanted)
    wanted_by_kind = {c.kind: c for c in wanted}
    drops, renames = [], []
    for check in held:
        new = wanted_by_kind.get(check.kind)
        if new == check:
            continue
        if new is not None and new.expression == check.expression and dialect.renames_constraints:
            renames.append((check, new))
        else:
            drops.append(check)
    moved = set(held) | {new for _, new in renames}
    return CheckMoves(tuple(drops), tuple(renames), tuple(c for c in wanted if c not in moved))


def _inexpressible(plan: VersionPlan, op: Operation, dialect: Dialect, template: str) -> SchemacError:
    """A change this dialect has no template for: refused at the table's line, before anything is written."""
    line, column = plan.spec.at("tables", _table_name(op))
    return fail(
        plan.spec.file,
        line,
        column,
        "SC409",
        f"{dialect.name} cannot express this change: {op.describe()}",
        f"there is no {dialect.name} template {template}; change the table in two specs, or add the template",
    )


def _table_name(op: Operation) -> str:
    """The table an operation works on (its new name, for a rename)."""
    table = op.new if isinstance(op, RenameTable) else op.after if isinstance(op, RebuildTable) else op.table
    return table if isinstance(table, str) else table.name


def _retyped(
    plan: VersionPlan, dialect: Dialect, state: VersionState, operations: tuple[Operation, ...]
) -> tuple[Operation, ...]:
    """``operations`` plus a type change for each column whose type depends on being in a key or index
    (MariaDB's TEXT is VARCHAR there) and that this version keys (before the first key or index of
    its table) or no longer keys (at the end)."""
    keying: dict[str, list[Operation]] = {}
    unkeying: list[Operation] = []
    for name, (before, after) in plan.changed.items():
        for column in after.columns:
            old = before.column(column.name)
            if old is None or old.type != column.type or not _type_depends_on_key(column, dialect):
                continue
            # By then the column has its new shape (its other changes come first, or it is the last
            # change of the version): only its type changes, to the one the key needs or no longer needs.
            change = AlterColumn(name, column, column)
            if (name, column.name) in state.keyed and (name, column.name) not in state.was_keyed:
                keying.setdefault(name, []).append(change)
            elif (name, column.name) in state.was_keyed and (name, column.name) not in state.keyed:
                unkeying.append(change)
    result: list[Operation] = []
    for op in operations:
        if isinstance(op, CreateIndex | AddForeignKey | AlterPrimaryKey):
            result.extend(keying.pop(op.table, []))
        result.append(op)
    return (*result, *(op for ops in keying.values() for op in ops), *unkeying)


def _type_depends_on_key(column: Column, dialect: Dialect) -> bool:
    return dialect.sql_type(column.type) != dialect.sql_type(column.type, indexed=True)


def render_version(plan: VersionPlan, dialect: Dialect, env: jinja2.Environment) -> tuple[str, list[str]]:
    """The SQL text of one migration file, and the first line of each statement that is not re-runnable.

    All its templates share one budget. A problem in a project's template is SC410 at its line.
    """
    with budgeted():
        try:
            return _render_version(plan, dialect, env)
        except SchemacError:
            raise
        except Exception as error:
            located = template_error(error, env)
            if located is None and isinstance(error, TemplateRefused):  # a limit, with packaged templates only
                located = fail(plan.spec.file, 1, 1, "SC410", str(error), TEMPLATE_HINT)
            if located is None:
                raise
            raise located from None


def _render_version(plan: VersionPlan, dialect: Dialect, env: jinja2.Environment) -> tuple[str, list[str]]:
    statements: list[RenderedStatement] = []
    operations = dialect_operations(plan, dialect)
    # Only the tables this version touches are rendered, so only theirs are looked up: walking the
    # whole schema here would make a build O(versions x tables).
    touched = {*plan.changed, *(_table_name(op) for op in operations)}
    unchanged = [plan.schema[name] for name in touched - plan.changed.keys() if name in plan.schema]
    state = replace(
        renames(plan),
        keyed=keyed(plan.schema[name] for name in touched if name in plan.schema),
        was_keyed=keyed([*unchanged, *(before for before, _ in plan.changed.values())]),
        created=frozenset(op.table.name for op in operations if isinstance(op, CreateTable)),
        referenced=referenced_columns(operations, plan.schema),
    )
    for op in _retyped(plan, dialect, state, operations):
        try:
            statements += render_statements(op, dialect, env, state)
        except _NoTemplate as missing:
            raise _inexpressible(plan, op, dialect, str(missing)) from None
    if operations:
        try:
            statements = _in_steps(statements, dialect, env)
        except _NoTemplate as missing:
            raise _inexpressible(plan, operations[0], dialect, str(missing)) from None
    description = [" ".join(line.split()) for line in plan.spec.description.splitlines()]
    header = {
        "spec_file": _comment_text(plan, plan.spec.file, "spec file path", ()),
        "spec_sha256": plan.spec.sha256,
        "description": [_comment_text(plan, line, "description", ("description",)) for line in description if line],
    }
    sql = [s.sql for s in statements]
    allow_for(header, sql)
    text = env.get_template("migration.sql.j2").render(header, statements=sql)
    # A template may render nothing for an operation (an override), which leaves no statement to list.
    non_idempotent = [s.sql.splitlines()[0] for s in statements if not s.idempotent and s.sql]
    return text.rstrip("\n") + "\n", non_idempotent


_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
"""Character categories that must not reach an SQL ``--`` comment: controls (among them NUL, CR and
LF, where engines end a comment) and the Unicode line and paragraph separators."""


def _comment_text(plan: VersionPlan, text: str, what: str, path: tuple[str, ...]) -> str:
    """``text``, to be written inside an SQL comment, or SC314 when a character in it could end the
    comment (and make the rest of it SQL). Reading the specs refuses such text first; this is the
    renderer's own guarantee, whatever reaches it."""
    bad = next((char for char in text if unicodedata.category(char) in _LINE_BREAKING), None)
    if bad is None:
        return text
    line, column = plan.spec.at(*path) if path else (1, 1)
    raise fail(
        plan.spec.file,
        line,
        column,
        "SC314",
        f"{what} contains the control character U+{ord(bad):04X}, which would end the SQL comment it is written in",
        "rename the file or remove the character",
    )
