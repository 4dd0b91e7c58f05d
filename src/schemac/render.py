"""Render stage: turn each version's operations into SQL text through per-dialect Jinja templates.

Python decides everything (names, types, literals, order); templates only lay the text out.
A project's ``templates/<dialect>/`` overrides packaged templates by file name, and every template
runs in the narrowed Jinja sandbox of :mod:`schemac.sandbox`, with a budget per migration file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import jinja2

from .dialects import Dialect
from .errors import SchemacError, fail
from .model import Column, ForeignKey, Table
from .plan import (
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
    for_dialect,
)
from .sandbox import TEMPLATE_HINT, TemplateRefused, allow_for, budgeted, environment, template_error

__all__ = ["environment", "render_operation", "render_version"]

Context = dict[str, Any]


@dataclass(frozen=True)
class RenderedStatement:
    """One SQL statement and whether re-running it is harmless."""

    sql: str
    idempotent: bool = True


def indexed_columns(table: Table) -> frozenset[str]:
    """Columns in the table's primary key, an index or a foreign key."""
    names = set(table.primary_key)
    for index in table.indexes:
        names.update(c.name for c in index.columns)
    for fk in table.foreign_keys:
        names.update(fk.columns)
    return frozenset(names)


def column_context(column: Column, dialect: Dialect, indexed: bool = False) -> Context:
    return {
        "name": dialect.ident(column.name),
        "type": dialect.sql_type(column.type, indexed),
        "nullable": column.nullable,
        "default": dialect.default(column.default) if column.default is not None else None,
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
            {"kind": "primary_key", "name": q(f"pk_{table.name}"), "columns": [q(c) for c in table.primary_key]}
        )
    found.extend(foreign_key_context(fk, dialect) for fk in table.foreign_keys)
    for column in table.columns:
        found.extend(
            {"kind": "check", "name": q(name), "expression": expression}
            for name, expression in dialect.column_checks(table.name, column)
        )
    found.extend({"kind": "check", "name": q(check.name), "expression": check.expression} for check in table.checks)
    return found


def _create_table(op: CreateTable, dialect: Dialect) -> Context:
    keyed = indexed_columns(op.table)
    return {
        "table": dialect.ident(op.table.name),
        "columns": [column_context(c, dialect, c.name in keyed) for c in op.table.columns],
        "constraints": constraint_contexts(op.table, dialect),
    }


def _create_index(op: CreateIndex, dialect: Dialect) -> Context:
    index = op.index
    return {
        "name": dialect.ident(index.name),
        "table": dialect.ident(op.table),
        "unique": index.unique,
        "columns": [dialect.ident(c.name) + (" DESC" if c.descending else "") for c in index.columns],
        "predicate": index.predicate if dialect.partial_indexes else None,
    }


def _drop_index(op: DropIndex, dialect: Dialect) -> Context:
    return {"name": dialect.ident(op.index.name), "table": dialect.ident(op.table)}


def _drop_table(op: DropTable, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table.name)}


def _rename_table(op: RenameTable, dialect: Dialect) -> Context:
    return {"old": dialect.ident(op.old), "new": dialect.ident(op.new)}


def _rename_column(op: RenameColumn, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "old": dialect.ident(op.old), "new": dialect.ident(op.new)}


def _derived_checks(table: str, column: Column, dialect: Dialect) -> list[Context]:
    return [{"name": dialect.ident(n), "expression": e} for n, e in dialect.column_checks(table, column)]


def _keyed_column(table: str, column: Column, dialect: Dialect) -> Context:
    return column_context(column, dialect, (table, column.name) in dialect.keyed)


def _add_column(op: AddColumn, dialect: Dialect) -> Context:
    return {
        "table": dialect.ident(op.table),
        "column": _keyed_column(op.table, op.column, dialect),
        "add_checks": _derived_checks(op.table, op.column, dialect),
    }


def _drop_column(op: DropColumn, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "column": dialect.ident(op.column.name)}


def _alter_column(op: AlterColumn, dialect: Dialect) -> Context:
    before = column_context(op.before, dialect, (op.table, op.before.name) in dialect.was_keyed)
    after = _keyed_column(op.table, op.after, dialect)
    previous = replace(op.before, name=dialect.renamed_columns.get((op.table, op.before.name), op.before.name))
    old_checks = _derived_checks(dialect.renamed_tables.get(op.table, op.table), previous, dialect)
    new_checks = _derived_checks(op.table, op.after, dialect)
    return {
        "drop_checks": [c["name"] for c in old_checks if c not in new_checks],
        "add_checks": [c for c in new_checks if c not in old_checks],
        "table": dialect.ident(op.table),
        "column": after,
        "before": before,
        "type_changed": before["type"] != after["type"],
        "nullable_changed": before["nullable"] != after["nullable"],
        "default_changed": before["default"] != after["default"],
    }


def _reorder_columns(op: ReorderColumns, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "columns": [dialect.ident(c) for c in op.columns]}


def _alter_primary_key(op: AlterPrimaryKey, dialect: Dialect) -> Context:
    return {
        "table": dialect.ident(op.table),
        "old_name": dialect.ident(op.old_constraint),
        "name": dialect.ident(f"pk_{op.table}"),
        "before": [dialect.ident(c) for c in op.before],
        "columns": [dialect.ident(c) for c in op.after],
    }


def _add_check(op: AddCheck, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "name": dialect.ident(op.check.name), "expression": op.check.expression}


def _drop_check(op: DropCheck, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "name": dialect.ident(op.check.name)}


def _add_foreign_key(op: AddForeignKey, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "constraint": foreign_key_context(op.foreign_key, dialect)}


def _drop_foreign_key(op: DropForeignKey, dialect: Dialect) -> Context:
    return {"table": dialect.ident(op.table), "name": dialect.ident(op.foreign_key.name)}


def _rebuild_table(op: RebuildTable, dialect: Dialect) -> Context:
    q = dialect.ident
    defaults = {c.name: c.default for c in op.after.columns}
    values = []
    for name, fill in op.copies:
        default = defaults[name]
        values.append(f"COALESCE({q(name)}, {dialect.default(default)})" if fill and default else q(name))
    return {
        **_create_table(CreateTable(op.after), dialect),  # the new shape: table, columns, constraints
        "temporary": q(f"_schemac_new_{op.after.name}"),
        "guard_tables": [q(name) for name in op.referenced_by],
        "guard_name": q(f"rebuild_of_{op.after.name}_needs_foreign_keys_off"),
        "copy_columns": [q(name) for name, _ in op.copies],
        "copy_values": values,
    }


# Operation type → (template file, context builder, whether re-running it is harmless).
# A dialect renders only the kinds its plan holds: SQLite never sees AlterColumn, AddCheck, … (they are
# folded into RebuildTable by plan.for_dialect), so it ships no template for them.
RENDERERS: dict[type, tuple[str, Callable[[Any, Dialect], Context], bool]] = {
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


def render_operation(op: Operation, dialect: Dialect, env: jinja2.Environment) -> RenderedStatement:
    template, build_context, idempotent = RENDERERS[type(op)]
    try:
        loaded = env.get_template(template)
    except jinja2.TemplateNotFound as missing:
        if missing.name != template:
            raise
        raise _NoTemplate(template) from None
    context = build_context(op, dialect)
    with budgeted():
        allow_for(context)
        return RenderedStatement(loaded.render(context).strip(), idempotent)


def dialect_operations(version: VersionPlan, dialect: Dialect) -> tuple[Operation, ...]:
    """``version``'s operations as ``dialect`` runs them: column changes that render to the same
    definition here (``bigint`` → ``integer`` on SQLite) are dropped, then what the dialect cannot
    ALTER is folded into table rebuilds."""
    visible = tuple(op for op in version.operations if not _same_here(op, dialect))
    return for_dialect(visible, version, dialect.in_place)


def _same_here(op: Operation, dialect: Dialect) -> bool:
    if not isinstance(op, AlterColumn) or op.renames_checks:
        return False
    before, after = op.before, op.after
    return column_context(before, dialect) == column_context(after, dialect) and dialect.column_checks(
        op.table, before
    ) == dialect.column_checks(op.table, after)


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


def _keyed(tables: Iterable[Table]) -> frozenset[tuple[str, str]]:
    return frozenset((table.name, name) for table in tables for name in indexed_columns(table))


def _retyped(plan: VersionPlan, dialect: Dialect, operations: tuple[Operation, ...]) -> tuple[Operation, ...]:
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
            change = AlterColumn(name, old, column)
            if (name, column.name) in dialect.keyed and (name, column.name) not in dialect.was_keyed:
                keying.setdefault(name, []).append(change)
            elif (name, column.name) in dialect.was_keyed and (name, column.name) not in dialect.keyed:
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
    statements = []
    operations = dialect_operations(plan, dialect)
    # Only the tables this version touches are rendered, so only theirs are looked up: walking the
    # whole schema here would make a build O(versions x tables).
    touched = {*plan.changed, *(_table_name(op) for op in operations)}
    keyed = _keyed(plan.schema[name] for name in touched if name in plan.schema)
    unchanged = [plan.schema[name] for name in touched - plan.changed.keys() if name in plan.schema]
    was_keyed = _keyed([*unchanged, *(before for before, _ in plan.changed.values())])
    renamed = {op.new: op.old for op in plan.operations if isinstance(op, RenameTable)}
    columns = {(op.table, op.new): op.old for op in plan.operations if isinstance(op, RenameColumn)}
    dialect = replace(
        dialect,
        keyed=keyed,
        was_keyed=was_keyed,
        renamed_tables=MappingProxyType(renamed),
        renamed_columns=MappingProxyType(columns),
    )
    for op in _retyped(plan, dialect, operations):
        try:
            statements.append(render_operation(op, dialect, env))
        except _NoTemplate as missing:
            raise _inexpressible(plan, op, dialect, str(missing)) from None
    description = [" ".join(line.split()) for line in plan.spec.description.splitlines()]
    header = {
        "spec_file": _comment_text(plan, plan.spec.file, "spec file path", ()),
        "spec_sha256": plan.spec.sha256,
        "description": [_comment_text(plan, line, "description", ("description",)) for line in description if line],
    }
    sql = [s.sql for s in statements]
    allow_for(header, sql)
    text = env.get_template("migration.sql.j2").render(header, statements=sql)
    non_idempotent = [s.sql.splitlines()[0] for s in statements if not s.idempotent]
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
