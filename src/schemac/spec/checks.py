"""Checks: the one place the checks schemac adds to a table are made.

:func:`derived_checks` gives those a dialect derives from a column (enum, boolean, json, ``string(n)``
length); :func:`audit_check` the check of an audit group. The reader reserves their names, the
renderer writes them and ``verify`` expects them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from schemac.model import Check, Column, DerivedCheck
from schemac.spec.names import check_name, derived_check_name

_TYPE_CHECKS = {"boolean": "boolean", "json": "json", "string": "length"}
"""Logical type → the kind of check a dialect may need for it (its column type does not enforce the rule)."""


class CheckSyntax(Protocol):
    """What :func:`derived_checks` asks of a dialect (:class:`schemac.dialects.Dialect` answers it)."""

    @property
    def check_templates(self) -> Mapping[str, str]: ...

    def ident(self, name: str) -> str: ...

    def literal(self, value: str | int | float | bool | None) -> str: ...


def derived_checks(table: str, column: Column, dialect: CheckSyntax | None = None) -> tuple[DerivedCheck, ...]:
    """The checks ``dialect`` derives from ``column`` of ``table`` (its enum, and a boolean, json or
    ``string(n)`` type the engine does not enforce), named ``ck_<table>_<column>_<suffix>``.

    The one place these checks are made: create, alter and rename render them, ``verify`` expects them.
    Without a dialect: every check some dialect derives, without a body (names are reserved on every
    engine, so that a spec means the same wherever it is built).
    """
    if not column.enum and column.type.name not in _TYPE_CHECKS:
        return ()  # most columns: asked about for every column of every table, so answered first
    enum = tuple((type(value), value) for value in column.enum)  # True and 1 are equal, but written apart
    key = (id(dialect), table, column.name, column.type, enum)
    known = _KNOWN.get(key)
    if known is not None and known[0] is dialect:  # the same object (held here, so its id is its own)
        return known[1]
    if len(_KNOWN) >= _KNOWN_LIMIT:
        _KNOWN.clear()
    found = _derived_checks(table, column, dialect)
    _KNOWN[key] = (dialect, found)
    return found


_KNOWN: dict[tuple[object, ...], tuple[CheckSyntax | None, tuple[DerivedCheck, ...]]] = {}
"""The checks already derived, by dialect object, table, column name, type and enum: planning, rendering,
``verify`` and ``import`` ask for those of the same column many times."""
_KNOWN_LIMIT = 65536


def _derived_checks(table: str, column: Column, dialect: CheckSyntax | None) -> tuple[DerivedCheck, ...]:
    kinds = ["enum"] if column.enum else []
    if column.type.name in _TYPE_CHECKS:
        kinds.append(_TYPE_CHECKS[column.type.name])
    found = []
    for kind in kinds:
        name = derived_check_name(table, column.name, kind)
        if dialect is None:
            found.append(DerivedCheck(name, "", kind, column.name))
            continue
        template = dialect.check_templates.get(kind)
        if template is not None:
            values = ", ".join(dialect.literal(value) for value in column.enum)
            body = template.format(column=dialect.ident(column.name), values=values, length=column.type.length)
            found.append(DerivedCheck(name, body, kind, column.name))
    return tuple(found)


def audit_check(table: str, group: str) -> Check:
    """The check of an audit group's ``<group>_by`` column: a non-empty author, for soft deletes only
    together with ``deleted_at``."""
    if group == "deleted":
        return Check(
            check_name(table, "deleted_by"),
            # deleted_by IS NOT NULL is needed: length(NULL) > 0 is NULL, and a NULL CHECK passes.
            "(deleted_at IS NULL AND deleted_by IS NULL) OR "
            "(deleted_at IS NOT NULL AND deleted_by IS NOT NULL AND length(deleted_by) > 0)",
        )
    return Check(check_name(table, f"{group}_by"), f"length({group}_by) > 0")
