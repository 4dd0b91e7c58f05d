"""A spec's ``renamed_from`` and ``drop_tables``: which tables and columns it renames or drops (refusing
what cannot be), and the renames applied to the plan state, foreign keys of other tables included."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping

from schemac.model import ForeignKey, IndexColumn, Spec, Table
from schemac.planner.findings import ErrorSink, known, refuse_destructive
from schemac.planner.state import PlanState


def resolve_table_renames(spec: Spec, state: Mapping[str, Table], error: ErrorSink) -> dict[str, str]:
    """New name → old name for every table whose ``renamed_from`` names a table of the previous version."""
    renames: dict[str, str] = {}
    renamed_to: dict[str, str] = {}  # old name → new name

    @functools.cache
    def known_tables() -> str:
        return known("tables", state)

    for table in spec.tables:
        source = table.renamed_from
        if not source or source == table.name:
            continue
        where = spec.at("tables", table.name, "renamed_from")
        if table.name in state:
            if source in state:
                error(
                    where,
                    "SC405",
                    f"table '{table.name}' is renamed from '{source}', but '{table.name}' already exists",
                    f"drop '{table.name}' in an earlier spec, or remove renamed_from",
                )
            continue  # a rename recorded by an earlier spec
        if source not in state:
            error(
                where,
                "SC404",
                f"table '{table.name}' is renamed from '{source}', which does not exist",
                known_tables(),
            )
        elif source in renamed_to:
            error(where, "SC405", f"tables '{renamed_to[source]}' and '{table.name}' are both renamed from '{source}'")
        else:
            renames[table.name] = source
            renamed_to[source] = table.name
    return renames


def resolve_drops(spec: Spec, state: Mapping[str, Table], renames: Mapping[str, str], error: ErrorSink) -> list[Table]:
    """The tables of ``drop_tables`` that can go, as the previous version left them (refusals reported)."""
    listed = {t.name for t in spec.tables}
    renamed = set(renames.values())
    dropped = []

    @functools.cache
    def known_tables() -> str:
        return known("tables", state)

    for i, name in enumerate(spec.drop_tables):
        where = spec.at("drop_tables", i)
        if name not in state:
            error(where, "SC407", f"drop_tables names '{name}', which does not exist", known_tables())
        elif name in listed or name in renamed:
            error(
                where,
                "SC406",
                f"table '{name}' is both dropped and {'listed' if name in listed else 'renamed'} in this spec",
                "drop it in one spec and create the new table in a later one",
            )
        else:
            refuse_destructive(spec, where, f"dropping table '{name}'", error)
            dropped.append(state[name])
    return dropped


def apply_table_renames(state: PlanState, renames: Mapping[str, str]) -> None:
    """Apply ``renames`` (new name → old) to ``state``, and point every foreign key at the new names (as
    the databases do). A new name is never an old one, so all apply at once; only referencing tables change."""
    if not renames:
        return
    new_name = {old: new for new, old in renames.items()}
    state.refresh()
    users = {new_name.get(user, user) for old in new_name for user in state.referrers.get(old, ())}
    for new, old in renames.items():
        state[new] = dataclasses.replace(state.pop(old), name=new)

    def rewrite(fk: ForeignKey) -> ForeignKey:
        moved = new_name.get(fk.ref_table)
        return fk if moved is None else dataclasses.replace(fk, ref_table=moved)

    _rewrite_references(state, users, rewrite)


def apply_column_renames(state: PlanState, table_name: str, renames: Mapping[str, str]) -> None:
    """Apply ``renames`` (new name → old) to a table of ``state``: its columns, key, indexes and foreign
    keys, and references from other tables. A new name is never an old one, so all apply at once."""
    if not renames:
        return
    new_name = {old: new for new, old in renames.items()}

    def rename(name: str) -> str:
        return new_name.get(name, name)

    state.refresh()
    users = set(state.referrers.get(table_name, ()))
    table = state[table_name]
    state[table_name] = dataclasses.replace(
        table,
        columns=tuple(dataclasses.replace(c, name=rename(c.name)) if c.name in new_name else c for c in table.columns),
        primary_key=tuple(map(rename, table.primary_key)),
        indexes=tuple(
            dataclasses.replace(i, columns=tuple(IndexColumn(rename(c.name), c.descending) for c in i.columns))
            for i in table.indexes
        ),
        foreign_keys=tuple(dataclasses.replace(f, columns=tuple(map(rename, f.columns))) for f in table.foreign_keys),
    )
    _rewrite_references(
        state,
        users,
        lambda fk: (
            dataclasses.replace(fk, ref_columns=tuple(map(rename, fk.ref_columns)))
            if fk.ref_table == table_name
            else fk
        ),
    )


def _rewrite_references(state: PlanState, users: Iterable[str], rewrite: Callable[[ForeignKey], ForeignKey]) -> None:
    """Rewrite the foreign keys of ``users``, the tables that reference what changed, in schema order."""
    for name in state.in_order(users):
        table = state[name]
        keys = tuple(map(rewrite, table.foreign_keys))
        if keys != table.foreign_keys:
            state[name] = dataclasses.replace(table, foreign_keys=keys)


def resolve_column_renames(spec: Spec, before: Table, after: Table, error: ErrorSink) -> dict[str, str]:
    """New name → old name for every column of ``after`` renamed from a column of ``before``."""
    renames: dict[str, str] = {}
    renamed_to: dict[str, str] = {}  # old name → new name

    @functools.cache
    def known_columns() -> str:
        return known("columns", before.columns_by_name)

    for column in after.columns:
        source = column.renamed_from
        if not source or source == column.name:
            continue
        where = spec.at("tables", after.name, "columns", column.name, "renamed_from")
        if before.column(column.name) is not None:
            if before.column(source) is not None:
                error(
                    where,
                    "SC405",
                    f"column '{after.name}.{column.name}' is renamed from '{source}', but both exist",
                    "remove renamed_from, or drop one of them first",
                )
            continue  # a rename recorded by an earlier spec
        if before.column(source) is None:
            error(
                where,
                "SC404",
                f"column '{after.name}.{column.name}' is renamed from '{source}', which does not exist",
                known_columns(),
            )
        elif after.column(source) is not None:
            error(
                where,
                "SC405",
                f"column '{after.name}.{column.name}' is renamed from '{source}', which is still listed",
                f"remove column '{source}' or the renamed_from",
            )
        elif source in renamed_to:
            error(
                where,
                "SC405",
                f"columns '{renamed_to[source]}' and '{column.name}' of '{after.name}' "
                f"are both renamed from '{source}'",
            )
        else:
            renames[column.name] = source
            renamed_to[source] = column.name
    return renames
