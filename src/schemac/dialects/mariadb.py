"""MariaDB: its dialect (InnoDB tables in utf8mb4 with a binary collation, keys that need an index,
``VARCHAR(255)`` for indexed text) and its database, through PyMySQL (the ``mariadb`` extra), imported
on connect. DDL commits on its own here, so the applier records progress per statement."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from types import MappingProxyType
from urllib.parse import unquote

from schemac.dialects.base import (
    BOOLEAN_CHECK,
    ENUM_CHECK,
    HISTORY_TABLE,
    IN_PLACE_DEFAULT,
    OWN_TABLES,
    PROGRESS_TABLE,
    Database,
    Dialect,
    LiveColumn,
    LiveForeignKey,
    LiveIndex,
    LiveTable,
    Row,
    Shown,
    connect_error,
    driver,
    lock_timeout,
    unquote_name,
)
from schemac.dialects.connections import EXAMPLES, Target, read_address, read_server

MARIADB_INDEXED_TEXT_LENGTH = 255
"""InnoDB cannot index TEXT without a prefix length, so a text column in a key or index is VARCHAR(255)."""
_CHARSET = "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
"""How every table schemac makes here holds text: all of Unicode, compared byte for byte."""

MARIADB = Dialect(
    name="mariadb",
    types=MappingProxyType(
        {
            "text": "TEXT",
            "string": "VARCHAR({length})",
            "integer": "INT",
            "bigint": "BIGINT",
            "smallint": "SMALLINT",
            "boolean": "BOOLEAN",
            "real": "FLOAT",
            "double": "DOUBLE",
            "decimal": "DECIMAL({length},{scale})",
            "timestamp": "DATETIME(6)",
            "date": "DATE",
            "json": "LONGTEXT",
            "uuid": "CHAR(36)",
            "bytes": "LONGBLOB",
        }
    ),
    indexed_types=MappingProxyType(
        {"text": f"VARCHAR({MARIADB_INDEXED_TEXT_LENGTH})", "bytes": f"VARBINARY({MARIADB_INDEXED_TEXT_LENGTH})"}
    ),
    quote="`",
    # DATETIME keeps no time zone: now is UTC's, as the applier records it and SQLite's CURRENT_TIMESTAMP is.
    functions=MappingProxyType({"now:timestamp": "(UTC_TIMESTAMP(6))", "now:date": "(UTC_DATE())", "uuid": "(UUID())"}),
    check_templates=MappingProxyType({**ENUM_CHECK, "boolean": BOOLEAN_CHECK, "json": "JSON_VALID({column})"}),
    escape_backslash=True,
    partial_indexes=False,
    string_quotes="'\"",
    catalog_types=MappingProxyType(
        {"int": "int(11)", "bigint": "bigint(20)", "smallint": "smallint(6)", "boolean": "tinyint(1)"}
    ),
    fk_default_action="restrict",
    unsupported_fk_actions=frozenset({"set default"}),
    keys_need_index=True,
    identity_sql="AUTO_INCREMENT",
    unindexable_types=frozenset({"json"}),
    check_blocking_actions=frozenset(
        {("delete", "set null"), ("delete", "set default"), ("update", "cascade"), ("update", "set null")}
        | {("update", "set default")}
    ),
    table_options=f"ENGINE=InnoDB {_CHARSET}",
    in_place=IN_PLACE_DEFAULT | {"reorder_columns"},
)


class MariaDBDatabase(Database):
    dialect = MARIADB.name
    transactional_ddl = False
    now_sql = "UTC_TIMESTAMP(6)"
    history_ddl = (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
        "checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL, execution_ms INT NOT NULL) "
        f"{MARIADB.table_options}"
    )
    progress_ddl = (
        f"CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (version BIGINT NOT NULL PRIMARY KEY, "
        "checksum CHAR(64) NOT NULL, statements INT NOT NULL, state VARCHAR(16), fingerprint CHAR(64), "
        f"next_fingerprint CHAR(64)) {MARIADB.table_options}"
    )
    session_settings = (
        "SET SESSION sql_mode = TRIM(BOTH ',' FROM "
        "REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))",
        "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO')",
    )
    """With NO_BACKSLASH_ESCAPES MariaDB would keep both of the backslashes its files double; without
    NO_AUTO_VALUE_ON_ZERO a key of 0 would be given a new number when the key becomes ``AUTO_INCREMENT``."""
    progress_columns = (
        "ADD COLUMN IF NOT EXISTS state VARCHAR(16)",
        "ADD COLUMN IF NOT EXISTS fingerprint CHAR(64)",
        "ADD COLUMN IF NOT EXISTS next_fingerprint CHAR(64)",
    )
    atomic_statement = re.compile(r"(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
    session_statement = re.compile(r"SET\b(?!\s+STATEMENT\b)", re.IGNORECASE)  # SET STATEMENT … FOR runs one
    client_errors = range(2000, 3000)
    """Error numbers the driver raises itself (a lost connection, …): the statement may have committed."""
    interrupted_errors = frozenset({1053, 1317, 1927})
    """Server shutdown, query interrupted, connection killed: whether the statement committed is unknown."""
    schema_catalog = (
        # "VIEW SCHEMA_COLUMN NAME [SECOND_NAME]: DIGESTED COLUMNS": an information_schema view, the column
        # naming the schema, the names keying the group a row belongs to (first the table it describes,
        # which the server looks rows up by, or the routine or event), and the columns digested
        "TABLES TABLE_SCHEMA TABLE_NAME: TABLE_TYPE ENGINE ROW_FORMAT TABLE_COLLATION CREATE_OPTIONS TABLE_COMMENT "
        "CREATE_TIME",
        "COLUMNS TABLE_SCHEMA TABLE_NAME: COLUMN_NAME ORDINAL_POSITION COLUMN_DEFAULT IS_NULLABLE COLUMN_TYPE "
        "CHARACTER_SET_NAME COLLATION_NAME EXTRA COLUMN_COMMENT GENERATION_EXPRESSION",
        "STATISTICS TABLE_SCHEMA TABLE_NAME: INDEX_NAME NON_UNIQUE SEQ_IN_INDEX COLUMN_NAME COLLATION SUB_PART "
        "INDEX_TYPE INDEX_COMMENT",
        "CHECK_CONSTRAINTS CONSTRAINT_SCHEMA TABLE_NAME: CONSTRAINT_NAME CHECK_CLAUSE",
        "KEY_COLUMN_USAGE TABLE_SCHEMA TABLE_NAME REFERENCED_TABLE_NAME: CONSTRAINT_NAME ORDINAL_POSITION "
        "COLUMN_NAME REFERENCED_COLUMN_NAME",
        "TRIGGERS EVENT_OBJECT_SCHEMA EVENT_OBJECT_TABLE TRIGGER_NAME: EVENT_MANIPULATION ACTION_TIMING "
        "ACTION_ORDER ACTION_STATEMENT SQL_MODE CREATED",
        "ROUTINES ROUTINE_SCHEMA ROUTINE_NAME: ROUTINE_TYPE DTD_IDENTIFIER ROUTINE_DEFINITION SECURITY_TYPE SQL_MODE "
        "ROUTINE_COMMENT LAST_ALTERED",
        "EVENTS EVENT_SCHEMA EVENT_NAME: EVENT_DEFINITION EVENT_TYPE EXECUTE_AT INTERVAL_VALUE INTERVAL_FIELD STATUS "
        "ON_COMPLETION LAST_ALTERED",
    )
    """What :meth:`schema_digests` reads: what DDL can change in a schema. Views are in TABLES, but not
    their definitions, nor a foreign key's rules: the statements that change only those (CREATE OR
    REPLACE VIEW, a key dropped and added again in one ALTER TABLE) do no harm when run twice."""
    schema_filter_limit = 500
    """More names than this, and :meth:`schema_digests` reads the whole schema rather than list them in SQL."""

    @classmethod
    def open(cls, target: Target, timeout: float, read_only: bool, read_timeout: float | None = None) -> Database:
        """The password goes to the driver as a parameter, never inside a URL the driver would parse and quote."""
        server = read_server(target.url)
        pymysql = driver("pymysql", "mariadb", target)
        host, port = read_address(server.hostport)
        name = unquote(re.split("[?#]", server.tail, maxsplit=1)[0].lstrip("/"))
        if not name:
            raise connect_error(target, "the MariaDB URL names no database", EXAMPLES["mariadb"], "SC601")
        connection = pymysql.connect(
            host=host,
            port=port,
            user=server.user or "",
            password=server.password or "",
            database=name,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
            read_timeout=read_timeout,
            write_timeout=read_timeout,
        )
        return cls(target, connection)

    def begin(self) -> None:
        self.execute("START TRANSACTION")

    def statement_failed(self, error: Exception) -> bool:
        number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
        return (
            isinstance(error, self.driver_error)
            and number > 0
            and number not in self.client_errors
            and number not in self.interrupted_errors
        )

    def schema_digests(self, names: Collection[str] | None = None) -> dict[tuple[str, str], str]:
        """The live schema in one query: per group of catalog rows, an order-free digest of them.

        A group is keyed by two lower-cased names: the table a row describes (or the routine, the
        event), and a foreign key's parent table or a trigger's name. With ``names`` (lower-cased), only
        the groups whose first name is one of them: the server then reads only those tables'
        definitions, a few milliseconds where a read of all of them takes tens. Each row's digest is the
        first 64 bits of the SHA-256 of its values, quoted; a group's is their sum with their count.
        """
        wanted = sorted({name for name in names if 0 < len(name) <= 64}) if names is not None else None
        if wanted == []:
            return {}
        if wanted is not None and len(wanted) > self.schema_filter_limit:
            wanted = None
        own = ", ".join(f"'{table}'" for table in sorted(OWN_TABLES))
        parts, params = [], []
        for line in self.schema_catalog:
            keyed, _, digested = line.partition(":")
            view, schema, *keys = keyed.split()
            cells = ", ".join(f"QUOTE({column})" for column in (*keys, *digested.split()))
            second = keys[1] if len(keys) > 1 else "''"
            where = f"{schema} = DATABASE() AND {keys[0]} NOT IN ({own})"
            if wanted is not None:
                where += f" AND {keys[0]} IN ({', '.join(['%s'] * len(wanted))})"
                params += wanted
            parts.append(
                f"SELECT {keys[0]} AS name1, {second} AS name2, "
                f"CAST(CONV(LEFT(SHA2(CONCAT_WS(',', {cells}), 256), 16), 16, 10) AS UNSIGNED) AS digest "
                f"FROM information_schema.{view} WHERE {where}"
            )
        sql = (
            "SELECT CAST(LOWER(COALESCE(name1, '')) AS BINARY), CAST(LOWER(COALESCE(name2, '')) AS BINARY), "
            f"SUM(digest), COUNT(*) FROM ({' UNION ALL '.join(parts)}) AS catalog GROUP BY 1, 2"
        )
        found = {}
        for first, second, total, count in self.query(sql, params):
            key = (bytes(first).decode(errors="replace"), bytes(second).decode(errors="replace"))
            if names is None or key[0] in names:
                found[key] = f"{total}:{count}"
        return found

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """A named server lock per database; the server frees it when the session ends."""
        name = self.query("SELECT LEFT(CONCAT('schemac:', DATABASE()), 64)")[0][0]
        if self.query("SELECT GET_LOCK(%s, %s)", (name, timeout))[0][0] != 1:
            raise lock_timeout(self.target, timeout)
        try:
            yield
        finally:
            self.execute("DO RELEASE_LOCK(%s)", (name,))

    def table_exists(self, name: str) -> bool:
        return bool(
            self.query(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (name,)
            )
        )

    def _by_table(self, sql: str) -> dict[str, list[Row]]:
        grouped: dict[str, list[Row]] = {}
        for row in self.query(sql):
            grouped.setdefault(row[0], []).append(row[1:])
        return grouped

    def tables(self) -> dict[str, LiveTable]:
        where = "WHERE TABLE_SCHEMA = DATABASE()"
        columns = self._by_table(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
            "LOCATE('auto_increment', EXTRA) > 0 FROM information_schema.COLUMNS "
            f"{where} ORDER BY TABLE_NAME, ORDINAL_POSITION"
        )
        stats = self._by_table(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION FROM information_schema.STATISTICS "
            f"{where} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )
        keys = self._by_table(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
            "r.DELETE_RULE, r.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
            "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.TABLE_SCHEMA "
            "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
            "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        )
        checks = self._by_table(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        found = {}
        for name, rows in columns.items():
            if name in OWN_TABLES:
                continue
            fk_rows: dict[str, list[Row]] = {}
            for row in keys.get(name, []):
                fk_rows.setdefault(row[0], []).append(row)
            fks = tuple(
                LiveForeignKey(
                    fk,
                    tuple(r[1] for r in parts),
                    parts[0][2],
                    tuple(r[3] for r in parts),
                    parts[0][4].lower(),
                    parts[0][5].lower(),
                )
                for fk, parts in fk_rows.items()
            )
            index_rows: dict[str, list[Row]] = {}
            for row in stats.get(name, []):
                index_rows.setdefault(row[0], []).append(row)
            primary = tuple(r[2] for r in index_rows.pop("PRIMARY", []))
            indexes = tuple(
                LiveIndex(index, not int(parts[0][1]), tuple((r[2], r[3] == "D") for r in parts), False)
                for index, parts in index_rows.items()
                if index not in fk_rows  # InnoDB's own index for a foreign key
            )
            live_columns = tuple(
                LiveColumn(r[0], r[1].lower(), r[2] == "YES", _mariadb_default(r[3]), bool(r[4])) for r in rows
            )
            definitions = {r[0]: f"CHECK ({r[1]})" for r in checks.get(name, [])}
            found[name] = LiveTable(name, live_columns, primary, indexes, fks, definitions)
        return found

    temporary_table_options = _CHARSET
    """As ``MARIADB.table_options`` hold text (the temporary table keeps the session's engine), so that
    literals read the same."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """A temporary table is not in information_schema: its checks and defaults are read from ``SHOW
        CREATE TABLE``, which prints a check's clause as ``CHECK_CLAUSE`` does and a default as
        ``COLUMN_DEFAULT`` does (one line each: newlines are escaped)."""
        made: list[str] = []
        found: dict[str, Shown] = {}
        try:
            for name, body in tables.items():
                self.execute(f"CREATE TEMPORARY TABLE {name} ({body}) {self.temporary_table_options}")
                made.append(name)
                text = self.query(f"SHOW CREATE TABLE {name}")[0][1]
                found[name] = Shown(
                    {unquote_name(match[0]): f"CHECK ({match[1]})" for match in _SHOWN_CHECK.findall(text)},
                    {
                        unquote_name(match[0]): _mariadb_default(match[1] or None)
                        for match in _SHOWN_COLUMN.findall(text)
                    },
                )
        finally:
            if made:
                with suppress(self.driver_error):
                    self.execute(f"DROP TEMPORARY TABLE IF EXISTS {', '.join(made)}")
        return found


_SHOWN_CHECK = re.compile(r"^\s*CONSTRAINT (`(?:[^`]|``)+`) CHECK \((.*)\),?$", re.MULTILINE)
"""A check constraint's line in MariaDB's ``SHOW CREATE TABLE``."""
_SHOWN_COLUMN = re.compile(r"^\s*(`(?:[^`]|``)+`) .*?(?: DEFAULT (.*?))?,?$", re.MULTILINE)
"""A column's line in MariaDB's ``SHOW CREATE TABLE`` (the other lines start with a word), and its default:
what follows the first `` DEFAULT `` (a type holds none; the tables verify makes have nothing after it)."""


def _mariadb_default(shown: str | None) -> str | None:
    """A default as MariaDB shows it; ``NULL``, its word for a nullable column without one, is none."""
    return None if shown == "NULL" else shown
