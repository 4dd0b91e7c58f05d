"""The peers measured beside schemac on the same tables and files.

Each peer is optional (``pip install -e '.[bench]'``); :func:`missing` names the one that is not
installed so the report can say so instead of failing.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schemac.model import Table

PACKAGES = {"sqlalchemy": "sqlalchemy", "yoyo": "yoyo-migrations", "alembic": "alembic"}


def missing(module: str) -> str | None:
    """``None`` when ``module`` can be imported, else why the peer is skipped."""
    if importlib.util.find_spec(module) is None:
        return f"{PACKAGES[module]} not installed (pip install -e '.[bench]')"
    return None


def sqlalchemy_ddl(tables: Sequence[Table]) -> int:
    """Build SQLAlchemy ``Table`` objects for ``tables`` and compile their DDL for SQLite; returns the DDL size."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    types: dict[str, Any] = {
        "text": sa.Text,
        "integer": sa.Integer,
        "bigint": sa.BigInteger,
        "smallint": sa.SmallInteger,
        "boolean": sa.Boolean,
        "real": sa.Float,
        "double": sa.Double,
        "timestamp": sa.DateTime,
        "date": sa.Date,
        "json": sa.JSON,
        "uuid": sa.Uuid,
        "bytes": sa.LargeBinary,
    }
    dialect = sqlite.dialect()
    metadata = sa.MetaData()
    built = []
    for table in tables:
        items: list[Any] = []
        for column in table.columns:
            ctype = column.type
            if ctype.name == "string":
                sql_type: Any = sa.String(ctype.length)
            elif ctype.name == "decimal":
                sql_type = sa.Numeric(ctype.length, ctype.scale)
            else:
                sql_type = types[ctype.name]()
            default = None
            if column.default is not None:
                value = column.default.value
                default = sa.text(str(value) if column.default.kind == "sql" else repr(value))
            items.append(sa.Column(column.name, sql_type, nullable=column.nullable, server_default=default))
            if column.enum:
                values = ", ".join(repr(v) for v in column.enum)
                name = f"ck_{table.name}_{column.name}_enum"
                items.append(sa.CheckConstraint(f"{column.name} IN ({values})", name=name))
        if table.primary_key:
            items.append(sa.PrimaryKeyConstraint(*table.primary_key, name=f"pk_{table.name}"))
        for fk in table.foreign_keys:
            targets = [f"{fk.ref_table}.{c}" for c in fk.ref_columns]
            items.append(sa.ForeignKeyConstraint(list(fk.columns), targets, name=fk.name, ondelete=fk.on_delete))
        items.extend(sa.CheckConstraint(check.expression, name=check.name) for check in table.checks)
        sa_table = sa.Table(table.name, metadata, *items)
        for index in table.indexes:
            columns = [sa.text(f"{c.name} DESC") if c.descending else sa_table.c[c.name] for c in index.columns]
            where = sa.text(index.predicate) if index.predicate else None
            sa.Index(index.name, *columns, unique=index.unique, sqlite_where=where, _table=sa_table)
        built.append(sa_table)
    size = 0
    for sa_table in built:
        size += len(str(CreateTable(sa_table).compile(dialect=dialect)))
        size += sum(len(str(CreateIndex(i).compile(dialect=dialect))) for i in sa_table.indexes)
    return size


def table_count(database: Path) -> int:
    """User tables in a SQLite file (bookkeeping tables of appliers excluded)."""
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'entity_%'"
        ).fetchone()
    connection.close()
    return int(row[0])


def sqlite_apply(files: Sequence[Path], database: Path) -> None:
    """The floor: execute each file in its own transaction with the standard library alone."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        for file in files:
            connection.executescript(f"BEGIN;\n{file.read_text(encoding='utf-8')}\nCOMMIT;")
    finally:
        connection.close()


def yoyo_apply(directory: Path, database: Path) -> None:
    """yoyo-migrations applying the same ``.sql`` files (it reads ``*.sql`` in file name order)."""
    from yoyo import get_backend, read_migrations  # type: ignore[import-untyped]

    backend = get_backend(f"sqlite:///{database}")
    migrations = read_migrations(str(directory))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(migrations))
    backend.connection.close()
