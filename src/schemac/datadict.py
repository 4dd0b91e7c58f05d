"""Docs stage: a Markdown data dictionary and a Mermaid ``erDiagram``, from the compiled plans.

One section per table of the newest schema (sorted by name): description, columns, keys, indexes,
checks, and the versions that created and last changed it. The text is byte-deterministic.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError
from schemac.model import Column, Default, ForeignKey, Spec, Table
from schemac.planner import VersionPlan
from schemac.project.compiler import compile_project
from schemac.project.files import write_atomic
from schemac.project.inputs import MAX_DOCS_BYTES, is_within, outside_project, read_bytes
from schemac.project.settings import Settings, load_settings, path_problem, setting_diagnostic

DEFAULT_OUTPUT = "docs/schema.md"


@dataclass(frozen=True)
class History:
    """The spec that created a table (following renames) and the one that last changed it."""

    created: Spec
    changed: Spec


@dataclass(frozen=True)
class DocsResult:
    path: Path
    tables: int
    written: bool  # False when the file already held exactly this text


def histories(plans: Iterable[VersionPlan]) -> dict[str, History]:
    """For every table of the newest schema, the versions that created and last changed it.

    Each version revisits only the tables it touched: walking the whole schema for each version made
    this O(versions x tables).
    """
    found: dict[str, History] = {}
    previous: Mapping[str, Table] = {}
    for plan in plans:
        earlier = {name: found.pop(name) for name in plan.touched if name in found}

        updated: dict[str, History] = {}
        for name in plan.touched:
            table = plan.schema.get(name)
            if table is None:
                continue
            history = earlier.get(name)
            source = earlier.get(table.renamed_from or "", found.get(table.renamed_from or ""))
            if history is not None:
                unchanged = previous[name] is table or previous[name] == table
                updated[name] = history if unchanged else History(history.created, plan.spec)
            elif source is not None and table.renamed_from not in plan.schema:
                updated[name] = History(source.created, plan.spec)
            else:
                updated[name] = History(plan.spec, plan.spec)
        found.update(updated)
        previous = plan.schema
    return found


def _flat(text: str) -> str:
    """Text on one line (each run of whitespace, line breaks included, one space), ``|`` escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _cell(text: str) -> str:
    """Prose fit for one Markdown table cell: on one line, and with ``<`` written ``&lt;``, so that
    a description cannot open an HTML tag or comment that hides or changes the rest of the page."""
    return _flat(text).replace("<", "&lt;")


_BLOCK_STARTS = frozenset("#>-+*`~")
"""Characters that, first on a line, can make it a heading, quote, list, rule or code fence."""


def _paragraph(text: str) -> str:
    """Prose as one Markdown paragraph line, which cannot start another block (``\\#`` not ``#``)."""
    line = " ".join(text.split()).replace("<", "&lt;")
    return f"\\{line}" if line[:1] in _BLOCK_STARTS else line


def _code(text: str) -> str:
    """An inline code span that survives backticks (its fence is longer than any run of them) and pipes."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence, pad = "`" * (longest + 1), " " if longest else ""
    return f"{fence}{pad}{_flat(text)}{pad}{fence}"


def _names(names: Iterable[str]) -> str:
    return ", ".join(_code(n) for n in names)


def _default(default: Default | None) -> str:
    if default is None:
        return ""
    value = default.value
    if default.kind == "sql":
        return f"SQL {_code(str(value))}"
    if default.kind == "fn":
        return _code(f"{{fn: {value}}}")
    if default.kind == "json":
        return _code(str(value))
    if value is None:
        return _code("NULL")
    if isinstance(value, bool):
        return _code("true" if value else "false")
    return _code(f"'{value}'" if isinstance(value, str) else str(value))


def _type(column: Column) -> str:
    text = _code(str(column.type))
    return f"{text}, one of {_names(str(v) for v in column.enum)}" if column.enum else text


def _version(spec: Spec) -> str:
    return f"{spec.prefix} ({_code(spec.file)})"


def _table_section(table: Table, history: History) -> list[str]:
    lines = [f"## {table.name}", ""]
    if table.description:
        lines += [_paragraph(table.description), ""]
    lines += [
        f"Created in version {_version(history.created)}; last changed in version {_version(history.changed)}.",
        "",
        "| column | type | null | default | description |",
        "|---|---|---|---|---|",
    ]
    for c in table.columns:
        description = "audit column, added by schemac" if c.audit and not c.description else c.description
        null = "NULL" if c.nullable else "NOT NULL"
        lines.append(f"| {_code(c.name)} | {_type(c)} | {null} | {_default(c.default)} | {_cell(description)} |")
    lines += ["", f"Primary key: {_names(table.primary_key) if table.primary_key else 'none'}", ""]
    if table.foreign_keys:
        lines += ["| foreign key | columns | references | on delete | on update |", "|---|---|---|---|---|"]
        for fk in table.foreign_keys:
            target = f"{_code(fk.ref_table)} ({_names(fk.ref_columns)})"
            actions = " | ".join(a or "no action" for a in (fk.on_delete, fk.on_update))
            lines.append(f"| {_code(fk.name)} | {_names(fk.columns)} | {target} | {actions} |")
        lines.append("")
    if table.indexes:
        lines += ["| index | columns | unique | where | description |", "|---|---|---|---|---|"]
        for i in table.indexes:
            columns = _names(c.name + (" DESC" if c.descending else "") for c in i.columns)
            where = _code(i.predicate) if i.predicate else ""
            unique = "yes" if i.unique else "no"
            lines.append(f"| {_code(i.name)} | {columns} | {unique} | {where} | {_cell(i.description)} |")
        lines.append("")
    if table.checks:
        lines += ["| check | expression | description |", "|---|---|---|"]
        lines += [f"| {_code(c.name)} | {_code(c.expression)} | {_cell(c.description)} |" for c in table.checks]
        lines.append("")
    return lines


@dataclass(frozen=True)
class _Keys:
    """A table's nullable columns and the column sets its primary key and full unique indexes make unique,
    gathered once for all its foreign keys."""

    nullable: frozenset[str]
    unique: frozenset[frozenset[str]]

    @classmethod
    def of(cls, table: Table) -> _Keys:
        keys = [table.primary_key]
        keys += [tuple(c.name for c in i.columns) for i in table.indexes if i.unique and i.predicate is None]
        nullable = frozenset(c.name for c in table.columns if c.nullable)
        return cls(nullable, frozenset(frozenset(key) for key in keys if key))


def _is_unique(keys: _Keys, columns: tuple[str, ...]) -> bool:
    return frozenset(columns) in keys.unique


def _relationship(table: Table, fk: ForeignKey, keys: _Keys) -> str:
    """``parent ||--o{ child : "fk_name"``: a nullable key makes the parent optional, a unique key one child."""
    optional = any(name in keys.nullable for name in fk.columns)
    parent = "|o" if optional else "||"
    child = "o|" if _is_unique(keys, fk.columns) else "o{"
    return f'    {fk.ref_table} {parent}--{child} {table.name} : "{fk.name}"'


def mermaid(schema: Mapping[str, Table]) -> str:
    """An ``erDiagram`` with every table (and its columns) and every foreign key, sorted by name."""
    lines = ["erDiagram"]
    relationships = []
    for name in sorted(schema):
        table = schema[name]
        primary = set(table.primary_key)
        fk_columns = {c for fk in table.foreign_keys for c in fk.columns}
        unique = {i.columns[0].name for i in table.indexes if i.unique and len(i.columns) == 1 and not i.predicate}
        lines.append(f"    {name} {{")
        for c in table.columns:
            keys = [k for k, on in (("PK", c.name in primary), ("FK", c.name in fk_columns)) if on]
            keys += ["UK"] if c.name in unique and c.name not in primary else []
            notes = ([str(c.type)] if c.type.length is not None else []) + (["nullable"] if c.nullable else [])
            attribute = f"        {c.type.name} {c.name}"
            attribute += f" {', '.join(keys)}" if keys else ""
            attribute += f' "{", ".join(notes)}"' if notes else ""
            lines.append(attribute)
        lines.append("    }")
        table_keys = _Keys.of(table)
        relationships += [
            _relationship(table, fk, table_keys) for fk in sorted(table.foreign_keys, key=lambda f: f.name)
        ]
    return "\n".join(lines + relationships) + "\n"


def render(plans: tuple[VersionPlan, ...]) -> str:
    """The whole Markdown document for a project's compiled plans."""
    lines = ["<!-- Generated by schemac docs from the specs. Do not edit: run 'schemac docs'. -->", ""]
    lines += ["# Data dictionary", ""]
    if not plans or not plans[-1].schema:
        return "\n".join([*lines, "No tables yet.", ""])
    schema, newest = plans[-1].schema, plans[-1].spec
    found = histories(plans)
    lines += [f"{len(schema)} tables as of version {_version(newest)}.", ""]
    for name in sorted(schema):
        about = _cell(schema[name].description)
        lines.append(f"- [{name}](#{name})" + (f": {about}" if about else ""))
    lines += ["", "## Diagram", "", "```mermaid", mermaid(schema) + "```", ""]
    for name in sorted(schema):
        lines += _table_section(schema[name], found[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def output_path(settings: Settings, output: str | Path | None) -> Path:
    """``output`` as given; else the ``docs`` setting (relative to the project); else docs/schema.md."""
    if output is not None:
        return Path(output)
    value = settings.raw.get("docs", DEFAULT_OUTPUT)
    if not isinstance(value, str) or not value.endswith(".md"):
        raise SchemacError(
            [setting_diagnostic(settings, "docs", "SC704", f"docs must be the path of a .md file, not {value!r}")]
        )
    problem = path_problem(settings.root, value) if "docs" in settings.raw else None
    if problem:
        code, message, hint = problem
        raise SchemacError([setting_diagnostic(settings, "docs", code, f"docs {message}", hint)])
    return settings.root / value


def _current(settings: Settings, path: Path) -> bytes | None:
    """The data dictionary now at ``path``, read as any project file is; ``None`` when there is none.

    A path inside the project (the setting, or ``--output`` pointing there) must not lead out of it,
    neither through the file nor through its directory; a path outside it was chosen on the command line.
    """
    absolute = Path(os.path.abspath(path))
    inside = is_within(absolute, settings.root)
    shown = settings.relative(absolute)
    if inside and not is_within(Path(os.path.realpath(absolute.parent)), settings.root):
        raise outside_project(shown, absolute.parent, settings.root)
    if not path.exists() and not path.is_symlink():
        return None
    return read_bytes(path, shown, MAX_DOCS_BYTES, root=settings.root if inside else None)


def docs(project: str | Path = ".", output: str | Path | None = None, *, check: bool = False) -> DocsResult:
    """Write the data dictionary (atomically; untouched when unchanged), or with ``check`` only compare.

    With ``check``, a missing or different file raises :class:`SchemacError` (SC590, exit 1).
    """
    settings = load_settings(Path(project))
    path = output_path(settings, output)
    compiled = compile_project(settings)
    data = render(compiled.plans).encode("utf-8")
    tables = len(compiled.plans[-1].schema) if compiled.plans else 0
    current = _current(settings, path)
    if current == data:
        return DocsResult(path, tables, written=False)
    if check:
        shown = settings.relative(path.resolve())
        message = "is missing" if current is None else "is out of date: the specs give different content"
        finding = Diagnostic(shown, 1, 1, "SC590", f"data dictionary {message}", "run 'schemac docs'")
        raise SchemacError([finding], EXIT_FINDINGS)
    write_atomic(path, data)
    return DocsResult(path, tables, written=True)
