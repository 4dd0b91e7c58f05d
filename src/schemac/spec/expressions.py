"""Expression safety: what a spec's text may carry into SQL, and each expression compiled in SQLite.

No key or string may hold a control character (:func:`control_character_diagnostics`, ``SC314``).
Each CHECK, WHERE and SQL default is scanned (:func:`scan_expression`, ``SC310``) for one
parenthesis-balanced expression without statements, comments or subqueries. SQLite then compiles it
in a throwaway database where it will stand — a ``CHECK`` of a table holding only the table's own
columns, the ``WHERE`` of a partial index, a column ``DEFAULT`` — so an unknown function, a syntax
error, another table's column, a ``VALUES`` subquery or a non-deterministic index condition is
refused before anything is rendered. Sample rows (all NULL, all 0) are then inserted, because SQLite
refuses some expressions only when it evaluates them, such as ``datetime('now')`` in a CHECK. Every
probe is rolled back.

The repository is not trusted, so every probe runs within fixed limits (``SC315`` when one is
exceeded): a budget of SQLite virtual-machine steps counted by a progress handler, strings and
blobs of at most :data:`VALUE_BYTES` while expressions are evaluated (bounding the memory a value
takes and the time that functions quadratic in their arguments, such as ``trim`` or ``instr``,
spend on it), LIKE and GLOB patterns, nesting depth and function arguments, and the widths and
precisions ``printf`` is asked for (SQLite 3.40 spends ``N`` steps on ``%.Nc`` whatever the length
limit), checked by a guard in front of the real function. A default is compiled with ``EXPLAIN
SELECT`` and evaluated only where it stands, in ``DEFAULT``, which refuses subqueries, so no probe
ever loops. Expression cost is then linear in the spec's text; the limits are counts, so a verdict
never depends on the machine. No process-wide SQLite setting (such as a heap limit) is touched.
``fts3_tokenizer`` and ``load_extension`` are refused outright.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any

from schemac.errors import Diagnostic
from schemac.model import Spec, Table
from schemac.spec.source import MAX_SPEC_BYTES, Document, Path_, dotted

_SQL_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def control_character(text: str) -> str | None:
    """The first control character in ``text`` other than tab and newline, as ``U+XXXX``, or ``None``."""
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n":
            return f"U+{ord(ch):04X}"
    return None


def control_character_diagnostics(doc: Document) -> list[Diagnostic]:
    """Every key or string value holding a control character (CR, NUL, ESC, …): none may reach SQL output."""
    found: list[Diagnostic] = []
    if not doc.may_hold_controls:
        return found

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if (char := control_character(key)) is not None:
                    found.append(_control_diagnostic(doc, (*path, key), char, key=True))
                walk(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))
        elif isinstance(value, str) and (char := control_character(value)) is not None:
            found.append(_control_diagnostic(doc, path, char))

    walk(doc.data, ())
    return found


def _control_diagnostic(doc: Document, path: Path_, char: str, *, key: bool = False) -> Diagnostic:
    return doc.diagnostic(
        path,
        "SC314",
        f"{dotted(path)} contains the control character {char}, which must not reach the generated SQL",
        "remove it; text may hold tabs and newlines but no other control characters",
        key=key,
    )


def scan_expression(text: str) -> str | None:
    """Why ``text`` is not a single self-contained SQL expression, or ``None``.

    Outside string literals and quoted names it must have balanced parentheses, no ``;``, no
    comment markers (``--``, ``/*``, ``#``), no ``$`` and no subquery, and it holds no backslash
    anywhere, so every supported engine sees the same string boundaries and wrapping it in
    ``CHECK (...)`` cannot escape.
    """
    if "\\" in text:
        return "contains a backslash, which MariaDB reads as an escape inside strings and SQLite does not"
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == ch:
                end = text.find(ch, end + 2)
            if end == -1:
                return f"unterminated {ch} quote"
            i = end + 1
            continue
        if ch == ";":
            return "contains ';': an expression cannot hold a second statement"
        if text.startswith("--", i) or text.startswith("/*", i) or ch == "#":
            return "contains an SQL comment marker"
        if ch == "$":
            return "contains '$', which starts a dollar-quoted string in PostgreSQL"
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "has a ')' without its '('"
        elif (ch.isalpha() or ch == "_") and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            word = _SQL_WORD.match(text, i)  # matched in place: slicing the rest of the text made a scan quadratic
            if word is not None:  # else a non-ASCII letter, which cannot start a keyword
                if word.group().lower() == "select":
                    return "contains a subquery: an expression may use only its own table's columns"
                i = word.end()
                continue
        i += 1
    if depth:
        return "has a '(' without its ')'"
    if not text.strip():
        return "is empty"
    return None


# What the expression is → the statements that compile it in place, then the sample rows. A
# default is compiled by EXPLAIN (which runs nothing) and evaluated only by its sample row.
_PROBES = {
    "check": ("CREATE TABLE {table} ({columns}, CHECK ({expression}))",),
    "index condition": (
        "CREATE TABLE {table} ({columns})",
        'CREATE INDEX "schemac_probe" ON {table} ({first}) WHERE {expression}',
    ),
    "default": ("EXPLAIN SELECT ({expression})", "CREATE TABLE {table} ({columns} DEFAULT ({expression}))"),
}
_SAMPLE_ROWS = {
    "check": ("INSERT INTO {table} VALUES ({nulls})", "INSERT INTO {table} VALUES ({zeros})"),
    "index condition": ("INSERT INTO {table} VALUES ({nulls})", "INSERT INTO {table} VALUES ({zeros})"),
    "default": ("INSERT INTO {table} DEFAULT VALUES",),
}

STEPS = 1_000_000
"""SQLite virtual-machine steps one probe may take, compiling statements and sample rows included."""
VALUE_BYTES = 1_000
"""Longest string or blob while an expression is evaluated: a literal, or a value a function makes."""
PATTERN_BYTES = 1_000
"""Longest LIKE or GLOB pattern: matching costs the pattern's length times the text's."""
DEPTH = 1_000
"""Deepest expression tree (SQLite's usual limit, fixed here whatever the library was built with)."""
FUNCTION_ARGS = 127
"""Most arguments of one function call (SQLite's usual limit, fixed likewise)."""
_STATEMENT_BYTES = 2 * MAX_SPEC_BYTES
"""Longest probe statement, and longest value while a probe table is created: its text is stored."""
_TICK = 1_000
"""Steps between two calls of the progress handler that counts them."""
_DENIED_FUNCTIONS = frozenset({"fts3_tokenizer", "load_extension"})
"""Functions no expression may call: where the library enables it, ``fts3_tokenizer`` hands out and
(with two arguments) replaces a pointer inside SQLite; ``load_extension`` would load native code."""
_PRINTF_SPEC = re.compile(r"%[-+ #!0,l0-9.*]*")
"""A ``printf`` conversion up to its letter: every character SQLite may read as a flag, width or precision."""
_DIGITS = re.compile(r"[0-9]+")


def _large(digits: str) -> bool:
    digits = digits.lstrip("0")
    return len(digits) > len(str(VALUE_BYTES)) or int(digits or "0") > VALUE_BYTES


def _magnitude(value: object) -> float:
    """The largest number SQLite could read from ``value`` where ``printf`` takes a width or precision."""
    if isinstance(value, int | float):
        return abs(value) if value == value else 0.0  # NaN reads as 0
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return 0.0
    largest = float(VALUE_BYTES + 1) if any(_large(d) for d in _DIGITS.findall(value)) else 0.0
    with suppress(ValueError):
        largest = max(largest, abs(float(value.strip())))
    return largest


def _printf_problem(args: tuple[object, ...]) -> str | None:
    """Why ``printf(*args)`` (or ``format``) could run long whatever the length limit, or ``None``.

    SQLite (3.40 at least) writes ``%.Nc`` one character at a time, still looping once the result
    is over the limit, so a width or precision above :data:`VALUE_BYTES` (written, or taken from an
    argument by ``*``) is refused. Every ``%`` is read as the start of a conversion, which can only
    find more of them than SQLite does.
    """
    if not args or not isinstance(args[0], str | bytes):
        return None
    text = args[0] if isinstance(args[0], str) else args[0].decode("latin-1")
    specs = _PRINTF_SPEC.findall(text)
    if any(_large(digits) for spec in specs for digits in _DIGITS.findall(spec)) or (
        any("*" in spec for spec in specs) and any(_magnitude(arg) > VALUE_BYTES for arg in args[1:])
    ):
        return f"it asks printf() for a width or precision over {VALUE_BYTES:,}"
    return None


class _Probe:
    """The in-memory database every expression is compiled in, with what its current probe used and met."""

    def __init__(self) -> None:
        self.con = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        for limit, value in (
            (sqlite3.SQLITE_LIMIT_SQL_LENGTH, _STATEMENT_BYTES),
            (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, PATTERN_BYTES),
            (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, DEPTH),
            (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, FUNCTION_ARGS),
            (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
        ):
            self.con.setlimit(limit, value)
        self.ticks = 0
        self.refused: str | None = None  # why a printf() call was refused
        self.denied: str | None = None  # the denied function an expression called
        self.con.set_progress_handler(self._tick, _TICK)
        self.con.set_authorizer(self._authorize)
        # printf() and format() go through a guard to the real function, on a connection of their own.
        self.side = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.side.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_BYTES)
        for name in ("printf", "format"):
            try:
                self.con.execute(f"SELECT {name}('')")
            except sqlite3.OperationalError:  # format() came with SQLite 3.38
                continue
            self.con.create_function(name, -1, self._printf, deterministic=True)

    def _tick(self) -> bool:
        """Called every :data:`_TICK` steps: true (stop the statement) once the probe is over budget."""
        self.ticks += 1
        return self.ticks * _TICK > STEPS

    def _authorize(self, action: int, first: str | None, second: str | None, *_: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and second is not None and second.lower() in _DENIED_FUNCTIONS:
            self.denied = second.lower()
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def _printf(self, *args: str | bytes | int | float | None) -> str | None:
        self.refused = _printf_problem(args)
        if self.refused is not None:
            raise ValueError(self.refused)
        result: str | None = self.side.execute(f"SELECT printf({', '.join('?' * len(args))})", args).fetchone()[0]
        return result

    def run(self, statement: str, *, evaluates: bool) -> None:
        """Execute ``statement``; one that ``evaluates`` an expression may make only small values."""
        self.con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_BYTES if evaluates else _STATEMENT_BYTES)
        self.con.execute(statement)

    @contextmanager
    def probe(self) -> Iterator[None]:
        """A fresh budget, and everything done inside rolled back."""
        self.ticks, self.refused, self.denied = 0, None, None
        self.con.execute("SAVEPOINT schemac_probe")
        try:
            yield
        finally:
            self.ticks = 0  # the rollback itself must not be stopped
            if self.con.in_transaction:  # an interrupted statement rolls the whole transaction back
                self.con.execute("ROLLBACK TO schemac_probe")
                self.con.execute("RELEASE schemac_probe")

    def verdict(self, exc: BaseException, evaluating: bool) -> tuple[str, str]:
        """``("SC315", the limit the probe went over)`` or ``("SC310", SQLite's complaint)`` for ``exc``."""
        message = str(exc)
        code = getattr(exc, "sqlite_errorcode", None)
        if self.refused is not None:
            return "SC315", self.refused
        if self.denied is not None:
            return "SC310", f"{self.denied}() may not be used in an expression"
        if isinstance(exc, MemoryError):
            return "SC315", "SQLite ran out of memory"
        if code == sqlite3.SQLITE_INTERRUPT:
            return "SC315", f"it takes more than {STEPS:,} SQLite steps"
        if code == sqlite3.SQLITE_TOOBIG or message == "query string is too large":
            if evaluating:
                return "SC315", f"it holds or makes a string or blob longer than {VALUE_BYTES:,} bytes"
            return "SC315", f"its statement is longer than {_STATEMENT_BYTES:,} bytes"
        if message == "LIKE or GLOB pattern too complex":
            return "SC315", f"it has a LIKE or GLOB pattern longer than {PATTERN_BYTES:,} bytes"
        if message.startswith("Expression tree is too large") or message == "parser stack overflow":
            return "SC315", f"it nests deeper than SQLite compiles ({message})"
        if message.startswith("too many arguments on function"):
            return "SC315", f"it calls a function with more than {FUNCTION_ARGS} arguments"
        return "SC310", message


@cache
def _connection() -> _Probe:
    return _Probe()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def sqlite_problem(what: str, expression: str, table: str, columns: tuple[str, ...]) -> tuple[str, str] | None:
    """What is wrong with ``expression`` used as ``what`` on ``table(columns)``: ``("SC310", SQLite's
    complaint)``, ``("SC315", the limit the probe went over)``, or ``None``."""
    names = [_quote(c) for c in columns]
    fields = {
        "table": _quote(table),
        "columns": ", ".join(names),
        "first": names[0] if names else "",
        "expression": expression,
        "nulls": ", ".join(["NULL"] * len(names)),
        "zeros": ", ".join(["0"] * len(names)),
    }
    probe = _connection()
    evaluating = False
    with probe.probe():
        try:
            for statement in _PROBES[what]:
                probe.run(statement.format(**fields), evaluates=False)
            evaluating = True
            for row in _SAMPLE_ROWS[what]:
                with suppress(sqlite3.IntegrityError):  # a rule refusing a sample row is working
                    probe.run(row.format(**fields), evaluates=True)
        except (sqlite3.Error, sqlite3.Warning, MemoryError) as exc:
            return probe.verdict(exc, evaluating)
    return None


def _all_pass(table: Table) -> bool:
    """Whether every CHECK and index condition of ``table`` passes its probe, asked in one go.

    One table holds all the checks and one index per condition, then takes the sample rows. When
    nothing at all is refused (no limit reached either), each expression alone would pass too;
    anything else (a sample row refused by a check included) sends the table through the probes
    one expression at a time.
    """
    names = [_quote(c) for c in table.column_names]
    checks = "".join(f", CHECK ({c.expression})" for c in table.checks)
    probe = _connection()
    with probe.probe():
        try:
            probe.run(f"CREATE TABLE {_quote(table.name)} ({', '.join(names)}{checks})", evaluates=False)
            for i, index in enumerate(i for i in table.indexes if i.predicate):
                probe.run(
                    f'CREATE INDEX "schemac_probe_{i}" ON {_quote(table.name)} ({names[0]}) WHERE {index.predicate}',
                    evaluates=False,
                )
            for value in ("NULL", "0"):
                probe.run(
                    f"INSERT INTO {_quote(table.name)} VALUES ({', '.join([value] * len(names))})", evaluates=True
                )
        except (sqlite3.Error, sqlite3.Warning, MemoryError):
            return False
    return True


_WORD = re.compile(r"[a-z0-9_]+")


def _named_in(expression: str, columns: tuple[str, ...], place: dict[str, int]) -> tuple[str, ...]:
    """The ``columns`` (``place``: name → position) whose names occur as words in ``expression``, a superset
    of those it uses, in table order; the first column when none does. Probing every expression of
    a wide table with all its columns would cost the number of expressions times that of columns."""
    named = sorted((w for w in set(_WORD.findall(expression.lower())) if w in place), key=place.__getitem__)
    return tuple(named) or columns[:1]


_HINTS = {
    "SC310": "use only this table's columns and SQL functions",
    "SC315": (
        f"schemac compiles every expression in SQLite within fixed limits ({STEPS:,} steps, values and "
        f"LIKE patterns of {VALUE_BYTES:,} bytes): simplify it"
    ),
}


def check_tables(spec: Spec, tables: Iterable[Table]) -> list[Diagnostic]:
    """Findings for every expression of ``tables`` (as declared by ``spec``), located at the expression."""
    found = []
    for table in tables:
        base = ("tables", table.name)
        columns = table.column_names
        items: list[tuple[tuple[int, int], str, str]]
        items = [(c.where, "check", c.expression) for c in table.checks]
        items += [
            (spec.at(*base, "indexes", i, "where"), "index condition", index.predicate)
            for i, index in enumerate(table.indexes)
            if index.predicate
        ]
        if items and columns and _all_pass(table):
            items = []
        place = {c: i for i, c in enumerate(columns)}
        probes = [(where, what, expression, _named_in(expression, columns, place)) for where, what, expression in items]
        probes += [
            (spec.at(*base, "columns", c.name, "default", "sql"), "default", str(c.default.value), (c.name,))
            for c in table.columns
            if c.default is not None and c.default.kind == "sql"
        ]
        for where, what, expression, scope in probes:
            problem = sqlite_problem(what, expression, table.name, scope)
            if problem is None:
                continue
            code, text = problem
            message = (
                f"{what} of table '{table.name}' is not a valid expression over its columns: {text}"
                if code == "SC310"
                else f"{what} of table '{table.name}' is too costly to check at build time: {text}"
            )
            found.append(Diagnostic(spec.file, where[0], where[1], code, message, _HINTS[code]))
    return found
