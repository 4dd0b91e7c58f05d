"""Audit policy and stage: which SOC 2 audit columns a table gets, and adding them with their CHECKs.

A policy, per table (``audit:``) or for the project (``[tool.schemac.audit] default``), is ``full``
(all three groups), ``none``, or a list of created/updated/deleted. With ``[audit] defaults = true`` the
timestamps default to the current time (:func:`with_time_defaults`), from the version
:mod:`schemac.project.behaviours` says.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

from schemac.model import Column, ColumnType, Default, Spec, Table
from schemac.spec.checks import audit_check

AUDIT_GROUPS = ("created", "updated", "deleted")


def audit_column_names(groups: Iterable[str]) -> tuple[str, ...]:
    """The columns of ``groups``: ``<group>_at`` and ``<group>_by`` for each."""
    return tuple(f"{group}_{part}" for group in groups for part in ("at", "by"))


AUDIT_COLUMNS = audit_column_names(AUDIT_GROUPS)
"""Every audit column: no spec may declare one."""


def audit_groups(policy: Any) -> tuple[str, ...] | None:
    """The groups ``policy`` names, in :data:`AUDIT_GROUPS` order, or ``None`` when it is not a policy."""
    if policy == "full":
        return AUDIT_GROUPS
    if policy == "none":
        return ()
    if isinstance(policy, list) and policy and all(group in AUDIT_GROUPS for group in policy):
        return tuple(group for group in AUDIT_GROUPS if group in policy)
    return None


_TIMESTAMP = ColumnType("timestamp")
_TEXT = ColumnType("text")


@functools.cache
def _group_columns(group: str) -> tuple[Column, Column]:
    """The two columns of ``group`` (made once: columns are immutable, so every table shares them)."""
    nullable = group == "deleted"  # soft delete: both stay NULL until the row is deleted
    return (Column(f"{group}_at", _TIMESTAMP, nullable, audit=True), Column(f"{group}_by", _TEXT, nullable, audit=True))


def with_audit(table: Table) -> Table:
    """``table`` with the columns and checks of its audit groups appended."""
    if not table.audit:
        return table
    columns = tuple(col for group in table.audit for col in _group_columns(group))
    checks = tuple(audit_check(table.name, group) for group in table.audit)
    return dataclasses.replace(table, columns=table.columns + columns, checks=table.checks + checks)


def without_audit(table: Table) -> Table:
    """``table`` without the columns and checks of its audit groups (those it has by hand stay)."""
    if not table.audit:
        return table
    added = {audit_check(table.name, group).name for group in table.audit}
    return dataclasses.replace(
        table,
        columns=tuple(c for c in table.columns if not c.audit),
        checks=tuple(c for c in table.checks if c.name not in added),
        audit=(),
    )


TIME_DEFAULT = Default("fn", "now")
"""The default ``[audit] defaults = true`` gives the audit columns of :data:`DEFAULTED_COLUMNS`."""
DEFAULTED_COLUMNS = ("created_at", "updated_at")


def with_time_defaults(table: Table) -> Table:
    """``table`` with its audit ``created_at`` and ``updated_at`` defaulting to the current time (the
    same table when they already do, or it has neither)."""
    columns = tuple(
        dataclasses.replace(c, default=TIME_DEFAULT)
        if c.audit and c.name in DEFAULTED_COLUMNS and c.default != TIME_DEFAULT
        else c
        for c in table.columns
    )
    if all(new is old for new, old in zip(columns, table.columns, strict=True)):
        return table
    return dataclasses.replace(table, columns=columns)


def inject(spec: Spec) -> Spec:
    """``spec`` with audit columns added to every table it declares."""
    return dataclasses.replace(spec, tables=tuple(with_audit(t) for t in spec.tables))
