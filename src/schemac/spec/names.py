"""Names: what makes an SQL identifier acceptable (:func:`identifier_problem`), and the names schemac gives
what a spec does not name, one home for every generated constraint and index name, so the reader, the
planner, the renderer and ``verify`` spell them the same way.

=====================  ================================  ==========================================
what                   name                              made by
=====================  ================================  ==========================================
primary key            ``pk_<table>``                    :func:`primary_key_name`
column check           ``ck_<table>_<column>``           :func:`check_name` (``check:`` of a column)
table check            ``ck_<table>_<name>``             :func:`check_name` (``checks:``)
derived check          ``ck_<table>_<column>_<suffix>``  :func:`derived_check_name`
audit check            ``ck_<table>_<group>_by``         :func:`check_name`
unique column          ``uq_<table>_<column>``           :func:`index_name`
index                  ``idx_<table>_<columns>``         :func:`index_name` (``uq_`` when unique)
foreign key            ``fk_<table>_<columns>``          :func:`foreign_key_name`
=====================  ================================  ==========================================
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping

from schemac.spec.reserved import RESERVED_WORDS

MAX_IDENTIFIER = 63
"""Longest name: PostgreSQL's limit, the strictest of the supported databases."""
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
RESERVED_PREFIX = "sqlite_"
"""SQLite refuses tables and indexes whose names start with this; no name may, so specs stay portable."""


def is_reserved(name: str) -> bool:
    return name in RESERVED_WORDS or name.startswith(RESERVED_PREFIX)


@functools.lru_cache(maxsize=8192)
def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as an SQL identifier, or ``None`` when it can (names repeat across
    tables and specs: each is judged once)."""
    if len(name) > MAX_IDENTIFIER:
        return f"name '{name}' is {len(name)} characters, over the limit of {MAX_IDENTIFIER}"
    if not IDENTIFIER.fullmatch(name):
        return f"'{name}' is not a valid name: use lowercase letters, digits and _, not starting with a digit"
    if name.startswith(RESERVED_PREFIX):
        return f"'{name}' starts with '{RESERVED_PREFIX}', which SQLite reserves for its own tables"
    if name in RESERVED_WORDS:
        return f"'{name}' is a reserved word in SQLite, PostgreSQL or MariaDB"
    return None


CHECK_SUFFIXES: Mapping[str, str] = {"enum": "enum", "boolean": "bool", "json": "json", "length": "length"}
"""Kind of derived check → the suffix of its name."""


def primary_key_name(table: str) -> str:
    return f"pk_{table}"


def check_name(table: str, name: str) -> str:
    """A named check of ``table``: ``name`` is a column (its ``check:``), a check's own name, or
    ``<group>_by`` (an audit check)."""
    return f"ck_{table}_{name}"


def derived_check_name(table: str, column: str, kind: str) -> str:
    """The check the compiler derives from a column (``kind``: a key of :data:`CHECK_SUFFIXES`)."""
    return f"ck_{table}_{column}_{CHECK_SUFFIXES[kind]}"


def index_name(table: str, parts: Iterable[str], unique: bool = False) -> str:
    """An index over ``parts`` (column names, ``_desc`` appended for a descending one)."""
    return "_".join(("uq" if unique else "idx", table, *parts))


def foreign_key_name(table: str, columns: Iterable[str]) -> str:
    return "_".join(("fk", table, *columns))


def not_null_check_name(table: str, column: str) -> str:
    """The check ``column IS NOT NULL`` a lock-safe migration validates before ``SET NOT NULL`` and then drops:
    short and unique per column, so that it fits the identifier limit whatever the names' lengths."""
    digest = hashlib.sha256(f"{table}.{column}".encode()).hexdigest()[:12]
    return f"schemac_not_null_{digest}"
