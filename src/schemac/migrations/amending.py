"""``build --amend VERSION``: the known databases, and whether any has applied a file an amend rewrites.

A published version may be rendered again only while no database has applied it: a runner keeps the
file it ran (its checksum is recorded) and runs only versions above the newest it has applied. The
known databases are every ``[environments.NAME]`` of the settings, ``SCHEMAC_DB`` and each ``--db``;
dev databases (``[dev_databases]``) are scratch servers and are not asked. Each one's
``schemac_history`` (and ``schemac_progress``, a run left part-way) is read, never written. A database
that cannot be asked stops the amend, unless it is an environment named unreachable-ok; so does an engine
whose file changes with no database of it known, unless the user says so (``--no-known-database``).

The settings come with the repository: an environment whose ``db`` is a literal URL of a server on another
machine is asked only when the command line names it (``--ask-env NAME``, or its URL as a ``--db``), so that
a checkout cannot send the developer's driver credentials (``PGPASSWORD``, ``~/.pgpass``) to a host it chose.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemac.dialects.base import HISTORY_TABLE, Database
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import Diagnostic, SchemacError, fail
from schemac.migrations.manifest import MANIFEST_NAME
from schemac.migrations.published import AmendNote, PublishedFiles
from schemac.project.dev_databases import on_this_machine
from schemac.project.environments import DATABASE_VARIABLE, FROM_ENVIRONMENT, database_url
from schemac.project.settings import Settings, setting_diagnostic

if TYPE_CHECKING:
    from schemac.project.compiler import Output

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
MAX_REASON = 500
"""The longest ``--reason`` (characters): one line that says why, not a document."""
UNVERIFIED_OPTION = "--unverified-env"
ASK_OPTION = "--ask-env"
NO_KNOWN_OPTION = "--no-known-database"


@dataclass(frozen=True)
class KnownDatabase:
    """A database that may have applied the project's migrations.

    ``name`` is how the manifest records it (an environment's name, ``SCHEMAC_DB``, ``--db`` or
    ``--db N``), never its URL; ``url`` is ``None`` when it cannot be told or is not to be contacted
    (``unknown`` says why; ``remote``: a literal URL of the settings naming another machine).
    """

    name: str
    environment: bool
    url: str | None
    unknown: str = ""
    remote: bool = False


@dataclass(frozen=True)
class Verdict:
    """What the known databases say: the names asked, per dialect, the environments left unverified, and
    the dialects whose files change with no database of theirs known (allowed by ``--no-known-database``)."""

    checked: Mapping[str, tuple[str, ...]]
    unverified: tuple[str, ...]
    unknown: frozenset[str] = frozenset()


def checked_reason(reason: str | None, spec: str, version: int) -> str:
    """``reason`` as the manifest records it: SC532 at the amended version's spec when it is missing or not
    one printable line of at most :data:`MAX_REASON` characters."""
    text = (reason or "").strip()
    if text and len(text) <= MAX_REASON and text.isprintable():
        return text
    shown = "has no --reason" if not text else f"--reason must be one printable line of at most {MAX_REASON} characters"
    raise fail(
        spec,
        1,
        1,
        "SC532",
        f"build --amend {version} {shown}: the manifest records why each published version was amended",
        f"build --amend {version} --reason 'why the published file must change'",
    )


def known_databases(
    settings: Settings, dbs: Sequence[str], ask: Sequence[str] = (), environ: Mapping[str, str] = os.environ
) -> list[KnownDatabase]:
    """Every environment of the settings (in name order), then ``SCHEMAC_DB`` when set, then each ``--db``
    that is not an environment's URL. An environment whose literal URL names a server on another machine
    is not to be contacted (``url`` ``None``, ``remote``) unless it is in ``ask`` or its URL is a ``--db``."""
    known = []
    for name, value in settings.environments:
        try:
            url, _ = database_url(settings, None, name, environ)
        except SchemacError as exc:
            known.append(KnownDatabase(name, True, None, exc.diagnostics[0].message))
            continue
        if value.startswith(FROM_ENVIRONMENT) or name in ask or url in dbs or _local(url):
            known.append(KnownDatabase(name, True, url))
            continue
        shown = parse_url(url).shown  # SC601 for a URL that does not read one way: bad input, refused
        message = (
            f"environment '{name}' names {shown}, a server on another machine, in the settings that come with the "
            "repository, and is contacted only when the command line names it"
        )
        known.append(KnownDatabase(name, True, None, message, remote=True))
    if environ.get(DATABASE_VARIABLE):
        known.append(KnownDatabase(DATABASE_VARIABLE, False, environ[DATABASE_VARIABLE]))
    environment_urls = {database.url for database in known if database.environment}
    for i, db in enumerate(dbs, 1):
        if db not in environment_urls:  # an environment's own URL is asked once, under its name
            known.append(KnownDatabase("--db" if len(dbs) == 1 else f"--db {i}", False, db))
    return known


def _local(url: str) -> bool:
    """Whether ``url`` is a SQLite file or a server on this machine (no parameters that could name another)."""
    return parse_url(url).dialect == "sqlite" or on_this_machine(url)


def environment_secrets(settings: Settings, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Every password the environments' URLs hold (an ``env:`` variable read now), longest first: what no
    output of ``build --amend VERSION``, which may ask each of them, may show."""
    found: set[str] = set()
    for name, _ in settings.environments:
        try:
            found.update(database_url(settings, None, name, environ)[1])
        except SchemacError:
            continue  # its variable is unset or holds no URL: nothing of it is shown
    return tuple(sorted(found, key=len, reverse=True))


def verdict(
    settings: Settings,
    version: int,
    rewritten: Mapping[str, Mapping[int, str]],
    known: Sequence[KnownDatabase],
    unverified: Sequence[str],
    ask: Sequence[str] = (),
    no_known_database: bool = False,
) -> Verdict:
    """Ask every known database of each dialect in ``rewritten`` (dialect → version → file the amend rewrites)
    which versions it has applied; refuse (SC533) when one applied a rewritten version or a later one, and
    (SC534) when one cannot be asked, unless it is an environment in ``unverified``, and when no database of
    a rewritten dialect answers, unless ``no_known_database``."""
    environments = {name for name, _ in settings.environments}
    problems: list[Diagnostic] = []
    for option, names in ((UNVERIFIED_OPTION, unverified), (ASK_OPTION, ask)):
        for name in names:
            if name not in environments:
                listed = ", ".join(sorted(environments)) or "none"
                message = f"{option} {name}: no environment '{name}' in the settings (environments: {listed})"
                problems.append(_at(settings, None, "SC534", message, "name an [environments.NAME] table"))
    checked: dict[str, list[str]] = {dialect: [] for dialect in rewritten}
    left: list[str] = []
    for database in known:
        cannot_tell = f", so whether it has applied version {version} or a later one cannot be told"
        if database.url is None:
            if database.name in unverified:
                left.append(database.name)
            else:
                problems.append(_unknown(settings, database, database.unknown + cannot_tell, version))
            continue
        target = parse_url(database.url)  # SC601 for a URL that does not read one way: bad input, refused
        files = rewritten.get(target.dialect)
        if not files:
            continue  # none of its engine's files changes
        try:
            applied = _applied(target)
        except SchemacError as exc:
            first = exc.diagnostics[0]
            if first.code != "SC606":
                raise  # a history schemac cannot have written (SC612) is refused as apply refuses it
            if database.name in unverified:
                left.append(database.name)
                continue
            message = f"{_label(database, target.shown)} cannot be reached ({first.message}){cannot_tell}"
            problems.append(_unknown(settings, database, message, version, target.shown))
            continue
        checked[target.dialect].append(database.name)
        first_rewritten = min(files)
        hit = min((v for v in applied if v >= first_rewritten), default=None)
        if hit is None:
            continue
        label = _label(database, target.shown)
        if applied[hit] == RUNNER_TABLE:
            label += f" (its {RUNNER_TABLE} table)"
        if hit in files:
            message = f"{label} has applied version {hit}, and build --amend {version} changes its file {files[hit]}"
        else:
            message = (
                f"{label} has applied version {hit}, after {files[first_rewritten]} that build --amend {version} "
                "changes: a runner would never run the new file"
            )
        hint = "a file a database applied stays as it is: change the schema with a follow-up spec"
        problems.append(_at(settings, database, "SC533", message, hint, target.shown))
    unknown = frozenset(dialect for dialect, names in checked.items() if not names)
    if not no_known_database:
        for dialect in sorted(unknown):
            message = (
                f"build --amend {version} changes {dialect} files, and no {dialect} database was asked (an "
                f"environment, SCHEMAC_DB or a --db), so whether one has applied version {version} or a later one "
                "cannot be told"
            )
            hint = (
                f"give each {dialect} database with --db or an [environments.NAME] table; if none has applied "
                f"version {version}, add {NO_KNOWN_OPTION} (the manifest records it)"
            )
            problems.append(_at(settings, None, "SC534", message, hint))
    if problems:
        raise SchemacError(problems)
    answered = {dialect: tuple(asked) for dialect, asked in checked.items()}
    return Verdict(answered, tuple(sorted(set(left))), unknown)


RUNNER_TABLE = "_migrations"
"""The table of the application runner ``docs/applying.md`` describes: a row per version it ran, in a column
``version``. The amend reads it beside schemac's history, as that runner runs only versions above the newest."""


def _applied(target: Target) -> dict[int, str]:
    """The versions a database records as applied, or begun by a run left part-way, each with the table
    that records it: schemac's, or a runner's ``_migrations`` with a ``version`` column (read only)."""
    from schemac.applier.records import read_history, read_progress

    database = connect(target, CONNECT_TIMEOUT_S, read_only=True, read_timeout=READ_TIMEOUT_S)
    try:
        history, bad = read_history(database, target)
        progress, bad_progress = read_progress(database, target)
        theirs = _runner_versions(database, target)
    finally:
        database.close()
    if bad or bad_progress:
        raise SchemacError([*bad, *bad_progress])
    return {version: RUNNER_TABLE for version in theirs} | dict.fromkeys([*history, *progress], HISTORY_TABLE)


def _runner_versions(database: Database, target: Target) -> set[int]:
    """The versions a runner's ``_migrations`` table records (none without the table or its column); SC606
    when the table cannot be read, so that the database counts as one that cannot be asked."""
    try:
        if not database.table_exists(RUNNER_TABLE) or "version" not in database.column_names(RUNNER_TABLE):
            return set()
        rows = database.query(f"SELECT version FROM {RUNNER_TABLE}")
    except database.driver_error as exc:
        from schemac.applier.records import one_line

        raise fail(target.shown, 1, 1, "SC606", f"cannot read its {RUNNER_TABLE} table: {one_line(exc)}") from None
    found = set()
    for (value,) in rows:
        try:
            found.add(int(value))
        except (TypeError, ValueError):
            continue  # not a version number this runner could have compared
    return found


def _label(database: KnownDatabase, shown: str) -> str:
    return f"environment '{database.name}'" if database.environment else f"{database.name} ({shown})"


def _at(
    settings: Settings, database: KnownDatabase | None, code: str, message: str, hint: str, shown: str = ""
) -> Diagnostic:
    """A finding at the environment's table in the settings, or at the database as messages show it."""
    if database is None or database.environment:
        key = f"environments.{database.name}" if database else "environments"
        return setting_diagnostic(settings, key, code, message, hint)
    return Diagnostic(shown or database.name, 1, 1, code, message, hint)


def _unknown(settings: Settings, database: KnownDatabase, message: str, version: int, shown: str = "") -> Diagnostic:
    if database.remote:
        hint = (
            f"if it is your database, name it with {ASK_OPTION} {database.name} (or give its URL with --db); if it "
            f"cannot have applied version {version}, name it with {UNVERIFIED_OPTION} {database.name}"
        )
    elif database.environment:
        hint = (
            f"make it reachable, or, if it cannot have applied version {version}, "
            f"name it with {UNVERIFIED_OPTION} {database.name}"
        )
    elif database.name == DATABASE_VARIABLE:
        hint = f"make it reachable, or unset {DATABASE_VARIABLE}"
    else:
        hint = "make it reachable, or leave that --db out"
    return _at(settings, database, "SC534", message, hint, shown)


def amend_notes(
    settings: Settings,
    plans: Sequence[tuple[Output, PublishedFiles]],
    version: int,
    reason: str | None,
    dbs: Sequence[str],
    unverified: Sequence[str],
    ask: Sequence[str] = (),
    no_known_database: bool = False,
) -> dict[str, AmendNote]:
    """Per dialect, what the manifest records of ``build --amend version`` over ``plans`` (each dialect's
    output and published files), once the version is published (SC531), something changes (SC531), a
    reason is given (SC532) and no known database has applied what changes (SC533, SC534); ``ask`` names the
    environments on another machine to contact, ``no_known_database`` allows an engine with none known."""
    rewritten: dict[str, dict[int, str]] = {}
    changed = False
    published_at: str | None = None
    spec = None
    for output, published in plans:
        recorded = published.manifest.by_file() if published.manifest else {}
        if any(e.version == version for e in recorded.values()):
            published_at = published_at or output.dialect
        for entry in output.manifest.entries:
            old = recorded.get(entry.file)
            if old is None or entry.version < version:
                continue
            spec = spec or (entry.spec if entry.version == version else None)
            changed = changed or (old.sha256, old.spec_sha256) != (entry.sha256, entry.spec_sha256)
            if old.sha256 != entry.sha256:
                rewritten.setdefault(output.dialect, {})[entry.version] = entry.file
    manifest = settings.relative(plans[0][1].directory / MANIFEST_NAME) if plans else "migrations"
    if published_at is None or spec is None:
        raise fail(
            manifest,
            1,
            1,
            "SC531",
            f"build --amend {version}: version {version} is not a published version a spec gives",
            "amend a version the manifest lists (a new version is built without --amend)",
        )
    if not changed:
        raise fail(
            spec,
            1,
            1,
            "SC531",
            f"build --amend {version}: the specs give version {version} and every later one as published: "
            "nothing to amend",
            f"correct the spec of version {version} first, then amend it",
        )
    text = checked_reason(reason, spec, version)
    known = known_databases(settings, dbs, ask)
    found = verdict(settings, version, rewritten, known, unverified, ask, no_known_database)
    return {
        output.dialect: AmendNote(
            text, found.checked.get(output.dialect, ()), found.unverified, output.dialect in found.unknown
        )
        for output, _ in plans
    }
