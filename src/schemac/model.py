"""Model: the frozen, dialect-neutral dataclasses a spec is read into (:mod:`schemac.spec.reader`).

A :class:`Spec` holds :class:`Table` objects as declared; the audit stage adds their audit columns.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Literal

from schemac.spec.source import Path_

Where = tuple[int, int]
"""Line and column in a spec file."""
NO_WHERE: Where = (1, 1)
INTEGER_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
"""Integer type → ``bound``: it holds ``-bound <= value < bound``."""
_TYPE = re.compile(r"(?P<name>[a-z]+)(?:\((?P<a>[0-9]+)(?:, ?(?P<b>[0-9]+))?\))?")

Action = Literal["cascade", "restrict", "set null", "set default", "no action"]


@dataclass(frozen=True)
class ColumnType:
    """A logical type: ``name`` plus ``string(n)`` length or ``decimal(p,s)`` precision and scale."""

    name: str
    length: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.name == "decimal":
            return f"decimal({self.length},{self.scale})"
        return f"{self.name}({self.length})" if self.length is not None else self.name

    @classmethod
    @lru_cache(maxsize=1024)  # the same few type texts are written on column after column
    def parse(cls, text: str) -> ColumnType:
        match = _TYPE.fullmatch(text.replace(" ", ""))
        if match is None:
            raise ValueError(text)
        a, b = match.group("a"), match.group("b")
        return cls(match.group("name"), int(a) if a else None, int(b) if b else None)

    @property
    def is_text(self) -> bool:
        return self.name in ("text", "string")

    @property
    def is_integer(self) -> bool:
        return self.name in INTEGER_RANGES


@dataclass(frozen=True)
class Default:
    """A column default: a literal value, a canonical JSON text, or a raw SQL expression."""

    kind: Literal["literal", "json", "sql", "fn"]
    value: str | int | float | bool | None


PORTABLE_DEFAULTS = {"now": ("timestamp", "date"), "uuid": ("uuid", "text", "string")}
"""The functions of ``default: {fn: NAME}``, each with the column types it fits; every dialect says how it
writes each (:attr:`schemac.dialects.base.Dialect.functions`)."""
UUID_TEXT_LENGTH = 36


def portable_default_fits(name: str, ctype: ColumnType) -> bool:
    """Whether ``{fn: name}`` may be the default of a column of ``ctype`` (a string long enough for a UUID)."""
    short = ctype.name == "string" and (ctype.length or 0) < UUID_TEXT_LENGTH
    return ctype.name in PORTABLE_DEFAULTS.get(name, ()) and not short


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False
    default: Default | None = None
    enum: tuple[str | int, ...] = ()
    description: str = ""
    renamed_from: str | None = None
    audit: bool = False
    where: Where = field(default=NO_WHERE, compare=False, repr=False)
    identity: bool = False
    """The engine numbers the column when an insert leaves it out (``identity: true``: the single integer
    or bigint primary key only)."""


IDENTITY_TYPES = ("integer", "bigint")
"""The logical types an ``identity`` key may have."""


@dataclass(frozen=True)
class IndexColumn:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    predicate: str | None = None
    description: str = ""
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    description: str = ""
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: Action | None = None
    on_update: Action | None = None
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Table:
    """A table as a spec declares it; ``audit`` names the audit groups whose columns :mod:`schemac.spec.audit`
    adds (the reader fills it from the spec or the project's default)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    description: str = ""
    audit: tuple[str, ...] = ()
    renamed_from: str | None = None
    where: Where = field(default=NO_WHERE, compare=False, repr=False)
    legacy: bool = field(default=False, compare=False)
    """Described by the baseline spec (or by a later spec since): it keeps the audit columns it has."""
    audit_by_default: bool = field(default=False, compare=False, repr=False)
    """Its spec writes no ``audit:``, so ``audit`` is the project's default."""
    created_in: int = field(default=0, compare=False, repr=False)
    """The version whose spec created the table (the planner sets it; renames and rebuilds keep it): on
    SQLite a table created before plain keys took effect keeps its rowid key
    (:meth:`schemac.dialects.base.Dialect.column_type`). Not part of the schema's shape."""

    @cached_property
    def digest(self) -> int:
        """SHA-256, as an integer, of what a live database can show of the table (:func:`table_shape`).

        Kept with the table once computed, so that it is worked out in the worker that read the spec
        and travels with the pickled table.
        """
        text = json.dumps(table_shape(self), sort_keys=True, separators=(",", ":"), default=str)
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")

    def __hash__(self) -> int:
        """The name's hash: consistent with equality, and cheap where a table keys a cache (the
        generated hash went through every column, index and check each time)."""
        return hash(self.name)

    def __getstate__(self) -> dict[str, Any]:
        """Fields and digest: the lookup tables below are rebuilt where needed, not pickled."""
        state = dict(self.__dict__)
        for lookup in _TABLE_LOOKUPS:
            state.pop(lookup, None)
        return state

    @cached_property
    def columns_by_name(self) -> Mapping[str, Column]:
        """Each column by name (the first, should two share one), so that lookups in loops stay constant-time."""
        found: dict[str, Column] = {}
        for column in self.columns:
            found.setdefault(column.name, column)
        return found

    @cached_property
    def foreign_keys_by_target(self) -> Mapping[str, Sequence[int]]:
        """The positions in ``foreign_keys`` of the keys that reference each table."""
        found: dict[str, list[int]] = {}
        for position, fk in enumerate(self.foreign_keys):
            found.setdefault(fk.ref_table, []).append(position)
        return found

    @cached_property
    def index_names(self) -> frozenset[str]:
        """The names of the table's indexes, for constant-time membership tests."""
        return frozenset(index.name for index in self.indexes)

    def column(self, name: str) -> Column | None:
        return self.columns_by_name.get(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_TABLE_LOOKUPS = ("columns_by_name", "foreign_keys_by_target", "index_names")
"""Cached properties of :class:`Table` that pickles leave out."""


def with_created_in(table: Table, version: int) -> Table:
    """``table`` with :attr:`Table.created_in` set, keeping the digest already worked out (it does not
    depend on it)."""
    if table.created_in == version:
        return table
    marked = replace(table, created_in=version)
    if "digest" in table.__dict__:
        marked.__dict__["digest"] = table.__dict__["digest"]
    return marked


def table_shape(table: Table) -> dict[str, object]:
    """What a live database can show of a table: no descriptions, renames or source positions."""
    return {
        "name": table.name,
        "columns": [column_shape(c) for c in table.columns],
        "primary_key": list(table.primary_key),
        "indexes": sorted(index_shape(i) for i in table.indexes),
        "checks": sorted([c.name, c.expression] for c in table.checks),
        "foreign_keys": sorted(foreign_key_shape(f) for f in table.foreign_keys),
    }


def column_shape(c: Column) -> list[object]:
    """``identity`` is there only when set, so that a schema without identity keys keeps its fingerprint."""
    shape = [c.name, str(c.type), c.nullable, c.default and [c.default.kind, c.default.value], list(c.enum)]
    return [*shape, "identity"] if c.identity else shape


def index_shape(i: Index) -> list[object]:
    return [i.name, i.unique, [[c.name, c.descending] for c in i.columns], i.predicate]


def foreign_key_shape(f: ForeignKey) -> list[object]:
    return [f.name, list(f.columns), f.ref_table, list(f.ref_columns), f.on_delete, f.on_update]


@dataclass(frozen=True)
class Spec:
    """One spec file: its version, and the tables it declares as of that version."""

    version: int
    prefix: str
    slug: str
    file: str
    sha256: str
    description: str
    tables: tuple[Table, ...] = ()
    drop_tables: tuple[str, ...] = ()
    allow_destructive: bool = False
    positions: dict[Path_, Where] = field(default_factory=dict, compare=False, repr=False)
    baseline: bool = False
    """The schema as adopted hand-written files leave it: planned as the starting state, rendered as no file."""

    @property
    def stem(self) -> str:
        return f"{self.prefix}_{self.slug}"

    def at(self, *path: str | int) -> Where:
        """Line and column of a spec path, or of its nearest parent."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return NO_WHERE


@dataclass(frozen=True)
class DerivedCheck:
    """A check the compiler adds to a column: its name, its body in one dialect's SQL, its kind and column."""

    name: str
    expression: str
    kind: str
    column: str
