"""What an engine's catalog reader returns to :mod:`schemac.importing`: the tables of a live database
as its catalog shows them (:class:`Catalog`), before any mapping to logical types.

A reader is a function ``(database, tables) -> Catalog`` registered in :data:`READERS` under its
dialect's name; ``tables`` is ``None`` for every table, else the names to read. A reader never returns
schemac's own tables (``schemac_history``, ``schemac_progress``); the project's ``ignore_tables`` are
left out by the caller. Whatever the spec format cannot express is an :class:`Unsupported`, never
silently dropped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemac.dialects.base import LiveForeignKey

if TYPE_CHECKING:
    from schemac.dialects.base import Database


@dataclass(frozen=True)
class Unsupported:
    """An object the spec format cannot express."""

    kind: str
    """"view", "trigger", "sequence", "partition", "generated column", "custom type", "extension",
    "virtual table", "expression index", ..."""
    name: str
    """The object's name (``table.column`` for a column)."""
    detail: str = ""

    @property
    def kept(self) -> str | None:
        """How the spec keeps what it can of the object (the column, table or key without what it cannot
        say), or None when nothing of it is imported."""
        return PARTLY_IMPORTED.get(self.kind)


PARTLY_IMPORTED = {
    "identity column": "as a plain column",
    "autoincrement": "as a plain key column",
    "collation": "without its collation",
    "column option": "without the option",
    "table option": "without the option",
    "system versioning": "as a plain table",
    "row level security": "as a table without it",
    "deferrable constraint": "as a constraint checked at every statement",
    "constraint not valid": "as a valid constraint",
    "foreign key option": "without the option",
    "unique key with nulls not distinct": "as a unique key that allows many NULLs",
}
"""Kinds of :class:`Unsupported` whose object is imported without what a spec cannot say, and how."""


@dataclass(frozen=True)
class ImportedColumn:
    name: str
    type: str
    """The engine's type as its catalog shows it, lower-case, with parameters: ``varchar(40)``,
    ``numeric(10,2)``, ``timestamp with time zone``, ``int``, ``tinyint(1)``. Spelled exactly as
    :meth:`Database.tables() <schemac.dialects.base.Database.tables>` spells ``LiveColumn.type`` (what
    ``verify`` compares), so that a type schemac writes maps back exactly."""
    nullable: bool
    default: str | None
    """The engine's default expression text as its catalog shows it, or None: the text
    ``Database.tables()`` gives in ``LiveColumn.default`` (the importer asks the engine, through
    :meth:`~schemac.dialects.base.Database.definitions`, how it shows a candidate, and compares)."""
    comment: str = ""


@dataclass(frozen=True)
class ImportedIndex:
    name: str
    columns: tuple[tuple[str, bool], ...]
    """(column, descending); an expression index is an :class:`Unsupported` instead."""
    unique: bool
    where: str | None
    """The partial index's predicate text, or None."""


ImportedForeignKey = LiveForeignKey
"""A foreign key as the catalog shows it, as ``verify`` reads it: its name is ``""`` when the engine keeps
none (SQLite, for a key written without ``CONSTRAINT name``); actions ``no action`` | ``restrict`` |
``cascade`` | ``set null`` | ``set default``."""


@dataclass(frozen=True)
class ImportedTable:
    name: str
    columns: tuple[ImportedColumn, ...]
    """In catalog order."""
    primary_key: tuple[str, ...]
    uniques: tuple[tuple[str, tuple[str, ...]], ...]
    """(constraint or index name, columns) for UNIQUE constraints, in catalog order (SQLite: the
    ``sqlite_autoindex_…`` name of an inline ``UNIQUE``)."""
    indexes: tuple[ImportedIndex, ...]
    """Non-constraint indexes (unique or not), in catalog order (creation order where known, else by name);
    not the primary key's."""
    foreign_keys: tuple[ImportedForeignKey, ...]
    checks: tuple[tuple[str, str], ...]
    """(name, expression as the engine shows it, without the outer ``CHECK``): ``"CHECK (" + expression
    + ")"`` is the text ``Database.tables()`` gives in ``LiveTable.checks``. A check without a name
    has ``""`` as its name (the importer reports it: a spec names every check)."""
    comment: str = ""


@dataclass(frozen=True)
class Catalog:
    dialect: str
    tables: tuple[ImportedTable, ...]
    """In catalog order (creation order where the engine knows it, else by name)."""
    unsupported: tuple[Unsupported, ...]


Reader = Callable[["Database", "frozenset[str] | None"], Catalog]
"""``(database, tables)``: ``tables`` None means every table."""

READERS: dict[str, Reader | str] = {
    "sqlite": "schemac.importing.sqlite:read_catalog",
    "postgresql": "schemac.importing.postgresql:read_catalog",
    "mariadb": "schemac.importing.mariadb:read_catalog",
}
"""Dialect name → its reader, or ``"module:function"`` imported on first use (see :func:`reader`)."""


def reader(dialect: str) -> Reader:
    """The catalog reader of ``dialect``, importing its module on first use (KeyError: no reader)."""
    entry = READERS[dialect]
    if isinstance(entry, str):
        module, _, function = entry.partition(":")
        loaded: Reader = getattr(importlib.import_module(module), function)
        READERS[dialect] = entry = loaded
    return entry
