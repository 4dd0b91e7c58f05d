"""``import_spec``: one spec written from a live database (``--db``) or from a directory of SQL files
(``--from-sql``), read back with schemac's own reader and planned with the project's other specs before
it is written.

The directory's files run, every ``*.sql`` in the order the first user's loader runs them (ascending by
the integer before the first ``_``), in a :class:`~schemac.migrations.scratch.ScratchDatabase` inside a
child process with a time limit, as ``build`` replays adopted files; the database they leave is then
read like any SQLite database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemac import dialects
from schemac.dialects.base import OWN_TABLES, Database
from schemac.dialects.connections import Target, connect, parse_url
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail
from schemac.importing.catalog import Catalog, reader
from schemac.importing.mapping import Options, map_catalog
from schemac.importing.writer import Data, spec_document, spec_text
from schemac.model import ForeignKey, Table
from schemac.project.settings import Settings, load_settings
from schemac.spec.source import CONTROL_SOURCES, Document

IMPORT_TIMEOUT = 30.0
"""Seconds to wait for a database that another connection holds locked."""
SQL_FILE = re.compile(r"(?P<version>[0-9]+)_.*\.sql")


@dataclass(frozen=True)
class ImportResult:
    path: Path
    """The spec written (the first, when foreign keys that close a cycle need a second)."""
    tables: tuple[str, ...]
    """The tables it declares, in catalog order."""
    warnings: tuple[Diagnostic, ...]
    """What was not imported as it is (SC615, SC617), each naming the database at 1:1."""
    file: str = ""
    """``path`` as findings name it (``specs/0001_import.yaml``)."""
    paths: tuple[Path, ...] = ()
    """Every spec written, in version order: ``path``, then, where the database has foreign keys that
    close a cycle (which one spec cannot create), the spec that adds them (``<slug>_cycles``)."""
    files: tuple[str, ...] = ()
    """``paths`` as findings name them."""


def _refuse(source: str, message: str, hint: str = "") -> SchemacError:
    return fail(source, 1, 1, "SC618", message, hint)


def import_spec(
    project: str | Path = ".",
    *,
    db: str | None = None,
    from_sql: str | Path | None = None,
    baseline: bool = False,
    tables: Iterable[str] | None = None,
    strict: bool = False,
    slug: str | None = None,
) -> ImportResult:
    """Write ``specs/<version>_<slug>.yaml`` describing the tables of the database ``db`` (a URL as
    ``--db`` takes it) or of the one the SQL files in ``from_sql`` build.

    With ``baseline`` the spec is the project's baseline (``baseline: true``), numbered as the newest
    adopted file (the next free version without one); otherwise a normal spec at the next free version.
    ``tables`` limits it to those tables. What a spec cannot express is a warning (SC615, and SC617 for a
    type only approximated); with ``strict`` those are errors and nothing is written (exit 1). A table
    that only a baseline can describe (audit columns no policy gives, a nullable key column) without
    ``baseline`` is SC616; bad input SC618; a spec that would not compile SC619 with its findings.

    Foreign keys that close a cycle of references between tables, which one spec cannot create, go in a
    second spec numbered next (``<slug>_cycles``) that restates the tables having them (see
    :attr:`ImportResult.paths`). Both are read back and planned with the project's specs before either
    is written.
    """
    from schemac.project.compiler import require_specs_dir

    settings = load_settings(Path(project))
    if (db is None) == (from_sql is None):
        raise _refuse("--db", "pass exactly one of --db and --from-sql", "schemac import --db URL or --from-sql DIR")
    slug = slug or ("baseline" if baseline else "import")
    from schemac.spec.source import SPEC_NAME

    if SPEC_NAME.fullmatch(f"0_{slug}.yaml") is None:
        raise fail("--slug", 1, 1, "SC112", f"slug '{slug}' must match [a-z0-9_]+")
    wanted = frozenset(t.strip() for t in tables if t.strip()) if tables is not None else None
    settings.specs_dir.mkdir(parents=True, exist_ok=True)
    require_specs_dir(settings)
    if baseline:
        _refuse_baseline(settings)
    with _source(settings, db, from_sql) as (database, target):
        catalog = _read(database, target, settings, wanted)
        options = Options(baseline, settings.audit_default, target.shown, settings.audit_defaults)
        mapped = map_catalog(catalog, dialects.get(catalog.dialect), options, database.definitions)
    if mapped.errors:  # with SC643, which may say why: the engine could not word the checks and defaults
        raise SchemacError([*mapped.errors, *(w for w in mapped.warnings if w.code == "SC643")])
    if strict and mapped.warnings:
        raise SchemacError([replace(w, severity="error") for w in mapped.warnings], EXIT_FINDINGS)
    prefix = _version_prefix(settings, baseline)
    deferred = cycle_keys(mapped.tables)
    specs = [_Written(settings, prefix, slug, _without(mapped.tables, deferred))]
    specs[0].write(_document(settings, specs[0].tables, target.shown, baseline))
    if deferred:
        follow = f"{int(prefix) + 1:0{len(prefix)}d}"
        closing = [t for t in mapped.tables if t.name in deferred]
        specs.append(_Written(settings, follow, f"{slug}_cycles", closing))
        description = f"The foreign keys of {target.shown} that close a cycle, which one spec cannot create."
        specs[1].write(_document(settings, closing, target.shown, False, description))
    for spec in specs:
        if spec.path.exists() or spec.path.is_symlink():
            raise _refuse(spec.file, f"{spec.file} already exists", "pass another --slug")
    _check(settings, specs)
    for spec in specs:
        with open(spec.path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(spec.text)
    return ImportResult(
        specs[0].path,
        tuple(t.name for t in mapped.tables),
        tuple(mapped.warnings),
        specs[0].file,
        tuple(s.path for s in specs),
        tuple(s.file for s in specs),
    )


@dataclass
class _Written:
    """One spec to write: where, and the tables it declares."""

    settings: Settings
    prefix: str
    slug: str
    tables: list[Table]
    document: Data = field(default_factory=dict)
    text: str = ""

    def write(self, document: Data) -> None:
        from schemac.api import schema_comment

        self.document = document
        self.text = spec_text(document, schema_comment(self.settings))

    @property
    def path(self) -> Path:
        return self.settings.specs_dir / f"{self.prefix}_{self.slug}.yaml"

    @property
    def file(self) -> str:
        return self.settings.relative(self.path)


def cycle_keys(tables: Sequence[Table]) -> dict[str, set[str]]:
    """Table → the names of its foreign keys that close a cycle of references between tables (a key to
    the table itself is none): without them, one spec creates every table, referenced ones first; a
    second spec adds them. Each cycle, found depth first in catalog order, gives up a key on nullable
    columns where it has one (the key a row can be written without), else the key that closed it."""
    by_name = {t.name: t for t in tables}
    deferred: dict[str, set[str]] = {}
    while (cycle := _cycle(tables, by_name, deferred)) is not None:
        nullable = ((table, fk) for table, fk in cycle if all(table.columns_by_name[c].nullable for c in fk.columns))
        table, fk = next(nullable, cycle[-1])
        deferred.setdefault(table.name, set()).add(fk.name)
    return deferred


def _cycle(
    tables: Sequence[Table], by_name: Mapping[str, Table], deferred: Mapping[str, set[str]]
) -> list[tuple[Table, ForeignKey]] | None:
    """The keys of one cycle of references (the one that closes it last), not counting ``deferred`` ones."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[tuple[Table, ForeignKey]] = []

    def walk(table: Table) -> list[tuple[Table, ForeignKey]] | None:
        state[table.name] = 1
        for fk in table.foreign_keys:
            target = by_name.get(fk.ref_table)
            if target is None or target is table or fk.name in deferred.get(table.name, ()):
                continue
            if state.get(target.name) == 1:
                start = next((i for i, (t, _) in enumerate(path) if t is target), len(path))
                return [*path[start:], (table, fk)]
            if target.name not in state:
                path.append((table, fk))
                found = walk(target)
                path.pop()
                if found is not None:
                    return found
        state[table.name] = 2
        return None

    for table in tables:
        if table.name not in state and (found := walk(table)) is not None:
            return found
    return None


def _without(tables: Sequence[Table], deferred: Mapping[str, set[str]]) -> list[Table]:
    return [
        dataclasses.replace(t, foreign_keys=tuple(f for f in t.foreign_keys if f.name not in deferred.get(t.name, ())))
        for t in tables
    ]


def _refuse_baseline(settings: Settings) -> None:
    """A baseline is the first spec: refused where the project has a spec or a raw SQL step already."""
    from schemac.project.compiler import discover
    from schemac.project.steps import discover_steps

    files, _ = discover(settings)
    steps, _ = discover_steps(settings)
    existing = sorted([f.display for f in files] + [s.display for s in steps])
    if existing:
        raise _refuse(
            existing[0],
            f"--baseline: a baseline is the project's first spec, and {existing[0]} exists",
            "import without --baseline, or into a project without specs",
        )


def _version_prefix(settings: Settings, baseline: bool) -> str:
    """A baseline's version is the newest adopted file's (its prefix as written); any other spec's, and a
    baseline's in a project without adopted files, the next free version (as ``schemac new`` numbers)."""
    from schemac.api import next_version_prefix
    from schemac.migrations.published import locate

    if baseline:
        manifests = [locate(settings, name).manifest for name in settings.dialects]
        adopted = [a for manifest in manifests if manifest is not None for a in manifest.adopted]
        if adopted:
            newest = max(adopted, key=lambda a: a.version)
            return newest.file.split("_", 1)[0]
    return next_version_prefix(settings)


@contextmanager
def _source(settings: Settings, db: str | None, from_sql: str | Path | None) -> Iterator[tuple[Database, Target]]:
    """The database to read, open for the block, and how findings name it."""
    if db is not None:
        target = parse_url(db)
        database = connect(target, IMPORT_TIMEOUT, read_only=True)
    else:
        assert from_sql is not None
        target, database = _from_sql(Path(from_sql))
    try:
        yield database, target
    finally:
        database.close()


def _from_sql(directory: Path) -> tuple[Target, Database]:
    """An in-memory SQLite database holding what the SQL files in ``directory`` build."""
    from schemac.dialects.sqlite import SQLiteDatabase
    from schemac.migrations.manifest import MAX_VERSION
    from schemac.migrations.replay import LIMIT_HINT, REPLAY_SECONDS
    from schemac.project.inputs import MAX_MIGRATION_BYTES, decode, read_bytes
    from schemac.project.workers import ChildTimeout, in_child

    shown = directory.as_posix()
    if not directory.is_dir():
        raise _refuse(shown, f"--from-sql: '{shown}' is not a directory")
    root = directory.resolve()
    files: list[tuple[int, str, str]] = []
    versions: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
        display = f"{shown}/{path.name}"
        match = SQL_FILE.fullmatch(path.name)
        if match is None or int(match.group("version")) > MAX_VERSION:
            raise _refuse(
                display,
                f"--from-sql: '{path.name}' is not named <version>_<name>.sql, so no loader knows when to run it",
                "rename it, or move it out of the directory",
            )
        version = int(match.group("version"))
        if version in versions:
            raise _refuse(
                display,
                f"--from-sql: '{path.name}' has version {version}, as '{versions[version]}' has: "
                "the order they run in is not known",
                "renumber one of them",
            )
        versions[version] = path.name
        files.append((version, decode(read_bytes(path, display, MAX_MIGRATION_BYTES, root=root), display), display))
    if not files:
        raise _refuse(shown, f"--from-sql: '{shown}' holds no .sql file")
    files.sort()

    def build() -> tuple[bytes | None, list[Diagnostic]]:
        from schemac.migrations.scratch import ScratchDatabase

        with ScratchDatabase() as scratch:
            for _, text, display in files:
                try:
                    scratch.run(text, display)
                except SchemacError as exc:
                    return None, list(exc.diagnostics)
            return scratch.serialize(), []

    try:
        data, problems = in_child(build, REPLAY_SECONDS)
    except ChildTimeout as stop:
        message = f"cannot run the SQL files in a scratch SQLite database: {stop}"
        raise fail(shown, 1, 1, "SC528", message, LIMIT_HINT) from None
    if data is None:
        raise SchemacError(problems)
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.deserialize(data)
    target = Target(":memory:", "sqlite", shown)
    return target, SQLiteDatabase(target, connection)


def _read(database: Database, target: Target, settings: Settings, wanted: frozenset[str] | None) -> Catalog:
    """The catalog, without schemac's own tables and the project's ``ignore_tables``; SC618 for a table
    ``wanted`` names that the database does not have, for a key to a table left out, and for no table."""
    ignored = settings.ignore_tables | OWN_TABLES
    try:
        read = reader(target.dialect)
    except (KeyError, ImportError):
        raise _refuse(target.shown, f"schemac import cannot read {target.dialect} databases yet") from None
    catalog = read(database, None if wanted is None else wanted - ignored)
    tables = tuple(t for t in catalog.tables if t.name not in ignored)
    names = {t.name for t in tables}
    for name in sorted((wanted or set()) - names):
        why = "the project's ignore_tables names it" if name in settings.ignore_tables else "it has no such table"
        raise _refuse(target.shown, f"--tables: cannot import '{name}': {why}")
    for table in tables:
        for fk in table.foreign_keys:
            if fk.ref_table not in names:
                raise _refuse(
                    target.shown,
                    f"table '{table.name}' references '{fk.ref_table}', which is not imported",
                    f"import '{fk.ref_table}' too (--tables)" if wanted is not None else "remove it from ignore_tables",
                )
    if not tables:
        raise _refuse(target.shown, f"{target.shown} has no table to import")
    unsupported = tuple(
        u
        for u in catalog.unsupported
        if u.name.split(".")[0] not in ignored and u.detail.removeprefix("on ") not in ignored
    )
    return Catalog(catalog.dialect, tables, unsupported)


def _document(settings: Settings, tables: Sequence[Table], source: str, baseline: bool, description: str = "") -> Data:
    if not description:
        description = f"The schema of {source}, imported as the baseline." if baseline else f"Imported from {source}."
    return spec_document(tables, description, baseline=baseline, audit_default=settings.audit_default)


def _check(settings: Settings, written: list[_Written]) -> None:
    """Read the specs back and plan them after the project's other specs: SC619 with every finding when
    they would not compile, or when they read back as other tables than were imported.

    The specs are read from the data their text reads as (the writer makes both), which skips parsing
    the YAML; only when that finds a problem is the text read again, so that each finding has its line."""
    found = _findings(settings, written, parsed=False)
    if any(d.severity == "error" for d in found):
        found = _findings(settings, written, parsed=True)
    errors = [d for d in found if d.severity == "error"]
    if errors:
        summary = Diagnostic(
            written[0].file,
            1,
            1,
            "SC619",
            f"the imported spec would not compile ({len(errors)} finding{'s' if len(errors) != 1 else ''} below): "
            "nothing was written",
            "fix the database or the project's other specs, or leave the tables concerned out with --tables",
        )
        raise SchemacError([summary, *errors])


def _findings(settings: Settings, written: list[_Written], *, parsed: bool) -> list[Diagnostic]:
    """What reading the specs (their text when ``parsed``, else their data) and planning them finds."""
    from schemac.planner import plan
    from schemac.project.compiler import SpecFile, read_spec, read_specs, spec_of_document
    from schemac.spec import expressions
    from schemac.spec.audit import with_audit

    specs, found = read_specs(settings)
    mine = []
    for spec_file in written:
        location = SpecFile(spec_file.path, spec_file.file, int(spec_file.prefix), spec_file.prefix, spec_file.slug)
        raw = spec_file.text.encode("utf-8")
        if parsed:
            spec, problems = read_spec(location, settings.audit_default, raw)
        else:
            controls = CONTROL_SOURCES.search(spec_file.text) is not None
            document = Document(location.display, spec_file.document, hashlib.sha256(raw).hexdigest(), {}, {}, controls)
            spec, problems = spec_of_document(document, location, settings.audit_default)
        found += problems
        if spec is not None:
            mine.append(spec)
    if len(mine) == len(written) and not any(d.severity == "error" for d in found):
        plans, problems = plan(sorted([*specs, *mine], key=lambda s: s.version))
        found += problems
        for version in (p for p in plans if any(p.spec is s for s in mine)):
            if "sqlite" in settings.dialects:
                found += expressions.check_tables(version.spec, version.declared)
            for name in settings.dialects:
                found += dialects.unsupported(dialects.get(name), version.spec, version.declared)
        for spec, spec_file in zip(mine, written, strict=True):
            if not found and [_shape(t) for t in spec.tables] != [_shape(with_audit(t)) for t in spec_file.tables]:
                message = "the spec reads back as other tables than were imported"
                found.append(Diagnostic(spec_file.file, 1, 1, "SC619", message))
    return found


def _shape(table: Table) -> tuple[object, ...]:
    """What the spec says of ``table``: its shape (by digest, which a table read from a spec already
    has), descriptions and audit policy."""
    return (
        table.digest,
        table.description,
        table.audit,
        [c.description for c in table.columns],
    )
