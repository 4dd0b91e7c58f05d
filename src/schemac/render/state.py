"""What rendering one version knows besides its dialect's facts: the columns in keys before and after
it, and its renames. The renderer makes one :class:`VersionState` per version and passes it along with
the (never replaced) :class:`~schemac.dialects.Dialect`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from schemac.model import Table
from schemac.planner import RenameColumn, RenameTable, VersionPlan

Pairs = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class VersionState:
    keyed: Pairs = frozenset()
    """(table, column) pairs in a key or index of the schema being rendered."""
    was_keyed: Pairs = frozenset()
    """The same pairs for the schema before the version being rendered."""
    renamed_tables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """New table name → previous name, for the version being rendered."""
    renamed_columns: Mapping[tuple[str, str], str] = field(default_factory=lambda: MappingProxyType({}))
    """(table, new column name) → previous name, likewise."""
    created: frozenset[str] = frozenset()
    """The tables the version creates: empty, so a lock-safe dialect makes their indexes and keys plainly."""
    referenced: frozenset[tuple[str, frozenset[str]]] = frozenset()
    """(table, columns) a foreign key the version adds references: a unique index there must exist when the
    key is added, so a lock-safe dialect builds it plainly, with the changes."""


def renames(version: VersionPlan) -> VersionState:
    """The table and column renames of ``version`` (derived checks are named after them)."""
    tables = {op.new: op.old for op in version.operations if isinstance(op, RenameTable)}
    columns = {(op.table, op.new): op.old for op in version.operations if isinstance(op, RenameColumn)}
    return VersionState(renamed_tables=MappingProxyType(tables), renamed_columns=MappingProxyType(columns))


def indexed_columns(table: Table) -> frozenset[str]:
    """Columns in the table's primary key, an index or a foreign key."""
    names = set(table.primary_key)
    for index in table.indexes:
        names.update(c.name for c in index.columns)
    for fk in table.foreign_keys:
        names.update(fk.columns)
    return frozenset(names)


def keyed(tables: Iterable[Table]) -> Pairs:
    return frozenset((table.name, name) for table in tables for name in indexed_columns(table))
