"""The imported tables as spec text: YAML written by hand, in a fixed key order, so the same tables give
the same bytes every run.

Columns are one flow mapping per line, in table order; a one-column key, unique index, foreign key or
check that the column's own keys (``primary_key``, ``unique``, ``references``, ``check``) give exactly
is written there, everything else at table level. Every string is written plain only where YAML reads
it back as that same string, and double-quoted otherwise.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from schemac.model import Check, Column, ForeignKey, Index, Table
from schemac.spec.audit import AUDIT_GROUPS
from schemac.spec.names import check_name, foreign_key_name, identifier_problem, index_name

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.()/-]*(?: [A-Za-z0-9_.()/-]+)*")
"""Strings written without quotes: no character YAML gives a meaning to, in block or flow context."""
_NOT_PLAIN = re.compile(r"(?i:true|false|null|yes|no|on|off|y|n)|[-+]?[0-9.][0-9._:eE+-]*|\.(?i:inf|nan)")
"""Plain scalars some YAML reader takes for something other than a string (YAML 1.1 booleans included,
for other tools that read the file)."""


Data = dict[str, Any]
"""A mapping of the spec as YAML reads it."""


def scalar(value: object) -> str:
    """A YAML scalar (or, for JSON defaults, a flow collection) that reads back as ``value``."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    return _string(str(value))


@functools.lru_cache(maxsize=4096)
def _string(text: str) -> str:
    """``text`` plain where YAML reads it back as that string, else double-quoted (names, types and
    words repeat across a schema's tables, so each is worked out once)."""
    if _PLAIN.fullmatch(text) and not _NOT_PLAIN.fullmatch(text):
        return text
    return quoted(text)


def quoted(text: str) -> str:
    """``text`` double-quoted: ``"`` and ``\\`` escaped, and every character not printed as itself too."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def audit_policy(groups: tuple[str, ...]) -> str | list[str]:
    """The ``audit:`` value for ``groups``."""
    if groups == AUDIT_GROUPS:
        return "full"
    if not groups:
        return "none"
    return list(groups)


class _Shorthands:
    """Which key, unique index, foreign key and check of a table its columns' own keys write."""

    def __init__(self, table: Table) -> None:
        key = table.primary_key
        self.primary_key = key[0] if len(key) == 1 else None
        names = set(table.column_names)
        self.unique: dict[str, Index] = {}
        for index in table.indexes:
            if (
                index.unique
                and len(index.columns) == 1
                and not index.columns[0].descending
                and index.predicate is None
                and index.columns[0].name not in key
                and index.name == index_name(table.name, [index.columns[0].name], unique=True)
                and not index.description
            ):
                self.unique.setdefault(index.columns[0].name, index)
        self.references: dict[str, ForeignKey] = {}
        for fk in table.foreign_keys:
            if len(fk.columns) == 1 and fk.name == foreign_key_name(table.name, fk.columns):
                self.references.setdefault(fk.columns[0], fk)
        self.check = {
            short: c
            for c in table.checks
            if (short := _generated_check(table.name, c.name)) in names and not c.description
        }

    def written(self) -> tuple[set[int], set[int], set[int]]:
        """The ids of the indexes, keys and checks the columns write."""
        return (
            {id(i) for i in self.unique.values()},
            {id(f) for f in self.references.values()},
            {id(c) for c in self.check.values()},
        )


def _column(column: Column, short: _Shorthands) -> Data:
    spec: Data = {"type": str(column.type)}
    if column.nullable:
        spec["nullable"] = True
    if short.primary_key == column.name:
        spec["primary_key"] = True
    if column.identity:
        spec["identity"] = True
    if column.name in short.unique:
        spec["unique"] = True
    default = column.default
    if default is not None:
        if default.kind in ("sql", "fn"):
            spec["default"] = {default.kind: default.value}
        elif default.kind == "json":
            spec["default"] = json.loads(str(default.value))
        else:
            spec["default"] = default.value
    if column.enum:
        spec["enum"] = list(column.enum)
    fk = short.references.get(column.name)
    if fk is not None:
        spec["references"] = f"{fk.ref_table}.{fk.ref_columns[0]}"
        if fk.on_delete:
            spec["on_delete"] = fk.on_delete
        if fk.on_update:
            spec["on_update"] = fk.on_update
    check = short.check.get(column.name)
    if check is not None:
        spec["check"] = check.expression
    if column.description:
        spec["description"] = column.description
    return spec


def _index(table: Table, index: Index) -> Data:
    spec: Data = {"columns": [c.name if not c.descending else {"name": c.name, "order": "desc"} for c in index.columns]}
    generated = index_name(
        table.name, (c.name + ("_desc" if c.descending else "") for c in index.columns), index.unique
    )
    if index.name != generated:
        spec["name"] = index.name
    if index.unique:
        spec["unique"] = True
    if index.predicate is not None:
        spec["where"] = index.predicate
    if index.description:
        spec["description"] = index.description
    return spec


def _foreign_key(table: Table, fk: ForeignKey) -> Data:
    spec: Data = {"columns": list(fk.columns), "references": {"table": fk.ref_table, "columns": list(fk.ref_columns)}}
    if fk.name != foreign_key_name(table.name, fk.columns):
        spec["name"] = fk.name
    if fk.on_delete:
        spec["on_delete"] = fk.on_delete
    if fk.on_update:
        spec["on_update"] = fk.on_update
    return spec


def _check_label(table: str, constraint: str) -> str:
    """The spec's name for a check whose constraint is not named ``ck_<table>_<name>``: PostgreSQL's
    ``<table>_<column>_check`` says ``<column>``; another name says itself."""
    short = constraint.removeprefix(f"{table}_").removesuffix("_check")
    return short if short and identifier_problem(short) is None else constraint


def _generated_check(table: str, constraint: str) -> str | None:
    """The ``<name>`` of a check named ``ck_<table>_<name>`` as a spec names one, else None."""
    short = constraint.removeprefix(check_name(table, ""))
    return short if short != constraint and identifier_problem(short) is None else None


def _check(table: str, check: Check) -> Data:
    """A check as the spec lists it: named ``ck_<table>_<name>``, or by its constraint's own name."""
    short = _generated_check(table, check.name)
    if short is not None:
        spec: Data = {"name": short, "expression": check.expression}
    else:
        spec = {"name": _check_label(table, check.name), "constraint": check.name, "expression": check.expression}
    if check.description:
        spec["description"] = check.description
    return spec


def _table(table: Table, baseline: bool, audit_default: tuple[str, ...]) -> Data:
    spec: Data = {"description": table.description}
    if not baseline and table.audit != audit_default:
        spec["audit"] = audit_policy(table.audit)
    short = _Shorthands(table)
    indexes, keys, checks = short.written()
    spec["columns"] = {c.name: _column(c, short) for c in table.columns if not c.audit} or None
    if len(table.primary_key) > 1:
        spec["primary_key"] = list(table.primary_key)
    listed = [_index(table, i) for i in table.indexes if id(i) not in indexes]
    if listed:
        spec["indexes"] = listed
    listed = [_foreign_key(table, f) for f in table.foreign_keys if id(f) not in keys]
    if listed:
        spec["foreign_keys"] = listed
    listed = [_check(table.name, c) for c in table.checks if id(c) not in checks]
    if listed:
        spec["checks"] = listed
    return spec


def spec_document(tables: Sequence[Table], description: str, *, baseline: bool, audit_default: tuple[str, ...]) -> Data:
    """The spec declaring ``tables`` (in order; audit columns of a folded policy left out), as the data
    its YAML reads as."""
    document: Data = {"description": description}
    if baseline:
        document["baseline"] = True
    document["tables"] = {t.name: _table(t, baseline, audit_default) for t in tables}
    return document


def spec_text(document: Data, header: str = "") -> str:
    """``document`` (as :func:`spec_document` makes it) as YAML after ``header`` (the editor hint line):
    the file and each table a block mapping, each column a flow mapping on its own line, each index,
    foreign key and check a block mapping in a list, every other value in flow style."""
    lines = []
    for key, value in document.items():
        if key != "tables":
            lines.append(f"{key}: {scalar(value)}")
            continue
        lines.append("tables:")
        for name, table in value.items():
            lines.append(f"  {scalar(name)}:")
            for part, spec in table.items():
                if part == "columns":
                    lines.append("    columns:")
                    lines += [f"      {scalar(column)}: {scalar(flow)}" for column, flow in (spec or {}).items()]
                elif part in _LISTS:
                    lines.append(f"    {part}:")
                    lines += [line for item in spec for line in _list_item(item)]
                else:
                    lines.append(f"    {part}: {scalar(spec)}")
    return header + "\n".join(lines) + "\n"


def _list_item(item: Data) -> list[str]:
    marks = ["- ", *["  "] * (len(item) - 1)]
    return [f"      {mark}{key}: {scalar(value)}" for mark, (key, value) in zip(marks, item.items(), strict=True)]


_LISTS = ("indexes", "foreign_keys", "checks")
"""A table's parts written as a block list of block mappings."""
