"""What every engine has: the :class:`Dialect` (facts the renderer asks for) and the :class:`Database`
(the applier's connection), with the shapes a catalog reader returns (:class:`LiveTable` …).

Each engine's module (:mod:`schemac.dialects.sqlite`, :mod:`~schemac.dialects.postgresql`,
:mod:`~schemac.dialects.mariadb`) holds its Dialect instance and its Database subclass.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from schemac.errors import Diagnostic, SchemacError
from schemac.model import Column, ColumnType, Default, Table

if TYPE_CHECKING:
    from schemac.dialects.connections import Target

ENUM_CHECK = {"enum": "{column} IN ({values})"}
"""Every engine needs a check for an enum."""
BOOLEAN_CHECK = "{column} IN (0, 1)"

IN_PLACE_DEFAULT = frozenset(
    {
        "create_table",
        "create_index",
        "drop_index",
        "drop_table",
        "rename_table",
        "rename_column",
        "add_column",
        "insert_column",  # an engine without column positions appends it: column order then differs
        "add_checked_column",
        "add_referencing_column",
        "add_constrained_column",
        "drop_column",
        "drop_constrained_column",
        "alter_column",
        "alter_primary_key",
        "add_check",
        "drop_check",
        "add_foreign_key",
        "drop_foreign_key",
    }
)
IN_PLACE_KINDS = IN_PLACE_DEFAULT | {"reorder_columns"}
"""Every operation kind a dialect may list in :attr:`Dialect.in_place`."""

STEP_TRANSACTION = "-- schemac:step transaction"
STEP_NO_TRANSACTION = "-- schemac:step no-transaction"
"""The comment line (between two statements) that starts a step of a migration file: run in a transaction
of its own, or outside any transaction, one statement at a time (see :class:`LockSafe`)."""


@dataclass(frozen=True)
class LockSafe:
    """How a dialect writes a change to a table that may hold rows and take writes, so that it never
    blocks them for long (PostgreSQL's online form; see docs/production-postgresql.md).

    A migration file then holds up to three steps, each opened by its settings: the changes (in one
    transaction; constraints added ``NOT VALID``), the validations (in another), the index builds and
    drops (``CONCURRENTLY``, outside any transaction). What a version creates is made plainly: an empty
    new table takes no writes.
    """

    change_settings: tuple[str, ...]
    """Run first in the file: bound each wait for a lock, and each statement made under one."""
    scan_settings: tuple[str, ...]
    """Run first in a step that scans or builds without blocking writes: bound the waits, not the work."""


@dataclass(frozen=True)
class Dialect:
    """An engine's facts; the same instance serves every version rendered (what one version knows is
    :class:`schemac.render.VersionState`)."""

    name: str
    types: MappingProxyType[str, str]
    """Logical type name → SQL type; ``{length}`` and ``{scale}`` are filled from the column type."""
    quote: str = '"'
    true: str = "TRUE"
    false: str = "FALSE"
    check_templates: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType(ENUM_CHECK))
    """Kind → body of the check derived from a column (see :func:`schemac.spec.checks.derived_checks`), for
    each rule the engine's types do not enforce: ``{column}`` (quoted), ``{values}`` (the enum's literals),
    ``{length}`` (of ``string(n)``)."""
    renames_constraints: bool = False
    """Whether ``ALTER TABLE … RENAME CONSTRAINT`` renames a check (else it is dropped and added again)."""
    retype_rewrites_checks: bool = False
    """Whether a column's type change rewrites the checks on it in a form a fresh ``CHECK`` does not take
    (PostgreSQL keeps the old type's casts), so its derived checks are made again."""
    retype_casts_default: bool = False
    """Whether a type change casts the column's default to the new type (PostgreSQL: it fails where no
    implicit cast exists, and keeps the old type's cast where one does), so the default is dropped
    before the change and set again after, as a fresh ``CREATE TABLE`` writes it."""
    keys_need_index: bool = False
    """Whether each foreign key needs an index led by its columns, and takes an index of the user's for
    it (InnoDB, which refuses to drop that index, error 1553): dropping the last such index adds, in the
    same statement, one named after the key, as the engine names the one it makes itself."""
    unindexable_types: frozenset[str] = frozenset()
    """Logical types the engine cannot index in full (MariaDB's json is LONGTEXT): a key or index over a
    column of one is refused (SC324)."""
    escape_backslash: bool = False
    """Whether a string literal holding ``\\`` doubles it: the engine may read it as an escape character."""
    escape_prefix: str = ""
    """Written before a literal holding ``\\`` (with ``escape_backslash``), so that it reads the same
    whatever the server's settings say (PostgreSQL's ``E'…'``, whatever ``standard_conforming_strings`` is)."""
    indexed_types: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Type overrides for columns in a key or index (an engine that cannot index an unbounded TEXT)."""
    partial_indexes: bool = True
    """Whether ``CREATE INDEX ... WHERE`` exists; without it a partial index is a full one (unique: refused)."""
    string_quotes: str = "'"
    """Characters that open a string literal; a ``"`` here means ``"name"`` in an expression is a string."""
    catalog_types: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """How the engine's catalog spells a type this dialect writes (lowercase), for ``verify``."""
    fk_default_action: str = "no action"
    """The ``ON DELETE``/``ON UPDATE`` rule the catalog reports when a foreign key names none."""
    unsupported_fk_actions: frozenset[str] = frozenset()
    """Referential actions the engine refuses (InnoDB parses ``SET DEFAULT`` but rejects it)."""
    check_blocking_actions: frozenset[tuple[str, str]] = frozenset()
    """(event, action) pairs of a foreign key after which the engine refuses every CHECK that names one of
    its columns (MariaDB: a key that sets or cascades its columns, error 1901)."""
    table_options: str = ""
    """Written after the parentheses of each ``CREATE TABLE`` (the ``table_options`` of its template)."""
    numeric_booleans: bool = True
    """Whether a boolean column compares with the numbers 0 and 1 (PostgreSQL has no ``boolean = integer``:
    such a comparison in an expression is refused at build, SC318)."""
    functions: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The SQL of each portable default (``{fn: now}``, ``{fn: uuid}``): ``name:type`` for a column of that
    logical type, else ``name``."""
    nullable_keys: bool = False
    """Whether a primary key column can hold NULL (SQLite, for a key other than ``INTEGER PRIMARY KEY``
    declared without NOT NULL, as a hand-written table may be); elsewhere a key column is NOT NULL."""
    in_place: frozenset[str] = IN_PLACE_DEFAULT
    """Operation kinds (see :mod:`schemac.planner`) made with ALTER; a table needing any other is rebuilt.
    A shared template (``templates/_common/``) named after a kind of :data:`IN_PLACE_KINDS` not listed
    here is not the dialect's: a change of that kind reaching the renderer has no template (SC409)."""
    since: MappingProxyType[str, tuple[int, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Kinds of :attr:`in_place` the engine makes with ALTER only from a version on (SQLite's
    ``DROP COLUMN``, 3.35): for a project whose oldest engine is older (:meth:`at_least`), a rebuild."""
    rebuild_reasons: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Kind → what ``ALTER TABLE`` cannot do here, for each kind a rebuild makes (``plan`` and the
    rebuild's comment say "ALTER TABLE cannot …")."""
    drop_deletes_rows: bool = False
    """Whether ``DROP TABLE`` deletes the rows first, foreign keys acting (SQLite with foreign keys on): a
    table whose rows reference each other ``ON DELETE RESTRICT`` then has them reference themselves."""
    identity_sql: str = ""
    """Written after the type of an ``identity: true`` column, so that the engine numbers the rows an insert
    leaves it out of (PostgreSQL's ``GENERATED BY DEFAULT AS IDENTITY``, MariaDB's ``AUTO_INCREMENT``);
    empty where :attr:`rowid_keys` does it."""
    rowid_keys: bool = False
    """Whether a table's single-column key of SQL type ``INTEGER`` numbers itself, ``identity`` or not
    (SQLite's rowid alias): ``verify`` expects such a key to be one, and ``import`` reads it as one."""
    plain_key_types: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Logical type → the SQL type of a lone integer key without ``identity`` that must not number itself,
    where :attr:`types` would make it a rowid alias (SQLite: ``BIGINT`` keeps integer affinity and is a plain
    key, where only ``INTEGER`` is the rowid's alias); a table created before :attr:`plain_keys_from` keeps
    ``INTEGER``."""
    plain_keys_from: int | None = None
    """The version from which a new table's key gets :attr:`plain_key_types` (``None``: no table's does), as
    the project's manifest records it or :func:`schemac.project.behaviours.resolve` works it out."""
    keyed_cluster: str = ""
    """The engine's multi-primary cluster that needs a primary key on every table (MariaDB's Galera: it
    replicates rows by key, a delete from a table without one is not supported, and ``wsrep_mode =
    REQUIRED_PRIMARY_KEY`` refuses to create one), so lint makes a keyless table an error (SC912)."""
    inline_column_keys: bool = False
    """Whether a foreign key on one added column goes in the column's ``ADD COLUMN`` (``REFERENCES …``),
    the only way the engine adds a key without a rebuild; elsewhere it is its own ``ADD CONSTRAINT``."""
    online_clauses: MappingProxyType[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Change kind → the options its statement ends with so that the engine makes it without blocking
    writes, or refuses at once (MariaDB's ``ALGORITHM=INSTANT``). A column change's kind is
    ``alter_column_type``, ``alter_column_null`` or ``alter_column_default``, after the most it changes;
    ``fill_nulls`` holds the statements run before the ``UPDATE`` that fills a column's NULLs.
    Empty in the plain form (:meth:`plain`); a kind the engine can only make by copying the table is not listed."""

    retype_copies: bool = False
    """Whether changing a column's type copies every row under a lock that blocks writes (PostgreSQL's rewrite,
    MariaDB's ``ALGORITHM=COPY``), but for the changes :attr:`retype_in_place` lists: lint rule SC910."""
    retype_in_place: frozenset[tuple[str, str]] = frozenset()
    """(logical type before, after) changed without copying the table; with the same name on both sides, when
    it only grows (``string(20)`` → ``string(40)``; a ``decimal``'s scale kept), within one class of
    :attr:`retype_length_classes`."""
    retype_length_classes: tuple[int, ...] = ()
    """Lengths at which the engine stores a string another way (MariaDB: 64 characters, where utf8mb4 needs a
    second length byte), so that growing across one copies the table."""

    def retype_copies_table(self, before: ColumnType, after: ColumnType) -> bool:
        """Whether changing a column of type ``before`` to ``after`` copies the table (see :attr:`retype_copies`)."""
        if not self.retype_copies or self.sql_type(before) == self.sql_type(after):
            return False
        if (before.name, after.name) not in self.retype_in_place:
            return True
        if before.name != after.name:
            return False
        old, new = before.length or 0, after.length or 0
        same_class = all((old < edge) == (new < edge) for edge in self.retype_length_classes)
        return new < old or before.scale != after.scale or not same_class

    lock_safe: LockSafe | None = None
    """How the engine changes a table without blocking its writes for long (:class:`LockSafe`); ``None``
    in the plain form (:meth:`plain`), where each file is one transaction."""

    def online_clause(self, kind: str) -> tuple[str, ...]:
        """The options of :attr:`online_clauses` for a change of ``kind`` (none: the engine's default)."""
        return self.online_clauses.get(kind, ())

    def plain(self) -> Dialect:
        """This dialect without :attr:`online_clauses` and :attr:`lock_safe`: each change as the engine makes it
        by default."""
        if not self.online_clauses and self.lock_safe is None:
            return self
        return replace(self, online_clauses=MappingProxyType({}), lock_safe=None)

    def at_least(self, version: tuple[int, ...]) -> Dialect:
        """The dialect for a project whose oldest engine is ``version``: the kinds of :attr:`since` that
        need a newer one are rebuilt, each saying so (see :attr:`rebuild_reasons`)."""
        newer = {kind: needed for kind, needed in self.since.items() if version < needed}
        if not newer:
            return self
        shown = ".".join(map(str, version))
        reasons = {
            kind: f"{self.rebuild_reason(kind)} before {self.name} {'.'.join(map(str, needed))} (min_version {shown})"
            for kind, needed in newer.items()
        }
        return replace(
            self,
            in_place=self.in_place - newer.keys(),
            rebuild_reasons=MappingProxyType({**self.rebuild_reasons, **reasons}),
        )

    def rebuild_reason(self, kind: str) -> str:
        """What ``ALTER TABLE`` cannot do on this engine that a change of ``kind`` asks for."""
        return self.rebuild_reasons.get(kind, "make this change")

    def ident(self, name: str) -> str:
        """A quoted identifier; names are already validated, so quoting is defence in depth."""
        return f"{self.quote}{name.replace(self.quote, self.quote * 2)}{self.quote}"

    def sql_type(self, ctype: ColumnType, indexed: bool = False) -> str:
        """The column type; ``indexed`` when the column is part of a key, index or foreign key."""
        pattern = self.indexed_types.get(ctype.name) if indexed else None
        return (pattern or self.types[ctype.name]).format(length=ctype.length, scale=ctype.scale)

    def column_type(self, table: Table, column: Column, indexed: bool = False) -> str:
        """The type of ``column`` of ``table``: :meth:`sql_type`, or :attr:`plain_key_types`' for the table's
        lone integer key when it has no ``identity`` and the table was created from :attr:`plain_keys_from` on."""
        plain = self.plain_key_types.get(column.type.name)
        if plain and not column.identity and table.primary_key == (column.name,) and not self.rowid_key(table):
            return plain
        return self.sql_type(column.type, indexed)

    def rowid_key(self, table: Table) -> bool:
        """Whether ``table``'s lone ``INTEGER`` key, ``identity`` or not, is written so and numbers itself
        (:attr:`rowid_keys`): always, or, with :attr:`plain_key_types`, for a table created before
        :attr:`plain_keys_from`."""
        if not self.rowid_keys:
            return False
        return not self.plain_key_types or self.plain_keys_from is None or table.created_in < self.plain_keys_from

    def string(self, value: str) -> str:
        """A string literal; one without a backslash is the same ``'…'`` on every engine."""
        prefix = ""
        if self.escape_backslash and "\\" in value:
            value, prefix = value.replace("\\", "\\\\"), self.escape_prefix
        return prefix + "'" + value.replace("'", "''") + "'"

    def literal(self, value: str | int | float | bool | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.true if value else self.false
        if isinstance(value, int | float):
            return repr(value)
        return self.string(value)

    def default(self, default: Default, ctype: ColumnType) -> str:
        """The SQL of ``default`` for a column of ``ctype``."""
        if default.kind == "fn":
            return self.functions.get(f"{default.value}:{ctype.name}") or self.functions[str(default.value)]
        if default.kind == "sql":
            return f"({default.value})"
        if default.kind == "json":
            return self.string(str(default.value))
        return self.literal(default.value)


# --- the applier's side --------------------------------------------------------------------------

HISTORY_TABLE = "schemac_history"
PROGRESS_TABLE = "schemac_progress"
LOCK_TABLE = "schemac_lock"
"""The applier's lock on a MariaDB Galera cluster: a row the cluster replicates."""
OWN_TABLES = frozenset({HISTORY_TABLE, PROGRESS_TABLE, LOCK_TABLE})
Row = tuple[Any, ...]


def error(target: str, code: str, message: str, hint: str = "") -> SchemacError:
    """``code`` about the database ``target`` (as messages show it), at its line 1."""
    return SchemacError([Diagnostic(target, 1, 1, code, message, hint)])


def connect_error(target: Target, message: str, hint: str = "", code: str = "SC606") -> SchemacError:
    """A failure to connect (SC606 unless told), with the URL's passwords masked."""
    return error(target.shown, code, target.mask(message), hint)


def lock_timeout(target: Target, timeout: float) -> SchemacError:
    return error(
        target.shown,
        "SC608",
        f"another schemac apply held the migration lock for {timeout:g} s",
        "wait for it to finish, or raise --lock-timeout",
    )


def driver(module: str, extra: str, target: Target) -> Any:
    """The driver ``module``, imported on connect, or SC607 naming the extra that installs it."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError:
        raise error(
            target.shown, "SC607", f"the {target.dialect} driver is not installed", f"pip install 'schemac[{extra}]'"
        ) from None


def unquote_name(name: str) -> str:
    """A name as written in SQL (``"…"``, ``` `…` ```, ``[…]`` or bare), without its quotes."""
    if name[0] == "[":
        return name[1:-1]
    if name[0] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    return name


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: str
    nullable: bool
    default: str | None = None
    """The default as the engine shows it (None: the column has none); see :meth:`Database.definitions`."""
    identity: bool = False
    """The engine numbers the column (an identity or serial column, ``AUTO_INCREMENT``, a rowid alias)."""


@dataclass(frozen=True)
class LiveIndex:
    name: str
    unique: bool
    columns: tuple[tuple[str, bool], ...]
    """(column, descending) pairs."""
    partial: bool


@dataclass(frozen=True)
class LiveForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str
    on_update: str


@dataclass(frozen=True)
class LiveTable:
    """A table as a catalog shows it (or as the specs expect it), in the engine's own spelling."""

    name: str
    columns: tuple[LiveColumn, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[LiveIndex, ...] = ()
    foreign_keys: tuple[LiveForeignKey, ...] = ()
    checks: Mapping[str, str] = field(default_factory=dict)
    """Check name → its definition as the engine shows it, ``CHECK (…)`` (see :meth:`Database.definitions`)."""


@dataclass(frozen=True)
class TableBody:
    """What a ``CREATE TABLE`` holds between its parentheses, part by part (see :meth:`Database.definitions`)."""

    columns: tuple[tuple[str, str], ...] = ()
    """(column name, its definition: name, type and default as the migrations write them)."""
    checks: tuple[tuple[str, str, frozenset[str]], ...] = ()
    """(check name, ``CHECK (…)`` body, the columns it names)."""
    constraints: tuple[str, ...] = ()
    """Each check as written in the body: ``CONSTRAINT name CHECK (…)``."""

    @property
    def text(self) -> str:
        return ", ".join([*(definition for _, definition in self.columns), *self.constraints])


@dataclass(frozen=True)
class Shown:
    """How the engine shows a table it was given (see :meth:`Database.definitions`)."""

    checks: dict[str, str]
    """Check name → definition, ``CHECK (…)``."""
    defaults: dict[str, str | None]
    """Column → default (None: none)."""


@dataclass(frozen=True)
class Replay:
    """Where a standby (a read-only server replaying its primary's write-ahead log) is in that log."""

    cluster: str | None
    """The cluster's identity, which a primary and its standbys share (None: the role may not read it)."""
    received: str | None
    """The newest log position received from the primary (None: none received since the server started)."""
    replayed: str
    """The newest log position replayed: the standby shows the database as of there."""
    behind: int
    """Bytes of the log received but not replayed yet (0 while its replay waits for more: see ``waiting``)."""
    lag: float | None
    """Seconds since the primary committed the newest transaction replayed, while received log waits to be
    replayed (0 when none does; None when no transaction was replayed since the server started)."""
    receiving: bool
    """Whether a WAL receiver is connected to the primary."""
    waiting: bool = False
    """Whether its replay waits for more log, having replayed every whole record it received (what it
    received can end past the last one); False where the role may not see the server's startup process
    (``pg_read_all_stats`` may)."""

    def __str__(self) -> str:
        lag = "unknown" if self.lag is None else f"{self.lag:.1f} s"
        behind = f", {self.behind} bytes to replay" if self.behind else ""
        receiver = "" if self.receiving else "; no WAL receiver connected to a primary"
        where = f"received {self.received or 'none'}, replayed {self.replayed}{behind}"
        return f"standby: replay lag {lag} ({where}{receiver})"


def log_offset(position: str) -> int:
    """A write-ahead log position written ``X/Y`` (two hexadecimal halves) as one number, to compare."""
    high, _, low = position.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class Database:
    """The operations the applier needs; subclasses fill in the engine's SQL."""

    dialect = ""
    transactional_ddl = True
    placeholder = "%s"
    now_sql = ""
    history_ddl = ""
    progress_ddl = ""
    progress_columns: tuple[str, ...] = ()
    """``ALTER TABLE`` clauses that bring a ``schemac_progress`` made by an older schemac to today's columns."""
    atomic_statement: re.Pattern[str] | None = None
    """Without transactional DDL: the statements (data changes) that run in one transaction with their
    progress row, so that both commit or neither does."""
    session_statement: re.Pattern[str] | None = None
    """Without transactional DDL: the statements that only set the session up, which a resumed run
    replays before the statement it resumes at (the session of the run that stopped is gone)."""
    altering_statement: re.Pattern[str] | None = None
    """The statements that change a table's structure, for each of which ``apply`` reports the algorithm it
    asked the engine for (see :func:`schemac.applier.statements.asked_algorithms`)."""
    online_refusals: frozenset[int] = frozenset()
    """Error numbers by which the engine refuses to make a change the way its statement asks (online)."""
    session_settings: tuple[str, ...] = ()
    """Run on every connection, so that a literal reads as the migration wrote it whatever the server,
    database or role sets."""
    cluster = ""
    """What ``apply`` says of the cluster the server is a node of, once :meth:`locked` has checked it ('' for none)."""

    def __init__(self, target: Target, connection: Any) -> None:
        self.target = target
        self.connection = connection

    @classmethod
    def open(cls, target: Target, timeout: float, read_only: bool, read_timeout: float | None = None) -> Database:
        """A connection to ``target`` in autocommit mode (see :func:`schemac.dialects.connections.connect`);
        ``read_timeout`` bounds each wait for the server, the greeting included (none: a migration's statement
        may run for as long as it takes)."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in self._run(sql, params).fetchall()]

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query as {column name: value}: a table missing a column gives no value for it."""
        cursor = self._run(sql, params)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def column_names(self, table: str) -> list[str]:
        """The columns ``table`` has (a name schemac chose: it is not quoted)."""
        cursor = self._run(f"SELECT * FROM {table} WHERE 1 = 0", ())
        cursor.fetchall()
        return [column[0] for column in cursor.description or ()]

    @property
    def driver_error(self) -> type[Exception]:
        """The base class of every error the driver raises (DB-API's ``Connection.Error``)."""
        error: type[Exception] = self.connection.Error
        return error

    def statement_failed(self, error: Exception) -> bool:
        """Whether ``error``, raised by a statement, means the server refused it, so that nothing of it committed."""
        return True

    def schema_digests(self, names: Collection[str] | None = None) -> dict[tuple[str, str], str]:
        """Without transactional DDL: the live schema (see :class:`schemac.dialects.mariadb.MariaDBDatabase`)."""
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        """Without parameters the text goes as it is: a ``%`` in a migration is not a placeholder."""
        cursor = self.connection.cursor()
        if params:
            cursor.execute(sql, tuple(params))
        else:
            cursor.execute(sql)
        return cursor

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders in this driver's style."""
        return text.replace("?", self.placeholder)

    def begin(self) -> None:
        self.execute("BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        with suppress(Exception):  # the connection may be gone; the server then rolls back on its own
            self.execute("ROLLBACK")

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold the applier lock for the block (a no-op where each transaction takes it)."""
        yield

    def lock_lost(self) -> str:
        """Why the lock :meth:`locked` took may no longer be this run's ('' while it is): the applier asks
        before each statement and commit, as a lock held under a lease can be lost while held."""
        return ""

    def replay(self) -> Replay | None:
        """Where this server is in its primary's log when it is a standby; ``None`` when it is not one."""
        return None

    def log_position(self) -> tuple[str | None, str]:
        """(the cluster's identity, the end of the log it has flushed): what its standbys replay up to."""
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        raise NotImplementedError

    runs_steps = False
    """Whether ``apply`` runs each file step by step (``schemac.applier.statements.split_steps``), each step
    that gave up waiting for a lock tried again (:meth:`lock_timed_out`), and each index a failed build
    left invalid dropped before it is built again (:meth:`invalid_index`)."""
    settings_after_steps: tuple[str, ...] = ()
    """Run after each file :attr:`runs_steps` ran, so that what its steps set (``SET lock_timeout``) does not
    outlive it in the session."""

    def lock_timed_out(self, error: Exception) -> bool:
        """Whether ``error`` says a statement gave up waiting for a lock (``lock_timeout``), so that it may
        succeed when tried again."""
        return False

    def invalid_index(self, statement: str) -> tuple[str, str] | None:
        """(name, statement that drops it) of the index ``statement`` builds, when a failed build of it left
        it invalid: ``IF NOT EXISTS`` would keep it, unusable, so it is dropped first. Else ``None``."""
        return None

    def integrity_problems(self, statements: Sequence[str]) -> list[str]:
        """Violations the engine defers to a check after a migration's ``statements`` (SQLite's foreign keys)."""
        return []

    def tables(self) -> dict[str, LiveTable]:
        raise NotImplementedError

    def definitions(self, tables: Mapping[str, TableBody]) -> dict[str, Shown] | None:
        """How this engine shows checks and defaults it is given: each of ``tables`` (label → its columns
        with their defaults, and named CHECK constraints; one without columns shows none) is made as a
        temporary table of this session, its checks and defaults are read back as :meth:`tables` reads
        live ones, and it is removed. ``None`` when the session cannot make a temporary table (a
        read-only transaction or replica, a missing privilege).

        So an expected check or default is put in the engine's own words (PostgreSQL's casts and
        parentheses, MariaDB's lower-case functions and quoting) by the engine itself, whatever its version.
        A column definition or check repeated word for word is made once (:mod:`schemac.dialects.probes`).
        """
        from schemac.dialects.probes import probes  # it builds on this module

        fewer = probes(tables)
        labels = list(fewer.bodies)
        made: dict[str, Shown] = {}
        for start in range(0, len(labels), self.temporary_batch):
            batch = range(start, min(start + self.temporary_batch, len(labels)))
            temporary = {f"schemac_verify_{i}": labels[i] for i in batch}
            try:
                shown = self._temporary_checks({name: fewer.bodies[label] for name, label in temporary.items()})
            except self.driver_error:
                return None
            made.update((temporary[name], one) for name, one in shown.items())
        return fewer.shown(made)

    temporary_batch = 500
    """Temporary tables made at once: PostgreSQL makes a batch in one transaction, which holds a lock on
    each (the server's lock table has room for some thousands)."""

    def _temporary_checks(self, tables: Mapping[str, str]) -> dict[str, Shown]:
        """Create the temporary ``tables`` (name → definition), read their checks and defaults, remove them."""
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()
