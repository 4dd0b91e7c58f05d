"""Dev databases: a server per engine where ``build`` type-checks the expressions of each new version.

``[tool.schemac.dev_databases]`` (``postgresql = "postgresql://…"``, ``mariadb = "mariadb://…"``),
or the environment variables ``SCHEMAC_DEV_POSTGRESQL`` / ``SCHEMAC_DEV_MARIADB``, which win over
the settings file (a CI job or a developer points at their own server without editing it; keep
passwords there). The settings file comes with the repository, which is not trusted (CI builds pull
requests), so it may name only a server on this machine: a pull request cannot make CI connect
elsewhere and send what the environment holds for the driver (``PGPASSWORD``).

Before anything is published, each table of a version not yet published is made on the dev database
of each configured dialect that has one, nothing of it kept: on PostgreSQL as a temporary table in a
transaction that is rolled back, on MariaDB (no transactional DDL) as a temporary table of the
session, dropped at once and gone with the session whatever happens. Each check, partial-index
condition and SQL default is then added to it one at a time, so the engine's verdict (``SC319``)
names the expression at its line. The server is asked nothing else and keeps nothing: its own tables
are never touched (a temporary table hides one of the same name).

A URL's password never reaches a message (:meth:`~schemac.dialects.connections.Target.mask`);
connecting is bounded by the drivers' 10 s connect timeout and each statement by :data:`TIMEOUT_S`.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from schemac.dialects import DIALECTS, Dialect
from schemac.dialects.connections import EXAMPLES, Target, connect, parse_url
from schemac.errors import Diagnostic, SchemacError
from schemac.model import Spec, Table, Where
from schemac.spec.dialect_expressions import expression_items, shown
from schemac.spec.source import read_bytes

if TYPE_CHECKING:
    from schemac.dialects.base import Database
    from schemac.project.settings import Settings

SERVER_DIALECTS = ("postgresql", "mariadb")
"""The engines a dev database may be given for (SQLite compiles every expression in process)."""
ENVIRONMENT = {name: f"SCHEMAC_DEV_{name.upper()}" for name in SERVER_DIALECTS}
"""Engine → the environment variable naming its dev database, which wins over the settings file."""
TIMEOUT_S = 10
"""Longest a statement on a dev database may run, in seconds."""

_SESSION = {
    "postgresql": ("SET LOCAL statement_timeout = '{timeout}s'", "SET LOCAL lock_timeout = '{timeout}s'"),
    "mariadb": ("SET SESSION max_statement_time = {timeout}",),
}
"""Per engine, what bounds each statement of a probe (run after its ``begin``)."""
_PROBE = {
    "postgresql": {
        "begin": "BEGIN",
        # pg_temp named: a search_path listing it after another schema must not reach a real table there.
        "table": "CREATE TEMPORARY TABLE {table} ({columns})",
        "check": "ALTER TABLE pg_temp.{table} ADD CHECK ({expression})",
        "partial index where": "CREATE INDEX ON pg_temp.{table} ({column}) WHERE {expression}",
        "default": "ALTER TABLE pg_temp.{table} ALTER COLUMN {column} SET DEFAULT ({expression})",
        "savepoint": "SAVEPOINT schemac_dev",
        "undo": "ROLLBACK TO SAVEPOINT schemac_dev",
        "end": "ROLLBACK",
    },
    "mariadb": {
        "begin": "",
        "table": "CREATE TEMPORARY TABLE {table} ({columns}) {options}",
        "check": "ALTER TABLE {table} ADD CHECK ({expression})",
        "default": "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT ({expression})",
        "savepoint": "",
        "undo": "",
        "end": "DROP TEMPORARY TABLE IF EXISTS {table}",
    },
}
"""Per engine, the statements of a probe: ``table`` makes the table without its expressions, then each
expression kind the engine has is added by its statement (MariaDB has no partial index: its indexes
are full ones, without the condition), between ``savepoint`` and, on failure, ``undo``; ``end``
leaves nothing."""


def read_settings(value: Any) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The ``dev_databases`` setting as engine → URL, and each problem as (key, message, hint).

    No message shows a URL's password.
    """
    if not isinstance(value, dict):
        return {}, [("dev_databases", "dev_databases must be a table: [tool.schemac.dev_databases]", "")]
    found: dict[str, str] = {}
    problems: list[tuple[str, str, str]] = []
    for key, url in sorted(value.items()):
        if key == "sqlite":
            problems.append((key, "dev_databases takes no sqlite: schemac compiles every expression in SQLite", ""))
            continue
        if key not in SERVER_DIALECTS:
            close = difflib.get_close_matches(key, SERVER_DIALECTS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"it takes: {', '.join(SERVER_DIALECTS)}"
            problems.append((key, f"unknown dev database '{key}'", hint))
            continue
        expected = f"dev_databases.{key} must be a {key}:// URL"
        if not isinstance(url, str) or not url.strip():
            problems.append((key, f"{expected}, not {type(url).__name__ if not isinstance(url, str) else 'empty'}", ""))
            continue
        try:
            target = parse_url(url)
        except SchemacError as exc:
            problems.append((key, f"{expected}: {exc.diagnostics[0].message}", exc.diagnostics[0].hint))
            continue
        if target.dialect != key:
            problems.append((key, f"{expected}, not {target.shown}", f"for example {EXAMPLES[key]}"))
            continue
        if not on_this_machine(url):
            problems.append(
                (
                    key,
                    f"dev_databases.{key} must name a server on this machine (localhost, 127.0.0.1, ::1 or a "
                    f"socket) and no parameters, not {target.shown}: the settings file comes with the repository",
                    f"for another server, set {ENVIRONMENT[key]} in the environment",
                )
            )
            continue
        found[key] = url
    return found, problems


def on_this_machine(url: str) -> bool:
    """Whether ``url`` names one server on this machine (``localhost``, a loopback address, or none: the
    local socket) and holds no ``?…`` parameters, which could name another host (libpq's ``host=``,
    ``service=``). A host list (``a,b``: libpq tries each) or a name that only starts like an address
    (``127.0.0.1.example``) is not one."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if "," in parts.netloc or "%" in parts.netloc.rpartition("@")[2] or parts.query or parts.fragment:
        return False
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_line(text: str, section: str, key: str) -> int:
    """The line of ``key = …`` in the settings table ``section`` (``[tool.schemac.<section>]``, ``[<section>]``
    or ``section = {…}``), else of the section, else 1."""
    header = re.search(rf"^\s*\[(?:tool\.schemac\.)?{re.escape(section)}\]", text, re.MULTILINE)
    if header is not None:
        match = re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE).search(text, header.end())
        following = re.compile(r"^\s*\[", re.MULTILINE).search(text, header.end())
        if match is not None and (following is None or match.start() < following.start()):
            return text.count("\n", 0, match.start()) + 1
        return text.count("\n", 0, header.start()) + 1
    inline = re.search(rf"^\s*{re.escape(section)}\s*=", text, re.MULTILINE)
    return text.count("\n", 0, inline.start()) + 1 if inline else 1


def configured(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Target]:
    """Each configured dialect's dev database, the environment winning over the settings; SC601 (the URL
    masked) for a variable that is no URL of its engine."""
    environ = os.environ if environ is None else environ
    found: dict[str, Target] = {}
    for name in SERVER_DIALECTS:
        if name not in settings.dialects:
            continue
        variable = ENVIRONMENT[name]
        url = environ.get(variable, "") or dict(settings.dev_databases).get(name, "")
        if not url:
            continue
        target = parse_url(url)
        if target.dialect != name:
            message = f"{variable} must be a {name}:// URL, not a {target.dialect} one"
            raise SchemacError([Diagnostic(target.shown, 1, 1, "SC601", message, f"for example {EXAMPLES[name]}")])
        found[name] = target
    return found


def check_new_versions(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Make the tables of each version not yet published for a dialect on that dialect's dev database;
    raise every expression an engine rejects (SC319), or SC606/SC607 when a server cannot be used.

    Called by ``build`` once the project compiles; a version is published for a dialect when its
    manifest records the spec byte for byte.
    """
    from schemac.project.compiler import as_published, discover, read_spec  # the compiler is the caller's

    targets = configured(settings, environ)
    if not targets:
        return
    published = as_published(settings)
    files, _ = discover(settings)
    fresh: dict[str, list[Spec]] = {name: [] for name in targets}
    for file in files:
        raw = read_bytes(file.path, file.display, root=file.root)
        digest = hashlib.sha256(raw).hexdigest()
        wanting = [name for name in targets if (file.display, digest) not in published[name]]
        if not wanting:
            continue
        spec, _ = read_spec(file, settings.audit_default, raw)
        if spec is None or spec.baseline or not any(expression_items(spec, t) for t in spec.tables):
            continue
        for name in wanting:
            fresh[name].append(spec)
    found: list[Diagnostic] = []
    for name, specs in fresh.items():
        if specs:
            with _session(targets[name]) as database:
                for spec in specs:
                    found += _check_spec(database, DIALECTS[name], targets[name], spec)
    if found:
        raise SchemacError(found)


@contextmanager
def _session(target: Target) -> Iterator[Database]:
    """A connection to a dev database, closed after; SC606 (masked) naming it as a dev database."""
    try:
        database = connect(target, TIMEOUT_S, read_timeout=TIMEOUT_S + 5)  # a silent server too
    except SchemacError as exc:
        first = exc.diagnostics[0]
        message = first.message.replace("cannot connect", f"cannot connect to the {target.dialect} dev database", 1)
        hint = first.hint or (
            f"check the server and the URL ({ENVIRONMENT[target.dialect]}, or dev_databases.{target.dialect} "
            "in the settings)"
        )
        raise SchemacError([Diagnostic(first.file, 1, 1, first.code, message, hint)]) from None
    try:
        yield database
    finally:
        with suppress(Exception):
            database.close()


def _check_spec(database: Database, dialect: Dialect, target: Target, spec: Spec) -> list[Diagnostic]:
    """What the engine says of each expression of ``spec``'s tables, each at its line."""
    probe = _PROBE[dialect.name]
    found: list[Diagnostic] = []
    for table in spec.tables:
        items = [(where, what, text) for where, what, text in expression_items(spec, table) if what in probe]
        if not items:
            continue
        fields = _fields(table, dialect)
        try:
            if probe["begin"]:
                database.execute(probe["begin"])
            for statement in _SESSION[dialect.name]:
                database.execute(statement.format(timeout=TIMEOUT_S))
            database.execute(probe["table"].format(**fields))
            for where, what, text in items:
                problem = _try(database, probe, what, text, table, dialect, fields)
                if problem is not None:
                    found.append(_rejected(spec, where, dialect, what, text, target.mask(problem)))
        except database.driver_error as exc:
            raise SchemacError(
                [
                    Diagnostic(
                        target.shown,
                        1,
                        1,
                        "SC606",
                        f"the {dialect.name} dev database could not make table '{table.name}' of {spec.file}: "
                        + target.mask(_first_line(exc)),
                        "check that the dev database lets this user create temporary tables",
                    )
                ]
            ) from None
        finally:
            with suppress(Exception):
                database.execute(probe["end"].format(**fields))
    return found


def _fields(table: Table, dialect: Dialect) -> dict[str, str]:
    """The parts of the probe statements for ``table``: its columns typed as the migrations type them,
    without defaults (each is set on its own)."""
    from schemac import render  # Jinja: not for the commands that only read the settings

    keyed = render.indexed_columns(table)
    columns = []
    for column in table.columns:
        context = render.column_context(column, dialect, column.name in keyed)
        columns.append(f"{context['name']} {context['type']}")
    return {"table": dialect.ident(table.name), "columns": ", ".join(columns), "options": dialect.table_options}


def _try(
    database: Database,
    probe: Mapping[str, str],
    what: str,
    text: str,
    table: Table,
    dialect: Dialect,
    fields: Mapping[str, str],
) -> str | None:
    """Run the statement that adds one expression; the engine's complaint, or ``None``."""
    column = table.columns[0].name if what != "default" else _default_column(table, text)
    statement = probe[what].format(**fields, expression=text, column=dialect.ident(column))
    if probe["savepoint"]:
        database.execute(probe["savepoint"])
    try:
        database.execute(statement)
    except database.driver_error as exc:
        if not database.statement_failed(exc):
            raise
        if probe["undo"]:
            database.execute(probe["undo"])
        return _first_line(exc)
    return None


def _default_column(table: Table, text: str) -> str:
    """The column whose SQL default is ``text`` (the first, should two share one)."""
    return next(c.name for c in table.columns if c.default and c.default.kind == "sql" and c.default.value == text)


def _first_line(exc: BaseException) -> str:
    """The engine's message: PostgreSQL's primary message, or MariaDB's text after its error number."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if isinstance(primary, str) and primary:
        return primary
    args: tuple[object, ...] = exc.args
    text = args[1] if len(args) > 1 and isinstance(args[0], int) else str(exc)
    return " ".join(str(text).splitlines()[0].split()) if str(text) else type(exc).__name__


def _rejected(spec: Spec, where: Where, dialect: Dialect, what: str, text: str, problem: str) -> Diagnostic:
    return Diagnostic(
        spec.file,
        where[0],
        where[1],
        "SC319",
        f"{dialect.name} rejects {shown(what, text)}: {problem}",
        f"the verdict of the {dialect.name} dev database: change the expression so that {dialect.name} takes it",
    )
