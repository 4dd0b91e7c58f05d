"""PostgreSQL: its dialect (ALTER for every change, ``RENAME CONSTRAINT``, ``E'…'`` literals) and its
database, through psycopg (the ``postgresql`` extra), imported on connect."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from schemac.dialects.base import (
    HISTORY_TABLE,
    IN_PLACE_DEFAULT,
    OWN_TABLES,
    Database,
    Dialect,
    LiveColumn,
    LiveForeignKey,
    LiveIndex,
    LiveTable,
    Shown,
    driver,
    lock_timeout,
)
from schemac.dialects.connections import Target, read_server

POSTGRESQL = Dialect(
    name="postgresql",
    types=MappingProxyType(
        {
            "text": "text",
            "string": "varchar({length})",
            "integer": "integer",
            "bigint": "bigint",
            "smallint": "smallint",
            "boolean": "boolean",
            "real": "real",
            "double": "double precision",
            "decimal": "numeric({length},{scale})",
            "timestamp": "timestamptz",
            "date": "date",
            "json": "jsonb",
            "uuid": "uuid",
            "bytes": "bytea",
        }
    ),
    catalog_types=MappingProxyType({"timestamptz": "timestamp with time zone", "varchar": "character varying"}),
    # A plain '…' reads backslashes as escapes when standard_conforming_strings is off; E'…' always does.
    functions=MappingProxyType(
        {
            "now:timestamp": "now()",
            "now:date": "CURRENT_DATE",
            "uuid:uuid": "gen_random_uuid()",
            "uuid": "(gen_random_uuid())::text",
        }
    ),
    escape_backslash=True,
    escape_prefix="E",
    renames_constraints=True,
    retype_rewrites_checks=True,
    retype_casts_default=True,
    numeric_booleans=False,
    in_place=IN_PLACE_DEFAULT | {"reorder_columns"},  # column order is kept: see reorder_columns.sql.j2
)


class PostgreSQLDatabase(Database):
    dialect = POSTGRESQL.name
    now_sql = "now()"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version bigint NOT NULL PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL, execution_ms integer NOT NULL)"
    )
    session_settings = ("SET standard_conforming_strings = on",)
    """With standard_conforming_strings off PostgreSQL reads a backslash in a plain '…' as an escape."""

    @classmethod
    def open(cls, target: Target, timeout: float, read_only: bool) -> Database:
        """The password goes to the driver as a parameter, never inside a URL the driver would parse and quote."""
        server = read_server(target.url)
        psycopg = driver("psycopg", "postgresql", target)
        given = {"user": server.user, "password": server.password}
        connection = psycopg.connect(
            f"postgresql://{server.hostport}{server.tail}",
            autocommit=True,
            connect_timeout=10,
            **{key: value for key, value in given.items() if value is not None},
        )
        return cls(target, connection)

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """A session advisory lock keyed by database and schema; the server frees it if the client dies."""
        schema = self.query("SELECT current_database() || '.' || current_schema()")[0][0]
        key = zlib.crc32(f"schemac:{schema}".encode())
        self.execute(f"SET lock_timeout = '{max(1, round(timeout * 1000))}ms'")  # 0 would wait forever
        try:
            self.execute("SELECT pg_advisory_lock(%s)", (key,))
        except Exception as exc:
            raise lock_timeout(self.target, timeout) from exc
        self.execute("SET lock_timeout = 0")
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def table_exists(self, name: str) -> bool:
        return self.query("SELECT to_regclass(%s)", (name,))[0][0] is not None

    def tables(self) -> dict[str, LiveTable]:
        rows = self.query(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        )
        found = {}
        names = "ARRAY(SELECT a.attname FROM unnest({keys}) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        names += "ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.i)"
        for oid, name in rows:
            if name in OWN_TABLES:
                continue
            columns = tuple(
                LiveColumn(*row)
                for row in self.query(
                    f"SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, {self._default} "
                    f"FROM pg_attribute a {self._defaults} WHERE a.attrelid = %s AND a.attnum > 0 "
                    "AND NOT a.attisdropped ORDER BY a.attnum",
                    (oid,),
                )
            )
            constraints = self.query(
                "SELECT con.conname, con.contype, "
                + names.format(keys="con.conkey", rel="con.conrelid")
                + ", ref.relname, "
                + names.format(keys="con.confkey", rel="con.confrelid")
                + ", con.confdeltype, con.confupdtype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                "LEFT JOIN pg_class ref ON ref.oid = con.confrelid WHERE con.conrelid = %s",
                (oid,),
            )
            actions = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
            key = next((tuple(r[2]) for r in constraints if r[1] == "p"), ())
            fks = tuple(
                LiveForeignKey(r[0], tuple(r[2]), r[3], tuple(r[4]), actions[r[5]], actions[r[6]])
                for r in constraints
                if r[1] == "f"
            )
            checks = {r[0]: r[7] for r in constraints if r[1] == "c"}
            indexes = tuple(
                LiveIndex(r[0], r[1], tuple(zip(r[3], r[4], strict=True)), r[2])
                for r in self.query(
                    "SELECT ic.relname, x.indisunique, x.indpred IS NOT NULL, "
                    + names.format(keys="x.indkey::int2[]", rel="x.indrelid")
                    + ", ARRAY(SELECT (o & 1) = 1 FROM unnest(x.indoption::int2[]) WITH ORDINALITY t(o, i) ORDER BY i) "
                    "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
                    "WHERE x.indrelid = %s AND NOT x.indisprimary",
                    (oid,),
                )
            )
            found[name] = LiveTable(name, columns, key, indexes, fks, checks)
        return found

    _default = "pg_get_expr(d.adbin, d.adrelid)"
    _defaults = "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    """The default of column ``a`` as :meth:`tables` and :meth:`definitions` read it."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """All in one round trip and one transaction, rolled back: nothing is left, even of a failure."""
        temporary = "c.relnamespace = pg_my_temp_schema()"
        self.execute("BEGIN")
        try:
            self.execute(";\n".join(f"CREATE TEMPORARY TABLE {name} ({body})" for name, body in tables.items()))
            checks = self.query(
                "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                f"JOIN pg_class c ON c.oid = con.conrelid WHERE {temporary} AND con.contype = 'c'"
            )
            defaults = self.query(
                f"SELECT c.relname, a.attname, {self._default} FROM pg_attribute a "
                f"JOIN pg_class c ON c.oid = a.attrelid {self._defaults} WHERE {temporary} AND a.attnum > 0 "
                "AND NOT a.attisdropped"
            )
        finally:
            self.rollback()
        found = {name: Shown({}, {}) for name in tables}
        for table, name, definition in checks:
            if table in found:
                found[table].checks[name] = definition
        for table, column, default in defaults:
            if table in found:
                found[table].defaults[column] = default
        return found
