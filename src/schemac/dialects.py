"""Dialects as data: type maps, quoting and literal rules per database engine.

Rendering asks a :class:`Dialect` for facts; there are no ``if dialect == ...`` chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .model import Column, ColumnType, Default

IN_PLACE_DEFAULT = frozenset(
    {
        "create_table",
        "create_index",
        "drop_index",
        "drop_table",
        "rename_table",
        "rename_column",
        "add_column",
        "insert_column",  # an engine without column positions appends it: column order then differs
        "add_constrained_column",
        "drop_column",
        "drop_constrained_column",
        "alter_column",
        "alter_primary_key",
        "add_check",
        "drop_check",
        "add_foreign_key",
        "drop_foreign_key",
    }
)


@dataclass(frozen=True)
class Dialect:
    name: str
    types: MappingProxyType[str, str]
    """Logical type name → SQL type; ``{length}`` and ``{scale}`` are filled from the column type."""
    quote: str = '"'
    true: str = "TRUE"
    false: str = "FALSE"
    boolean_check: bool = False
    """Whether booleans need ``CHECK (col IN (0, 1))`` because the engine has no boolean type."""
    json_check: str | None = None
    """A CHECK template for json columns, ``{column}`` filled with the quoted name."""
    length_check: str | None = None
    """A CHECK template for ``string(n)`` where the type does not enforce n: ``{column}``, ``{length}``."""
    escape_backslash: bool = False
    """Whether string literals treat ``\\`` as an escape character."""
    extra: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    in_place: frozenset[str] = IN_PLACE_DEFAULT
    """Operation kinds (see :mod:`schemac.plan`) made with ALTER; a table needing any other is rebuilt."""

    def ident(self, name: str) -> str:
        """A quoted identifier; names are already validated, so quoting is defence in depth."""
        return f"{self.quote}{name.replace(self.quote, self.quote * 2)}{self.quote}"

    def sql_type(self, ctype: ColumnType) -> str:
        return self.types[ctype.name].format(length=ctype.length, scale=ctype.scale)

    def string(self, value: str) -> str:
        if self.escape_backslash:
            value = value.replace("\\", "\\\\")
        return "'" + value.replace("'", "''") + "'"

    def literal(self, value: str | int | float | bool | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.true if value else self.false
        if isinstance(value, int | float):
            return repr(value)
        return self.string(value)

    def default(self, default: Default) -> str:
        if default.kind == "sql":
            return f"({default.value})"
        if default.kind == "json":
            return self.string(str(default.value))
        return self.literal(default.value)

    def column_checks(self, table: str, column: Column) -> list[tuple[str, str]]:
        """Checks the dialect derives from a column's type and enum, as (name, expression)."""
        col = self.ident(column.name)
        found = []
        if column.enum:
            values = ", ".join(self.literal(v) for v in column.enum)
            found.append((f"ck_{table}_{column.name}_enum", f"{col} IN ({values})"))
        if column.type.name == "boolean" and self.boolean_check:
            found.append((f"ck_{table}_{column.name}_bool", f"{col} IN (0, 1)"))
        if column.type.name == "json" and self.json_check:
            found.append((f"ck_{table}_{column.name}_json", self.json_check.format(column=col)))
        if column.type.name == "string" and self.length_check:
            check = self.length_check.format(column=col, length=column.type.length)
            found.append((f"ck_{table}_{column.name}_length", check))
        return found


SQLITE = Dialect(
    name="sqlite",
    types=MappingProxyType(
        {
            "text": "TEXT",
            "string": "TEXT",
            "integer": "INTEGER",
            "bigint": "INTEGER",
            "smallint": "INTEGER",
            "boolean": "INTEGER",
            "real": "REAL",
            "double": "REAL",
            "decimal": "NUMERIC",
            "timestamp": "TEXT",
            "date": "TEXT",
            "json": "TEXT",
            "uuid": "TEXT",
            "bytes": "BLOB",
        }
    ),
    true="1",
    false="0",
    boolean_check=True,
    length_check="length({column}) <= {length}",
    # SQLite's ALTER TABLE can rename, append a plain column and drop an unconstrained one; every
    # other change to a table is its documented rebuild (new table, copy rows, drop, rename).
    in_place=frozenset(
        {
            "create_table",
            "create_index",
            "drop_index",
            "drop_table",
            "rename_table",
            "rename_column",
            "add_column",
            "drop_column",
        }
    ),
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLITE,)}


def get(name: str) -> Dialect:
    return DIALECTS[name]
