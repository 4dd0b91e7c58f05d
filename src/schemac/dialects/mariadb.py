"""MariaDB: its dialect (InnoDB tables in utf8mb4 with a binary collation, keys that need an index,
``VARCHAR(255)`` for indexed text) and its database, through PyMySQL (the ``mariadb`` extra), imported
on connect. DDL commits on its own here, so the applier records progress per statement."""

from __future__ import annotations

import math
import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from schemac.dialects.base import (
    BOOLEAN_CHECK,
    ENUM_CHECK,
    HISTORY_TABLE,
    IN_PLACE_DEFAULT,
    LOCK_TABLE,
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
    error,
    lock_timeout,
    unquote_name,
)
from schemac.dialects.connections import EXAMPLES, Target, connect, read_address, read_server

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
    keyed_cluster="Galera",
    in_place=IN_PLACE_DEFAULT | {"reorder_columns"},
    retype_copies=True,
    # A VARCHAR grown within its length bytes is instant; any other type change copies the table.
    retype_in_place=frozenset({("string", "string")}),
    retype_length_classes=(64,),
    online_clauses=MappingProxyType(
        {
            # Metadata only: instant whatever the table's size.
            "add_column": ("ALGORITHM=INSTANT",),
            "insert_column": ("ALGORITHM=INSTANT",),
            "add_referencing_column": ("ALGORITHM=INSTANT",),
            "drop_column": ("ALGORITHM=INSTANT",),
            "rename_column": ("ALGORITHM=INSTANT",),
            "drop_check": ("ALGORITHM=INSTANT",),
            "drop_foreign_key": ("ALGORITHM=INSTANT",),
            "alter_column_default": ("ALGORITHM=INSTANT",),
            # Built beside the table while writes go on, without copying it.
            "create_index": ("ALGORITHM=NOCOPY", "LOCK=NONE"),
            "drop_index": ("ALGORITHM=NOCOPY", "LOCK=NONE"),
            "add_foreign_key": ("ALGORITHM=NOCOPY", "LOCK=NONE"),  # with foreign_key_checks=0: rows checked after
            # The table is rebuilt, writes going on.
            "alter_column_null": ("ALGORITHM=INPLACE", "LOCK=NONE"),
            # Run before the UPDATE that fills a column's NULLs: its scan then locks only the rows it changes.
            "fill_nulls": ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED",),
            # Not listed, as InnoDB only copies the table for them: add_check, add_checked_column,
            # add_constrained_column, drop_constrained_column, alter_column_type, alter_primary_key; nor
            # add_restricting_foreign_key, as an in-place add records an explicit RESTRICT as NO ACTION.
        }
    ),
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
    session_settings: tuple[str, ...] = (
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
    altering_statement = re.compile(
        r"(?:SET\s+STATEMENT\b.*?\bFOR\s+)?(?:ALTER\s+TABLE|CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX)\b",
        re.IGNORECASE | re.DOTALL,
    )
    online_refusals = frozenset({1845, 1846})
    """ER_ALTER_OPERATION_NOT_SUPPORTED and its ``_REASON`` form: the ALGORITHM or LOCK asked for cannot be had."""
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
        database = cls(target, connection)
        on = database.query("SHOW VARIABLES LIKE 'wsrep_on'")
        if on and str(on[0][1]).upper() == "ON":
            database.galera = True
            database.session_settings = (*cls.session_settings, "SET SESSION wsrep_sync_wait = 1")
        return database

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
        """On a plain server a named lock per database, which the server frees when the session ends; on a
        Galera node (:attr:`galera`) a row of ``schemac_lock``, which every node sees (:meth:`_cluster_lock`)."""
        with self._cluster_lock(timeout) if self.galera else self._server_lock(timeout):
            yield

    @contextmanager
    def _server_lock(self, timeout: float) -> Iterator[None]:
        name = self.query("SELECT LEFT(CONCAT('schemac:', DATABASE()), 64)")[0][0]
        if self.query("SELECT GET_LOCK(%s, %s)", (name, timeout))[0][0] != 1:
            raise lock_timeout(self.target, timeout)
        try:
            yield
        finally:
            self.execute("DO RELEASE_LOCK(%s)", (name,))

    galera = False
    """Whether the server is a node of a Galera cluster (``wsrep_on``, read on connect). ``GET_LOCK`` is then
    the node's alone, so the applier's lock is a row the cluster replicates, and reads wait until the node
    has applied what the cluster committed before them (``wsrep_sync_wait``)."""
    lock_lease = 30.0
    """Seconds a Galera lock row holds without renewal. Its holder renews it every third of that and runs a
    statement only within half of it after a renewal it sent found the row still its own; another applier
    takes the row over only once it has seen it unchanged for all of it on its own clock, no statement
    that changes a schema running meanwhile (its holder died)."""
    lock_row = "apply"
    lock_ddl = (
        f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (name VARCHAR(64) NOT NULL PRIMARY KEY, "
        "holder VARCHAR(255) NOT NULL, node VARCHAR(255) NOT NULL, session BIGINT NOT NULL, "
        f"acquired_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL) {MARIADB.table_options}"
    )
    lock_conflicts = frozenset({1062, 1205, 1213, 1969})
    """Duplicate key, lock wait timeout, deadlock, statement time exceeded: another node's claim certified
    first (Galera reports a failed certification as a deadlock), or the claim's bounded wait ended; the
    claim is tried again until ``--lock-timeout``."""
    osu_method = "TOI"
    """The cluster's schema-change mode the applier needs: total order, each DDL statement run on every
    node at the same point of the cluster's history. RSU would change this node alone."""
    _lease: _Lease | None = None
    """The lease of the lock row this session holds (Galera), while it holds one."""

    def _check_cluster(self) -> None:
        """SC636 unless the node is a ready member of the primary component; SC635 unless DDL runs in total order."""
        status = {
            str(name).lower(): str(value)
            for name, value in self.query(
                "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_cluster_size')"
            )
        }
        ready, component = status.get("wsrep_ready", "OFF"), status.get("wsrep_cluster_status", "unknown")
        if ready != "ON" or component != "Primary":
            raise error(
                self.target.shown,
                "SC636",
                f"galera: this node is not ready to apply (wsrep_ready = {ready}, cluster status {component})",
                "apply through a node of the cluster's primary component",
            )
        method = str(self.query("SELECT @@SESSION.wsrep_OSU_method")[0][0])
        if method != self.osu_method:
            raise error(
                self.target.shown,
                "SC635",
                f"galera: wsrep_OSU_method is {method}, so DDL would change this node alone, not the cluster",
                f"set it back to {self.osu_method}, the default: SET GLOBAL wsrep_OSU_method = '{self.osu_method}'",
            )
        size = status.get("wsrep_cluster_size", "?")
        self.cluster = f"galera: DDL in total order ({method}) on a {size}-node cluster"

    @contextmanager
    def _cluster_lock(self, timeout: float) -> Iterator[None]:
        """Claim the ``schemac_lock`` row in a committed transaction. Of two claims made at once on two
        nodes, certification lets one commit and fails the other (a deadlock error), which tries again
        with a growing, jittered pause until ``timeout``. The holder keeps the row under a :class:`_Lease`
        and deletes it at the end. Until it holds the row, reads do not wait for the cluster
        (``wsrep_sync_wait = 0``): they would wait, unbounded, behind another applier's DDL."""
        self.execute("SET SESSION wsrep_sync_wait = 0")
        renewer = None
        try:
            self._check_cluster()
            holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
            renewer = _renewer(self)
            deadline, pause, watch = time.monotonic() + timeout, 0.02, _Watch()
            while True:
                claimed_at = time.monotonic()
                if self._claim(holder, watch, deadline - claimed_at):
                    break
                if time.monotonic() + pause > deadline:
                    raise lock_timeout(self.target, timeout)
                time.sleep(pause * random.uniform(0.5, 1.0))
                pause = min(pause * 2, 1.0)
        except BaseException:
            if renewer is not None:
                renewer.close()
            with suppress(self.driver_error):
                self.execute("SET SESSION wsrep_sync_wait = 1")
            raise
        self._lease = lease = _Lease(self, holder, claimed_at, renewer)
        try:
            self.execute("SET SESSION wsrep_sync_wait = 1")
            yield
        finally:
            self._lease = None
            lease.release()

    def lock_lost(self) -> str:
        return self._lease.check() if self._lease is not None else ""

    def _claim(self, holder: str, watch: _Watch, remaining: float) -> bool:
        """Whether this session now holds the lock row (False: another holds it, or a claim certified
        first). A row is taken over once ``watch`` has seen it unchanged for a whole lease, with no schema
        change running on this node and its holder's session running no statement here; the row lock's
        wait is bounded by ``remaining`` seconds."""
        bounded = (
            f"SET STATEMENT max_statement_time = {max(remaining, 0.001):.3f}, "
            f"innodb_lock_wait_timeout = {max(1, math.ceil(remaining))} FOR "
        )
        try:
            if not self.table_exists(LOCK_TABLE):
                self.execute(self.lock_ddl)
            changing = self._schema_changing()
            self.begin()
            rows = self.query(
                f"{bounded}SELECT holder, expires_at, node = @@wsrep_node_name AND session IN (SELECT ID FROM "
                "information_schema.PROCESSLIST WHERE COMMAND NOT IN ('Sleep', 'Killed') AND ID <> CONNECTION_ID()) "
                f"FROM {LOCK_TABLE} WHERE name = %s FOR UPDATE",
                (self.lock_row,),
            )
            if rows and watch.quiet_for(rows[0][:2], changing or bool(rows[0][2])) < self.lock_lease:
                self.rollback()
                return False
            self.execute(
                f"REPLACE INTO {LOCK_TABLE} (name, holder, node, session, acquired_at, expires_at) "
                f"VALUES (%s, %s, @@wsrep_node_name, CONNECTION_ID(), UTC_TIMESTAMP(6), {self._lease_end})",
                (self.lock_row, holder),
            )
            self.commit()
            return True
        except self.driver_error as exc:
            self.rollback()
            if exc.args and exc.args[0] in self.lock_conflicts:
                return False
            raise

    @property
    def _lease_end(self) -> str:
        """SQL for when a lease taken or renewed now ends, by the server's clock."""
        return f"DATE_ADD(UTC_TIMESTAMP(6), INTERVAL {round(self.lock_lease * 1_000_000)} MICROSECOND)"

    def _schema_changing(self) -> bool:
        """Whether a session or replication applier of this node runs a statement that changes a schema. In
        total order such a statement holds back every node's commits while it runs, a lock holder's lease
        renewals among them, and it runs on every node at once: here too, by an applier thread."""
        running = self.query(
            "SELECT INFO FROM information_schema.PROCESSLIST WHERE INFO IS NOT NULL AND ID <> CONNECTION_ID()"
        )
        return any(_SCHEMA_CHANGE.match(_text(info)) for (info,) in running)

    def _renew_lease(self, holder: str) -> bool:
        """Push the lease of ``holder``'s row forward; whether the row was still ``holder``'s. Each renewal
        changes ``expires_at``, even under a clock set back, so that a waiting applier sees it."""
        cursor = self._run(
            f"UPDATE {LOCK_TABLE} SET expires_at = GREATEST(expires_at + INTERVAL 1 MICROSECOND, {self._lease_end}) "
            "WHERE name = %s AND holder = %s",
            (self.lock_row, holder),
        )
        return bool(cursor.rowcount)

    def integrity_problems(self, statements: Sequence[str]) -> list[str]:
        """The rows of each foreign key that ``statements`` added with ``foreign_key_checks=0`` (online, InnoDB
        does not check them) that reference a missing row; NULL in any of its columns is no reference."""
        found = []
        for statement in statements:
            added = _UNCHECKED_KEY.match(statement)
            if added is None:
                continue
            table, name = unquote_name(added[1]), unquote_name(added[2])
            parts = self.query(
                "SELECT COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
                "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
                "AND CONSTRAINT_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
                (table, name),
            )
            if not parts:
                continue
            q = MARIADB.ident
            present = " AND ".join(f"c.{q(column)} IS NOT NULL" for column, _, _ in parts)
            joined = " AND ".join(f"p.{q(referenced)} = c.{q(column)}" for column, _, referenced in parts)
            parent = parts[0][1]
            missing = self.query(
                f"SELECT COUNT(*) FROM {q(table)} c WHERE {present} "
                f"AND NOT EXISTS (SELECT 1 FROM {q(parent)} p WHERE {joined})"
            )[0][0]
            if missing:
                rows = "1 row" if missing == 1 else f"{missing} rows"
                found.append(
                    f"{rows} of '{table}' reference a missing row of '{parent}' (foreign key '{name}', "
                    "added online with foreign_key_checks=0)"
                )
        return found

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


_SCHEMA_CHANGE = re.compile(
    r"\s*(?:SET\s+STATEMENT\b.*?\bFOR\s+)?(?:ALTER|CREATE|DROP|RENAME|TRUNCATE|OPTIMIZE|REPAIR)\b",
    re.IGNORECASE | re.DOTALL,
)
"""A statement that changes a schema, which a Galera cluster runs in total order (TOI)."""


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class _Watch:
    """What an applier waiting for the Galera lock row saw of it, and since when (its own monotonic clock)."""

    row: tuple[Any, ...] | None = None
    since: float = 0.0

    def quiet_for(self, row: tuple[Any, ...], busy: bool) -> float:
        """Seconds ``row`` has been seen unchanged, nothing keeping its holder from renewing it (0 while ``busy``)."""
        now = time.monotonic()
        if busy or row != self.row:
            self.row, self.since = row, now
        return now - self.since


def _renewer(owner: MariaDBDatabase) -> MariaDBDatabase:
    """A connection for renewing a Galera lock row's lease: its reads time out after a third of a lease."""
    renewer = connect(owner.target, 10, read_timeout=owner.lock_lease / 3)
    assert isinstance(renewer, MariaDBDatabase)
    return renewer


class _Lease:
    """The lease of the Galera lock row ``holder`` claimed at ``claimed_at`` (this process's monotonic clock).

    A thread renews it every third of :attr:`MariaDBDatabase.lock_lease`, on a connection of its own whose
    reads time out after a third of it and which is opened again after any error. The row is the holder's
    until half a lease after the last renewal that found it so was sent, as a waiting applier takes it
    over only a whole lease after it saw that renewal's row. Past that, :meth:`check` renews at once;
    a renewal that finds the row gone or another's loses the lease for good.
    """

    def __init__(self, owner: MariaDBDatabase, holder: str, claimed_at: float, renewer: MariaDBDatabase) -> None:
        self.owner, self.holder, self.seconds = owner, holder, owner.lock_lease
        self.held_until = claimed_at + self.seconds / 2
        self.lost = ""
        self.failure = "no renewal answered yet"
        self.renewer: MariaDBDatabase | None = renewer
        self.mutex = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew_until_stopped, daemon=True)
        self.thread.start()

    def _renew_until_stopped(self) -> None:
        while not self.stop.wait(self.seconds / 3):
            self.renew()

    def renew(self) -> bool:
        """One renewal; whether it found the row still the holder's."""
        with self.mutex:
            if self.lost:
                return False
            sent = time.monotonic()
            try:
                if self.renewer is None:
                    self.renewer = _renewer(self.owner)
                ours = self.renewer._renew_lease(self.holder)
            except Exception as exc:  # the connection is opened again at the next renewal
                self._close()
                self.failure = " ".join(str(exc).split())
                return False
            if not ours:
                self.lost = (
                    "galera: another applier took the migration lock over, as this run's lease went unrenewed "
                    f"for {self.seconds:g} s"
                )
                return False
            self.held_until = max(self.held_until, sent + self.seconds / 2)
            return True

    def check(self) -> str:
        """'' while the row is the holder's, else why not. Past :attr:`held_until`, renewals are tried for a
        whole lease, the holder waiting: a renewal that finds the row its own proves nobody took it over."""
        give_up = time.monotonic() + self.seconds
        while time.monotonic() >= self.held_until and not self.renew() and not self.lost:
            if time.monotonic() >= give_up:
                return (
                    f"galera: the migration lock's lease could not be renewed for {self.seconds:g} s, so another "
                    f"applier may take the lock over ({self.failure})"
                )
            time.sleep(self.seconds / 30)
        return self.lost

    def release(self) -> None:
        """Stop renewing and delete the row when it is still the holder's (else its lease runs out)."""
        self.stop.set()
        self.thread.join()
        with self.mutex, suppress(Exception):
            if self.renewer is None:
                self.renewer = _renewer(self.owner)
            release = f"DELETE FROM {LOCK_TABLE} WHERE name = %s AND holder = %s"
            self.renewer.execute(release, (self.owner.lock_row, self.holder))
        self._close()

    def _close(self) -> None:
        if self.renewer is not None:
            with suppress(Exception):
                self.renewer.close()
            self.renewer = None


_UNCHECKED_KEY = re.compile(
    r"SET\s+STATEMENT\s+foreign_key_checks\s*=\s*0\s+FOR\s+ALTER\s+TABLE\s+(`(?:[^`]|``)+`)\s+"
    r"ADD\s+CONSTRAINT\s+(`(?:[^`]|``)+`)\s+FOREIGN\s+KEY\b",
    re.IGNORECASE,
)
"""A foreign key added online (see ``MARIADB.online_clauses``): its table and name."""
_SHOWN_CHECK = re.compile(r"^\s*CONSTRAINT (`(?:[^`]|``)+`) CHECK \((.*)\),?$", re.MULTILINE)
"""A check constraint's line in MariaDB's ``SHOW CREATE TABLE``."""
_SHOWN_COLUMN = re.compile(r"^\s*(`(?:[^`]|``)+`) .*?(?: DEFAULT (.*?))?,?$", re.MULTILINE)
"""A column's line in MariaDB's ``SHOW CREATE TABLE`` (the other lines start with a word), and its default:
what follows the first `` DEFAULT `` (a type holds none; the tables verify makes have nothing after it)."""


def _mariadb_default(shown: str | None) -> str | None:
    """A default as MariaDB shows it; ``NULL``, its word for a nullable column without one, is none."""
    return None if shown == "NULL" else shown
