"""The imported tables as spec text: YAML written by hand, in a fixed key order, so the same tables give
the same bytes every run.

Columns are one flow mapping per line, in table order; a one-column key, unique index, foreign key or
check that the column's own keys (``primary_key``, ``unique``, ``references``, ``check``) give exactly
is written there, everything else at table level. Every string is written plain only where YAML reads
it back as that same string, and double-quoted otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from schemac.model import Column, ForeignKey, Index, Table
from schemac.spec.audit import AUDIT_GROUPS
from schemac.spec.names import check_name, foreign_key_name, index_name

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.()/-]*(?: [A-Za-z0-9_.()/-]+)*")
"""Strings written without quotes: no character YAML gives a meaning to, in block or flow context."""
_NOT_PLAIN = re.compile(r"(?i:true|false|null|yes|no|on|off|y|n)|[-+]?[0-9.][0-9._:eE+-]*|\.(?i:inf|nan)")
"""Plain scalars some YAML reader takes for something other than a string (YAML 1.1 booleans included,
for other tools that read the file)."""


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
    text = str(value)
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


def _flow(items: Sequence[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in items) + "}"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(values) + "]"


def audit_policy(groups: tuple[str, ...]) -> str:
    """The ``audit:`` value for ``groups``."""
    if groups == AUDIT_GROUPS:
        return "full"
    if not groups:
        return "none"
    return _list(list(groups))


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
            c.name[len(check_name(table.name, "")) :]: c
            for c in table.checks
            if c.name[len(check_name(table.name, "")) :] in names and not c.description
        }

    def written(self) -> tuple[set[int], set[int], set[int]]:
        """The ids of the indexes, keys and checks the columns write."""
        return (
            {id(i) for i in self.unique.values()},
            {id(f) for f in self.references.values()},
            {id(c) for c in self.check.values()},
        )


def _column(table: Table, column: Column, short: _Shorthands) -> str:
    items = [("type", scalar(str(column.type)))]
    if column.nullable:
        items.append(("nullable", "true"))
    if short.primary_key == column.name:
        items.append(("primary_key", "true"))
    if column.identity:
        items.append(("identity", "true"))
    if column.name in short.unique:
        items.append(("unique", "true"))
    if column.default is not None:
        default = column.default
        if default.kind in ("sql", "fn"):
            items.append(("default", _flow([(default.kind, scalar(default.value))])))
        elif default.kind == "json":
            items.append(("default", scalar(json.loads(str(default.value)))))
        else:
            items.append(("default", scalar(default.value)))
    if column.enum:
        items.append(("enum", _list([scalar(v) for v in column.enum])))
    fk = short.references.get(column.name)
    if fk is not None:
        items.append(("references", scalar(f"{fk.ref_table}.{fk.ref_columns[0]}")))
        if fk.on_delete:
            items.append(("on_delete", scalar(fk.on_delete)))
        if fk.on_update:
            items.append(("on_update", scalar(fk.on_update)))
    check = short.check.get(column.name)
    if check is not None:
        items.append(("check", scalar(check.expression)))
    if column.description:
        items.append(("description", scalar(column.description)))
    return _flow(items)


def _index(table: Table, index: Index) -> list[str]:
    parts = [
        scalar(c.name) if not c.descending else _flow([("name", scalar(c.name)), ("order", "desc")])
        for c in index.columns
    ]
    lines = [f"      - columns: {_list(parts)}"]
    generated = index_name(
        table.name, (c.name + ("_desc" if c.descending else "") for c in index.columns), index.unique
    )
    if index.name != generated:
        lines.append(f"        name: {scalar(index.name)}")
    if index.unique:
        lines.append("        unique: true")
    if index.predicate is not None:
        lines.append(f"        where: {scalar(index.predicate)}")
    if index.description:
        lines.append(f"        description: {scalar(index.description)}")
    return lines


def _foreign_key(table: Table, fk: ForeignKey) -> list[str]:
    lines = [f"      - columns: {_list([scalar(c) for c in fk.columns])}"]
    target = _flow([("table", scalar(fk.ref_table)), ("columns", _list([scalar(c) for c in fk.ref_columns]))])
    lines.append(f"        references: {target}")
    if fk.name != foreign_key_name(table.name, fk.columns):
        lines.append(f"        name: {scalar(fk.name)}")
    if fk.on_delete:
        lines.append(f"        on_delete: {scalar(fk.on_delete)}")
    if fk.on_update:
        lines.append(f"        on_update: {scalar(fk.on_update)}")
    return lines


def _table(table: Table, baseline: bool, audit_default: tuple[str, ...]) -> list[str]:
    lines = [f"  {scalar(table.name)}:", f"    description: {scalar(table.description)}"]
    if not baseline and table.audit != audit_default:
        lines.append(f"    audit: {audit_policy(table.audit)}")
    short = _Shorthands(table)
    indexes, keys, checks = short.written()
    lines.append("    columns:")
    lines += [f"      {scalar(c.name)}: {_column(table, c, short)}" for c in table.columns if not c.audit]
    if len(table.primary_key) > 1:
        lines.append(f"    primary_key: {_list([scalar(c) for c in table.primary_key])}")
    listed = [i for i in table.indexes if id(i) not in indexes]
    if listed:
        lines.append("    indexes:")
        for index in listed:
            lines += _index(table, index)
    listed_keys = [f for f in table.foreign_keys if id(f) not in keys]
    if listed_keys:
        lines.append("    foreign_keys:")
        for fk in listed_keys:
            lines += _foreign_key(table, fk)
    listed_checks = [c for c in table.checks if id(c) not in checks]
    if listed_checks:
        prefix = len(check_name(table.name, ""))
        lines.append("    checks:")
        for check in listed_checks:
            lines.append(f"      - name: {scalar(check.name[prefix:])}")
            lines.append(f"        expression: {scalar(check.expression)}")
            if check.description:
                lines.append(f"        description: {scalar(check.description)}")
    return lines


def spec_text(
    tables: Sequence[Table], description: str, *, baseline: bool, audit_default: tuple[str, ...], header: str = ""
) -> str:
    """The spec declaring ``tables`` (in order; audit columns of a folded policy left out), after
    ``header`` (the editor hint line)."""
    lines = [f"description: {scalar(description)}"]
    if baseline:
        lines.append("baseline: true")
    lines.append("tables:")
    for table in tables:
        lines += _table(table, baseline, audit_default)
    return header + "\n".join(lines) + "\n"
