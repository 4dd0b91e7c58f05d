"""A throwaway in-memory SQLite database that runs a project's hand-written SQL migrations.

A build learns the schema the migration files produce, and checks that a raw SQL step changes no
schema, by running them as the first user's runner does: foreign keys on, every file inside the one
transaction (``PRAGMA foreign_keys=OFF`` in a file is then a no-op, as it is for the runner). The files
come from an untrusted repository, in CI on pull requests, so nothing they hold may run code, touch a
file, or take unbounded memory or time. The guards:

* An authorizer refuses ATTACH and DETACH, transaction statements, the functions that load code or
  touch files (``load_extension``; ``fts3_tokenizer``, which can install a C pointer where SQLite is
  built with ``SQLITE_ENABLE_FTS3_TOKENIZER``, as Debian's is), virtual tables other than FTS and
  R*Tree, and the pragmas that reach outside the database or lift a limit set here; other pragmas
  about storage are made no-ops. ``VACUUM`` (which the authorizer sees only as the ``ATTACH`` it runs,
  and which cannot run inside a transaction anyway) is refused by its first word. Extension loading
  stays disabled. A file holding a NUL character is refused, at it, before anything runs (SQLite
  would stop reading there).
* Limits are fixed counts, so a verdict never depends on the machine: :data:`MAX_STEPS` virtual
  machine steps for everything one database runs (counted per statement in blocks of
  :data:`STEP_BLOCK`), :data:`MAX_PAGES` pages of :data:`PAGE_BYTES` for the main and for the temporary
  database, :data:`MAX_VALUE_BYTES` per string, blob or row, :data:`MAX_STATEMENT_BYTES` per statement,
  an expression depth of :data:`MAX_EXPRESSION_DEPTH`, LIKE and GLOB patterns of
  :data:`MAX_PATTERN_BYTES`, no attached database. Temporary tables and sorts stay in memory (no
  temporary files), and SQLite's heap is capped at :data:`MEMORY_BYTES`, which also bounds what the
  page limits do not (sorts, and the transient tables of ``DISTINCT``, window functions and recursive
  queries). That cap is process-wide and can only be lowered (``PRAGMA hard_heap_limit``).
* The step budget bounds loops, not the cost of one step: SQLite's ``instr`` and ``replace`` compare
  naively and LIKE with a ``%`` scans per pattern byte, so one call can cost the square of its input.
  The small value and pattern limits keep a step to seconds (``instr`` on 1 MiB: about 6 s; on 4 MiB
  it was 2 minutes); :mod:`schemac.migrations.replay` bounds the total by running the database in a
  child process with a time limit (the one verdict that depends on the machine, reached only by
  hostile input), which also keeps the heap cap out of the schemac process.

A failing statement is ``SC525`` and a limit hit ``SC528``, at the statement's first character.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from types import TracebackType

from schemac.errors import Diagnostic, SchemacError
from schemac.project.inputs import position_of

MAX_STEPS = 200_000_000
"""SQLite virtual machine steps for everything one scratch database runs, all files together."""
STEP_BLOCK = 1_000
"""The step counter advances by this many at a time; a statement's last partial block is not counted."""
PAGE_BYTES = 4_096
MAX_PAGES = 131_072
"""Pages for the main database and for the temporary one, each (512 MiB)."""
MAX_VALUE_BYTES = 1_048_576
"""The longest string, blob or row (``SQLITE_LIMIT_LENGTH``)."""
MAX_STATEMENT_BYTES = 16_777_216
"""The longest statement, in UTF-8 (``SQLITE_LIMIT_SQL_LENGTH``)."""
MAX_EXPRESSION_DEPTH = 1_000
MAX_PATTERN_BYTES = 1_000
"""The longest LIKE or GLOB pattern: matching costs up to its length times the value's."""
MEMORY_BYTES = 1_073_741_824
"""SQLite's heap, for the whole process (``PRAGMA hard_heap_limit``, which only ever lowers it)."""

_PREFIX = "cannot run this statement in a scratch SQLite database: "
_FIX_HINT = "fix the statement; schemac runs the migrations as the runner does, in a scratch database"
_LIMIT_HINT = "schemac runs the migrations within fixed limits; keep bulk data and heavy queries out of them"

_ALLOWED_PRAGMAS = frozenset(
    {
        # Settings a migration may rely on, which the runner honours too (none reaches outside).
        "case_sensitive_like",
        "defer_foreign_keys",
        "encoding",
        "foreign_keys",
        "ignore_check_constraints",
        "legacy_alter_table",
        "query_only",
        "recursive_triggers",
        "reverse_unordered_selects",
        "application_id",
        "user_version",
        # They only read.
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "foreign_key_check",
        "foreign_key_list",
        "freelist_count",
        "function_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "module_list",
        "page_count",
        "pragma_list",
        "quick_check",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
"""Pragmas that run; any other not in :data:`_DENIED_PRAGMAS` is a no-op (storage settings such as
``journal_mode``, ``synchronous``, ``cache_size``, ``page_size`` or ``temp_store`` mean nothing here)."""
_DENIED_PRAGMAS = frozenset(
    {
        "data_store_directory",
        "hard_heap_limit",
        "max_page_count",
        "mmap_size",
        "schema_version",
        "soft_heap_limit",
        "temp_store_directory",
        "writable_schema",
    }
)
"""Pragmas refused: process-wide state, a limit set here, files, or a schema edited behind SQLite."""
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_VIRTUAL_TABLE_MODULES = frozenset(
    {"fts3", "fts3tokenize", "fts4", "fts4aux", "fts5", "fts5vocab", "geopoly", "rtree", "rtree_i32"}
)

_TRANSACTION = (
    "transaction statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, END) are not allowed in a migration",
    "the runner wraps every migration file in its own transaction; remove this statement",
)
_ATTACH = ("ATTACH and DETACH are not allowed in a migration", "a migration changes only the database it runs on")
_VACUUM = (
    "VACUUM is not allowed in a migration",
    "VACUUM cannot run inside the transaction the runner wraps every file in",
)

_UNRUNNABLE = re.compile("[\0\ud800-\udfff]")
_VACUUM_WORD = re.compile(r"vacuum\b", re.IGNORECASE)

_GAP = re.compile(r"(?:[ \t\n\f\r;]+|--[^\n]*|/\*(?s:.*?)(?:\*/|\Z))*+")
"""Blanks, comments and empty statements before a statement."""
_TO_SEMICOLON = re.compile(
    r"""(?:[^;'"`\[/-]+|'[^']*'|"[^"]*"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*(?s:.*?)\*/|-(?!-)|/(?!\*))*+;"""
)
"""Text up to the next ``;`` outside quotes and comments, skipping them as SQLite's tokenizer does; no
match when every ``;`` left is inside one left open (the rest is then one last statement)."""
_IN_TRIGGER_BODY = "CREATE TRIGGER t;"
"""A prefix that leaves ``sqlite3_complete`` where it is after a ``;`` inside a trigger body."""


def statement_spans(sql: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each statement of the script ``sql``: from its first character that is not a
    blank or in a comment, past its ``;`` (or to the end of the text for a last one without).

    A ``;`` ends a statement where ``sqlite3_complete`` says the text is complete, so none inside a
    string, quoted name, comment or ``CREATE TRIGGER … END`` body does. Inside a trigger body only the
    text since the previous ``;`` is handed to it (after a prefix that puts it in the same state), so
    every character is read a bounded number of times however many statements the file holds.
    """
    at = 0
    while (start := _end_of(_GAP, sql, at)) < len(sql):
        end = start
        while True:
            found = _TO_SEMICOLON.match(sql, end)
            if found is None:
                yield start, len(sql)
                return
            text = sql[start : found.end()] if end == start else _IN_TRIGGER_BODY + sql[end : found.end()]
            end = found.end()
            if sqlite3.complete_statement(text):
                break
        yield start, end
        at = end


def _end_of(pattern: re.Pattern[str], text: str, at: int) -> int:
    found = pattern.match(text, at)
    return at if found is None else found.end()


class ScratchDatabase:
    """An in-memory SQLite database that runs a project's SQL files, as the first user's runner does
    (foreign keys on, every file in one transaction), within fixed limits."""

    def __init__(self, *, steps: int = MAX_STEPS, pages: int = MAX_PAGES) -> None:
        """Open it; ``steps`` and ``pages`` replace :data:`MAX_STEPS` and :data:`MAX_PAGES` (tests lower them)."""
        self._budget = steps
        self._pages = pages
        self._steps = 0
        self._over_budget = False
        self._refusal: tuple[str, str] | None = None
        self._failed = False
        self._named: set[str] = set()  # the tables the running file's CREATE TABLE statements name
        self._con = sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
        try:
            setconfig = getattr(self._con, "setconfig", None)  # Python 3.12+
            if setconfig is not None:  # as the first user's runner: a double-quoted word is a name, never a string
                for option in ("SQLITE_DBCONFIG_DQS_DDL", "SQLITE_DBCONFIG_DQS_DML"):
                    setconfig(getattr(sqlite3, option), False)
            disable_extensions = getattr(self._con, "enable_load_extension", None)
            if disable_extensions is not None:
                disable_extensions(False)
            for category, limit in (
                (sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
                (sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT_BYTES),
                (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, MAX_EXPRESSION_DEPTH),
                (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_PATTERN_BYTES),
                (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
                (sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0),
            ):
                self._con.setlimit(category, limit)
            for setting in (
                f"hard_heap_limit = {MEMORY_BYTES}",
                "temp_store = MEMORY",
                f"main.page_size = {PAGE_BYTES}",
                f"main.max_page_count = {pages}",
                f"temp.page_size = {PAGE_BYTES}",
                f"temp.max_page_count = {pages}",
                "foreign_keys = ON",
                "recursive_triggers = OFF",  # SQLite's default, which some builds change
            ):
                self._con.execute(f"PRAGMA {setting}").fetchall()
            self._con.execute("BEGIN")
            self._con.set_authorizer(self._authorize)
            self._con.set_progress_handler(self._progress, STEP_BLOCK)
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> ScratchDatabase:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close it, discarding everything (closing rolls the transaction back)."""
        self._con.close()

    def run(self, sql: str, display: str) -> frozenset[str]:
        """Execute the script ``sql`` (the text of file ``display``) statement by statement inside the one
        open transaction; rows a statement returns are read and dropped. Returns the tables its ``CREATE
        TABLE`` statements name (lower-cased), those that already existed included: SQLite authorizes the
        statement before ``IF NOT EXISTS`` makes it a no-op.

        A statement that fails raises :class:`SchemacError` with ``SC525``, one that hits a limit ``SC528``,
        at the statement's first character. After that the database runs nothing more.
        """
        if self._failed:
            raise RuntimeError("this scratch database stopped at an earlier failure")
        self._named = set()
        unrunnable = _UNRUNNABLE.search(sql)
        if unrunnable is not None:
            what = "a NUL character (U+0000)" if unrunnable.group() == "\0" else "a lone surrogate, not UTF-8"
            self._stop(sql, display, unrunnable.start(), "SC525", f"the file holds {what}", "remove it")
        for start, end in statement_spans(sql):
            if _VACUUM_WORD.match(sql, start, end):
                self._stop(sql, display, start, "SC525", *_VACUUM)
            if end - start > MAX_STATEMENT_BYTES:
                self._stop(sql, display, start, "SC528", f"the statement is longer than {MAX_STATEMENT_BYTES:,} bytes")
            if not self._con.in_transaction:
                raise RuntimeError("the scratch database's transaction ended")
            self._refusal = None
            try:
                cursor = self._con.execute(sql[start:end])
                try:
                    for _ in cursor:
                        pass
                finally:
                    cursor.close()
            except (sqlite3.Error, MemoryError) as error:
                code, reason, hint = self._explain(error)
                self._stop(sql, display, start, code, reason, hint, error)
        return frozenset(self._named)

    def catalog(self) -> tuple[tuple[str, str, str, str], ...]:
        """Every schema object as ``(type, name, tbl_name, sql)``, sorted, without SQLite's own (the names
        ``sqlite_…``, such as ``sqlite_sequence``, ``sqlite_autoindex_…`` and ``sqlite_stat1``); ``sql`` is
        ``''`` where SQLite has none. Temporary objects (which outlive a file on the runner's connection)
        are there too, their type prefixed ``temp ``."""
        self._con.set_progress_handler(None, 0)  # reading the schema spends none of the budget
        try:
            rows = self._con.execute(
                "SELECT type, name, tbl_name, sql FROM main.sqlite_master "
                "UNION ALL SELECT 'temp ' || type, name, tbl_name, sql FROM temp.sqlite_master"
            ).fetchall()
        finally:
            self._con.set_progress_handler(self._progress, STEP_BLOCK)
        return tuple(
            sorted(
                (str(kind), str(name), str(table), "" if sql is None else str(sql))
                for kind, name, table, sql in rows
                if not str(name).lower().startswith("sqlite_")
            )
        )

    def serialize(self) -> bytes:
        """The database as it stands after what ran (its open transaction included), as the bytes of a
        SQLite file, for reading elsewhere (``sqlite3.Connection.deserialize``): ``schemac import --from-sql``."""
        self._con.set_progress_handler(None, 0)
        try:
            return self._con.serialize()
        finally:
            self._con.set_progress_handler(self._progress, STEP_BLOCK)

    def tables(self) -> frozenset[str]:
        """The names of the tables, lower-cased."""
        return frozenset(name.lower() for kind, name, _, _ in self.catalog() if kind == "table")

    def _stop(
        self,
        sql: str,
        display: str,
        at: int,
        code: str,
        reason: str,
        hint: str = _LIMIT_HINT,
        cause: BaseException | None = None,
    ) -> None:
        self._failed = True
        line, column = position_of(sql, at)
        raise SchemacError([Diagnostic(display, line, column, code, _PREFIX + reason, hint)]) from cause

    def _explain(self, error: BaseException) -> tuple[str, str, str]:
        """``(code, reason, hint)`` for a statement that raised ``error``."""
        if self._refusal is not None:
            return ("SC525", *self._refusal)
        if self._over_budget:
            return "SC528", f"it takes more than {self._budget:,} SQLite steps", _LIMIT_HINT
        text = " ".join(str(error).split())
        primary = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if isinstance(error, MemoryError) or primary == sqlite3.SQLITE_NOMEM:
            return "SC528", f"it needs more than {MEMORY_BYTES:,} bytes of memory", _LIMIT_HINT
        if primary == sqlite3.SQLITE_FULL:
            return "SC528", f"it grows the database beyond {self._pages:,} pages of {PAGE_BYTES:,} bytes", _LIMIT_HINT
        if text in ("query string is too large", "statement too long"):
            return "SC528", f"the statement is longer than {MAX_STATEMENT_BYTES:,} bytes", _LIMIT_HINT
        if primary == sqlite3.SQLITE_TOOBIG:
            return "SC528", f"it makes a string, blob or row longer than {MAX_VALUE_BYTES:,} bytes", _LIMIT_HINT
        if text.startswith("Expression tree is too large"):
            return "SC528", f"it nests expressions more than {MAX_EXPRESSION_DEPTH:,} deep", _LIMIT_HINT
        if text.startswith("LIKE or GLOB pattern too complex"):
            return "SC528", f"it has a LIKE or GLOB pattern longer than {MAX_PATTERN_BYTES:,} bytes", _LIMIT_HINT
        return "SC525", text, _FIX_HINT

    def _progress(self) -> int:
        self._steps += STEP_BLOCK
        if self._steps <= self._budget:
            return 0
        self._over_budget = True
        return 1

    def _authorize(
        self, action: int, first: str | None, second: str | None, database: str | None, trigger: str | None
    ) -> int:
        """SQLite's authorizer: allow, make a no-op (a pragma), or refuse, keeping the first reason."""
        refusal: tuple[str, str] | None = None
        if action == sqlite3.SQLITE_CREATE_TABLE and first is not None:
            self._named.add(first.lower())
        elif action == sqlite3.SQLITE_PRAGMA:
            name = (first or "").lower()
            if name in _ALLOWED_PRAGMAS:
                return sqlite3.SQLITE_OK
            if name not in _DENIED_PRAGMAS:
                return sqlite3.SQLITE_IGNORE
            refusal = (
                f"PRAGMA {name} may not be used in a migration checked by schemac",
                "it reaches outside the database, changes the whole process or lifts a limit of schemac's",
            )
        elif action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            refusal = _TRANSACTION
        elif action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            refusal = _ATTACH
        elif action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in _DENIED_FUNCTIONS:
            refusal = (
                f"the function {(second or '').lower()}() is not allowed in a migration",
                "it can load code or reach outside the database",
            )
        elif action == sqlite3.SQLITE_CREATE_VTABLE and (second or "").lower() not in _VIRTUAL_TABLE_MODULES:
            refusal = (
                f"virtual tables of the module {second} are not allowed in a migration",
                "use " + ", ".join(sorted(_VIRTUAL_TABLE_MODULES)),
            )
        if refusal is None:
            return sqlite3.SQLITE_OK
        if self._refusal is None:
            self._refusal = refusal
        return sqlite3.SQLITE_DENY
