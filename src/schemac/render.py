"""Render stage: turn each version's operations into SQL text through per-dialect Jinja templates.

Python decides everything (names, types, literals, order); templates only lay the text out.
A project's ``templates/<dialect>/`` overrides packaged templates by file name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from .dialects import Dialect
from .model import Column, Table
from .plan import CreateIndex, CreateTable, Operation, VersionPlan

Context = dict[str, Any]


@dataclass(frozen=True)
class RenderedStatement:
    """One SQL statement and whether re-running it is harmless."""

    sql: str
    idempotent: bool = True


def _package_templates(dialect: str) -> str:
    return str(resources.files("schemac").joinpath("templates", dialect))


@cache
def environment(dialect: str, project_templates: Path | None) -> jinja2.Environment:
    """A Jinja environment for one dialect, with the project's overrides first."""
    search = [str(project_templates / dialect)] if project_templates and (project_templates / dialect).is_dir() else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*search, _package_templates(dialect)]),
        autoescape=False,  # SQL, not HTML: every literal is escaped by the dialect instead
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


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


def constraint_contexts(table: Table, dialect: Dialect) -> list[Context]:
    """Primary key, foreign keys, then checks (column-derived first), each with its name."""
    q = dialect.ident
    found: list[Context] = []
    if table.primary_key:
        found.append(
            {"kind": "primary_key", "name": q(f"pk_{table.name}"), "columns": [q(c) for c in table.primary_key]}
        )
    for fk in table.foreign_keys:
        found.append(
            {
                "kind": "foreign_key",
                "name": q(fk.name),
                "columns": [q(c) for c in fk.columns],
                "ref_table": q(fk.ref_table),
                "ref_columns": [q(c) for c in fk.ref_columns],
                "on_delete": (fk.on_delete or "").upper(),
                "on_update": (fk.on_update or "").upper(),
            }
        )
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


# Operation type → (template file, context builder, whether re-running it is harmless).
RENDERERS: dict[type, tuple[str, Callable[[Any, Dialect], Context], bool]] = {
    CreateTable: ("create_table.sql.j2", _create_table, True),
    CreateIndex: ("create_index.sql.j2", _create_index, True),
}


def render_operation(op: Operation, dialect: Dialect, env: jinja2.Environment) -> RenderedStatement:
    template, build_context, idempotent = RENDERERS[type(op)]
    return RenderedStatement(env.get_template(template).render(build_context(op, dialect)).strip(), idempotent)


def render_version(plan: VersionPlan, dialect: Dialect, env: jinja2.Environment) -> tuple[str, list[str]]:
    """The SQL text of one migration file, and the first line of each statement that is not re-runnable."""
    statements = [render_operation(op, dialect, env) for op in plan.operations]
    description = [" ".join(line.split()) for line in plan.spec.description.splitlines()]
    text = env.get_template("migration.sql.j2").render(
        spec_file=plan.spec.file,
        spec_sha256=plan.spec.sha256,
        description=[line for line in description if line],
        statements=[s.sql for s in statements],
    )
    non_idempotent = [s.sql.splitlines()[0] for s in statements if not s.idempotent]
    return text.rstrip("\n") + "\n", non_idempotent
