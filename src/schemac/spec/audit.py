"""Audit stage: add the SOC 2 audit columns and their CHECKs to each table, by policy.

Policy per table is ``full`` (all three groups), ``none``, or a subset of created/updated/deleted;
the project's default comes from ``[tool.schemac.audit] default``.
"""

from __future__ import annotations

import dataclasses

from schemac.model import Column, ColumnType, Spec, Table, audit_check

_TIMESTAMP = ColumnType("timestamp")
_TEXT = ColumnType("text")


def _group_columns(group: str) -> tuple[Column, Column]:
    nullable = group == "deleted"  # soft delete: both stay NULL until the row is deleted
    return (Column(f"{group}_at", _TIMESTAMP, nullable, audit=True), Column(f"{group}_by", _TEXT, nullable, audit=True))


def with_audit(table: Table) -> Table:
    """``table`` with the columns and checks of its audit groups appended."""
    if not table.audit:
        return table
    columns = tuple(col for group in table.audit for col in _group_columns(group))
    checks = tuple(audit_check(table.name, group) for group in table.audit)
    return dataclasses.replace(table, columns=table.columns + columns, checks=table.checks + checks)


def inject(spec: Spec) -> Spec:
    """``spec`` with audit columns added to every table it declares."""
    return dataclasses.replace(spec, tables=tuple(with_audit(t) for t in spec.tables))
