"""``schemac import`` on SQLite: the catalog reader, the spec it writes (exact bytes), the round trip of
the import fixture (build, apply, import, build again, verify both databases: no difference), adoption
of hand-written files with ``--from-sql``, and every refusal and warning with its exact message.

The fixture project (``tests/import_fixture``) is engine-neutral: it builds for SQLite, PostgreSQL and
MariaDB, and the server tests (``tests/test_import_engines.py``) run the same round trip there.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import schemac
from conftest import REPO, findings, run_cli
from schemac.applier.states import migrations_for
from schemac.applier.verification import schema_differences
from schemac.dialects.connections import connect, parse_url
from schemac.errors import Diagnostic
from schemac.importing import importer
from schemac.importing.catalog import (
    READERS,
    Catalog,
    ImportedColumn,
    ImportedForeignKey,
    ImportedIndex,
    ImportedTable,
    Unsupported,
    reader,
)
from schemac.importing.writer import quoted, scalar
from schemac.migrations.scratch import ScratchDatabase
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings
from schemac.spec.source import load_document

FIXTURE = REPO / "tests" / "import_fixture"
GOLDEN = FIXTURE / "golden"
ADOPTING = REPO / "examples" / "adopting" / "migrations"
HAND_WRITTEN = (
    "001_initial_schema.sql",
    "005_template_catalog.sql",
    "013_backfill_section_records.sql",
    "20251013_quality_gates.sql",
    "20251110_template_bootstrap.sql",
)
KEEP = "(hint: it stays in the database as it is; schemac neither makes nor verifies it)"
PART = "(hint: what the spec leaves out stays in the database as it is; schemac neither makes nor verifies it)"


def differences(project: Path, db: Path | str) -> list[Diagnostic]:
    """What ``verify`` reports for ``db`` against the newest spec of ``project`` (whatever its history says)."""
    settings = load_settings(project)
    target = parse_url(str(db))
    _, migrations = migrations_for(settings, target)
    compiled = compile_project(settings)
    database = connect(target, 30.0, read_only=True)
    try:
        return schema_differences(database, target, compiled, migrations, compiled.plans[-1].spec.version)
    finally:
        database.close()


def new_project(root: Path, settings: Path | None = FIXTURE / "schemac.toml") -> Path:
    root.mkdir(parents=True)
    if settings is not None:
        shutil.copy(settings, root / "schemac.toml")
    schemac.init(root)
    return root


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The import fixture, built (every engine) and applied to a SQLite file: ``<project>/app.db``."""
    project = tmp_path_factory.mktemp("fixture") / "project"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("golden"))
    schemac.build(project, cache=False)
    assert schemac.apply(project, str(project / "app.db")).current_version == 2
    return project / "app.db"


def small_db(directory: Path) -> Path:
    """The hand-written golden schema (``golden/small.sql``) in ``directory/small.db``."""
    path = directory / "small.db"
    connection = sqlite3.connect(path)
    connection.executescript((GOLDEN / "small.sql").read_text(encoding="utf-8"))
    connection.close()
    return path


# --- the interface the engine readers implement ---------------------------------------------------


def test_the_readers_are_registered_lazily_by_dialect() -> None:
    assert set(READERS) == {"sqlite", "postgresql", "mariadb"}
    from schemac.importing import sqlite

    assert reader("sqlite") is sqlite.read_catalog
    assert READERS["sqlite"] is sqlite.read_catalog
    with pytest.raises(KeyError):
        reader("oracle")


def test_the_sqlite_reader_reads_a_hand_written_schema(tmp_path: Path) -> None:
    database = connect(parse_url(str(small_db(tmp_path))), 30.0, read_only=True)
    try:
        catalog = reader("sqlite")(database, None)
        only_authors = reader("sqlite")(database, frozenset({"authors"}))
    finally:
        database.close()
    authors = ImportedTable(
        "authors",
        (
            ImportedColumn("id", "text", True, None),
            ImportedColumn("name", "text", False, None),
            ImportedColumn("email", "text", False, None),
            ImportedColumn("active", "integer", False, "1"),
            ImportedColumn("created_at", "text", False, "CURRENT_TIMESTAMP"),
        ),
        ("id",),
        (("sqlite_autoindex_authors_2", ("email",)),),
        (),
        (),
        (("ck_authors_active_bool", '"active" IN (0, 1)'),),
    )
    books = ImportedTable(
        "books",
        (
            ImportedColumn("id", "integer", False, None, identity="rowid alias"),
            ImportedColumn("author_id", "text", False, None),
            ImportedColumn("title", "text", False, None),
            ImportedColumn("genre", "text", False, "'novel'"),
            ImportedColumn("price", "numeric", False, "0"),
            ImportedColumn("meta_json", "text", False, "'{}'"),
            ImportedColumn("note", "text", True, "'it''s: \"new\"'"),
            ImportedColumn("published_at", "text", True, None),
        ),
        ("id",),
        (),
        (
            ImportedIndex("books_by_author", (("author_id", False), ("published_at", True)), False, None),
            ImportedIndex(
                "books_title_per_author", (("author_id", False), ("title", False)), True, "published_at IS NOT NULL"
            ),
        ),
        (ImportedForeignKey("", ("author_id",), "authors", ("id",), "cascade", "no action"),),
        (
            ("ck_books_genre_enum", "\"genre\" IN ('novel', 'poetry', 'essay')"),
            ("ck_books_title_not_blank", "length(title) > 0"),
        ),
    )
    assert catalog == Catalog(
        "sqlite",
        (authors, books),
        (Unsupported("view", "recent_books"), Unsupported("trigger", "books_touch", "on books")),
    )
    assert only_authors == Catalog("sqlite", (authors,), ())


def test_the_sqlite_reader_reports_what_a_spec_cannot_express(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL COLLATE NOCASE,
            slug TEXT GENERATED ALWAYS AS (lower(title)) VIRTUAL,
            body TEXT CHECK (length(body) < 100)
        );
        CREATE INDEX notes_lower ON notes (lower(title));
        CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
        CREATE VIRTUAL TABLE notes_fts USING fts5(title, body);
        """
    )
    connection.close()
    database = connect(parse_url(str(path)), 30.0, read_only=True)
    try:
        catalog = reader("sqlite")(database, None)
    finally:
        database.close()
    assert [t.name for t in catalog.tables] == ["notes", "kv"]  # the full-text index's own tables are not
    assert [c.name for c in catalog.tables[0].columns] == ["id", "title", "body"]
    assert catalog.tables[0].checks == (("", "length(body) < 100"),)
    assert catalog.unsupported == (
        Unsupported("autoincrement", "notes.id"),
        Unsupported("collation", "notes.title", "COLLATE NOCASE"),
        Unsupported("generated column", "notes.slug"),
        Unsupported("expression index", "notes_lower", "on notes"),
        Unsupported("table option", "kv", "WITHOUT ROWID"),
        Unsupported("virtual table", "notes_fts", "CREATE VIRTUAL TABLE notes_fts USING fts5(title, body)"),
    )


# --- the round trip of the fixture -----------------------------------------------------------------


def test_the_fixture_has_every_shape_and_builds_for_every_engine() -> None:
    compiled = compile_project(load_settings(FIXTURE))
    tables = compiled.plans[-1].schema
    assert len(tables) >= 20
    types = {c.type.name for t in tables.values() for c in t.columns}
    assert types == {
        "text", "string", "integer", "bigint", "smallint", "boolean", "real", "double", "decimal",
        "timestamp", "date", "json", "uuid", "bytes",
    }  # fmt: skip
    assert {o.dialect for o in compiled.outputs} == {"sqlite", "postgresql", "mariadb"}
    assert any(len(t.primary_key) > 1 for t in tables.values())
    assert any(f.ref_table == t.name for t in tables.values() for f in t.foreign_keys)  # self-reference
    assert any(len(f.columns) > 1 for t in tables.values() for f in t.foreign_keys)
    references = {(t.name, f.ref_table) for t in tables.values() for f in t.foreign_keys if f.ref_table != t.name}
    assert any((b, a) in references for a, b in references)  # a cycle, closed by a later spec
    assert any(i.predicate for t in tables.values() for i in t.indexes)
    assert any(c.descending for t in tables.values() for i in t.indexes for c in i.columns)
    assert {t.audit for t in tables.values()} >= {("created", "updated", "deleted"), (), ("created",)}
    kinds = {(c.default.kind, type(c.default.value).__name__) for t in tables.values() for c in t.columns if c.default}
    assert kinds >= {("literal", "str"), ("literal", "int"), ("literal", "bool"), ("json", "str"), ("sql", "str")}


def test_import_round_trips_the_fixture_with_no_difference(fixture_db: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path / "imported")
    result = schemac.import_spec(project, db=str(fixture_db))
    assert result.files == ("specs/0001_import.yaml", "specs/0002_import_cycles.yaml")
    assert len(result.tables) == 23 and result.warnings == ()
    text = result.path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/spec.schema.json\ndescription: Imported from ")
    assert "created_at" not in text and "\nbaseline" not in text  # audit columns folded into policies
    assert "  users:\n    description: Imported from " in text and "    audit: [created]\n" in text
    assert "    audit: [created, deleted]\n" in text and "    audit: none\n" in text
    for line in (
        "      plan: {type: text, default: free, enum: [free, pro, enterprise]}\n",
        "      is_active: {type: boolean, default: true}\n",
        "      settings_json: {type: json, default: {}}\n",
        "      scopes_json: {type: json, default: []}\n",
        '      color: {type: string(7), default: "#cccccc"}\n',
        "      state: {type: integer, default: 0, enum: [0, 1, 2]}\n",
        "      occurred_at: {type: timestamp, default: {fn: now}}\n",
        # teams.id is an integer key: SQLite writes it BIGINT, a plain key, and the column referencing it follows
        "      parent_team_id: {type: bigint, nullable: true, references: teams.id, on_delete: set null}\n",
        "      priority: {type: integer, default: 3, check: priority BETWEEN 1 AND 5}\n",
        "    primary_key: [order_id, line_no]\n",
        "      - columns: [project_id, {name: due_at, order: desc}]\n        name: tasks_by_due_date\n",
        "      - columns: [title]\n        where: \"status <> 'archived'\"\n",
        "        references: {table: order_lines, columns: [order_id, line_no]}\n"
        "        name: fk_line_notes_order_line\n",
        "      - name: ends_after_starts\n",
    ):
        assert line in text, line
    cycles = result.paths[1].read_text(encoding="utf-8")  # projects -> milestones -> projects: added after both
    assert "\ntables:\n  projects:\n" in cycles and "  milestones:" not in cycles
    assert "      current_milestone_id: {type: text, nullable: true, references: milestones.id" in cycles
    assert "current_milestone_id: {type: text, nullable: true}\n" in text
    schemac.build(project)
    schemac.apply(project, str(project / "fresh.db"))
    assert schemac.verify(project, str(project / "fresh.db")).differences == ()
    assert differences(project, fixture_db) == []


def test_import_as_a_baseline_describes_the_fixture_with_no_difference(fixture_db: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path / "imported")
    result = schemac.import_spec(project, db=str(fixture_db), baseline=True)
    assert result.files == ("specs/0001_baseline.yaml", "specs/0002_baseline_cycles.yaml")
    text = result.path.read_text(encoding="utf-8")
    assert "\nbaseline: true\n" in text and "audit:" not in text
    assert '      created_by: {type: text, check: "length(created_by) > 0"}\n' in text
    cycles = result.paths[1].read_text(encoding="utf-8")  # a table of the baseline keeps its audit columns
    assert "  projects:\n    description: Imported from " in cycles and "\n    audit: none\n" in cycles
    assert '      created_by: {type: text, check: "length(created_by) > 0"}\n' in cycles
    written = schemac.build(project).written  # the baseline writes no migration; the keys that close a cycle do
    assert "migrations/sqlite/0002_baseline_cycles.sql" in written
    assert differences(project, fixture_db) == []


def test_import_writes_the_same_bytes_every_run(fixture_db: Path, tmp_path: Path) -> None:
    first = schemac.import_spec(new_project(tmp_path / "a"), db=str(fixture_db))
    second = schemac.import_spec(new_project(tmp_path / "b"), db=str(fixture_db))
    assert [p.read_bytes() for p in first.paths] == [p.read_bytes() for p in second.paths]


def test_the_data_the_import_checks_is_what_its_text_reads_as(
    fixture_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import checks each spec from the data the writer made beside the text, without parsing the
    text: every spec the fixture gives (normal, baseline, the cycles' second spec) must read as that data."""
    written: list[tuple[dict[str, object], str]] = []
    write = importer._Written.write

    def recording(self: importer._Written, document: dict[str, object]) -> None:
        write(self, document)
        written.append((document, self.text))

    monkeypatch.setattr(importer._Written, "write", recording)
    schemac.import_spec(new_project(tmp_path / "a"), db=str(fixture_db))
    schemac.import_spec(new_project(tmp_path / "b"), db=str(fixture_db), baseline=True)
    assert len(written) == 4
    for document, text in written:
        assert load_document(text.encode("utf-8"), "spec.yaml").data == document


# --- the golden case, the warnings, --strict --------------------------------------------------------


def test_a_hand_written_schema_gives_the_golden_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    small_db(tmp_path)
    project = new_project(tmp_path / "proj", None)
    result = schemac.import_spec(project, db="small.db", baseline=True)
    assert result.path.read_bytes() == (GOLDEN / "small.yaml").read_bytes()
    assert [str(w) for w in result.warnings] == [
        f"small.db:1:1: SC615 view 'recent_books' is not imported: a spec cannot express a view {KEEP}",
        f"small.db:1:1: SC615 trigger 'books_touch' is not imported: a spec cannot express a trigger (on books) {KEEP}",
    ]
    assert {w.severity for w in result.warnings} == {"warning"}
    again = schemac.import_spec(new_project(tmp_path / "again", None), db="small.db", baseline=True)
    assert again.path.read_bytes() == result.path.read_bytes()
    schemac.build(project)
    assert differences(project, "small.db") == []


def test_the_command_prints_warnings_as_findings_and_strict_fails(tmp_path: Path) -> None:
    small_db(tmp_path)
    new_project(tmp_path / "proj", None)
    strict = run_cli("import", "--db", "small.db", "--baseline", "--strict", "-p", "proj", cwd=tmp_path)
    assert strict.returncode == 1 and strict.stdout == ""
    assert strict.stderr.splitlines() == [
        f"small.db:1:1: SC615 trigger 'books_touch' is not imported: a spec cannot express a trigger (on books) {KEEP}",
        f"small.db:1:1: SC615 view 'recent_books' is not imported: a spec cannot express a view {KEEP}",
    ]
    assert not list((tmp_path / "proj" / "specs").iterdir())  # nothing written
    done = run_cli("import", "--db", "small.db", "--baseline", "-p", "proj", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == "wrote specs/0001_baseline.yaml (2 tables)\n"
    assert done.stderr.splitlines() == [
        f"small.db:1:1: SC615 view 'recent_books' is not imported: a spec cannot express a view {KEEP}",
        f"small.db:1:1: SC615 trigger 'books_touch' is not imported: a spec cannot express a trigger (on books) {KEEP}",
    ]
    as_json = run_cli(
        "import", "--db", "small.db", "--baseline", "--slug", "again", "-f", "json", "-p", "proj", cwd=tmp_path
    )
    assert as_json.returncode == 2  # a baseline is the first spec, and there is one now
    assert '"code": "SC618"' in as_json.stdout


def test_without_baseline_a_hand_written_table_is_refused_naming_why(tmp_path: Path) -> None:
    small_db(tmp_path)
    project = new_project(tmp_path / "proj", None)
    assert findings(lambda: schemac.import_spec(project, db=str(tmp_path / "small.db"))) == [
        f"{tmp_path}/small.db:1:1: SC616 table 'authors' can only be described by a baseline spec: its audit columns "
        "(created_at) are not those an audit policy adds and its primary key column id can hold NULL "
        "(hint: import with --baseline, or leave the table out with --tables)"
    ]
    assert not list((project / "specs").iterdir())


def test_tables_limits_the_import_and_every_reference_must_be_imported(fixture_db: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path / "proj")
    db = str(fixture_db)
    assert findings(lambda: schemac.import_spec(project, db=db, tables=["users"])) == [
        f"{db}:1:1: SC618 table 'users' references 'accounts', which is not imported "
        "(hint: import 'accounts' too (--tables))"
    ]
    assert findings(lambda: schemac.import_spec(project, db=db, tables=["accounts", "nope"])) == [
        f"{db}:1:1: SC618 --tables: cannot import 'nope': it has no such table"
    ]
    result = run_cli("import", "--db", db, "--tables", "users, accounts", "-p", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "wrote specs/0001_import.yaml (2 tables)\n"
    spec = load_document((project / "specs" / "0001_import.yaml").read_bytes(), "spec").data
    assert list(spec["tables"]) == ["accounts", "users"]  # catalog order


# --- --from-sql: adopting hand-written files --------------------------------------------------------


def test_from_sql_writes_the_baseline_that_verifies_against_what_the_files_built(tmp_path: Path) -> None:
    from first_user import Runner

    project = tmp_path / "app"
    (project / "migrations").mkdir(parents=True)
    for name in HAND_WRITTEN:
        shutil.copy(ADOPTING / name, project / "migrations" / name)
    shutil.copy(ADOPTING.parent / "schemac.toml", project / "schemac.toml")
    runner = Runner(tmp_path / "legacy.db")  # the application's own runner built this database
    try:
        assert runner.apply(project / "migrations") == [1, 5, 13, 20251013, 20251110]
    finally:
        runner.close()
    schemac.init(project)
    schemac.adopt(project)
    result = run_cli("import", "--from-sql", "migrations", "--baseline", "-p", ".", cwd=project)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "wrote specs/20251110_baseline.yaml (4 tables)\n"  # at the newest adopted version
    text = (project / "specs" / "20251110_baseline.yaml").read_text(encoding="utf-8")
    assert text == (
        "# yaml-language-server: $schema=../schema/spec.schema.json\n"
        'description: "The schema of migrations, imported as the baseline."\n'
        "baseline: true\n"
        "tables:\n"
        "  documents:\n"
        "    description: Imported from migrations.\n"
        "    columns:\n"
        "      id: {type: text, nullable: true, primary_key: true}\n"
        "      title: {type: text}\n"
        "      created_at: {type: timestamp, default: {fn: now}}\n"
        "  sections:\n"
        "    description: Imported from migrations.\n"
        "    columns:\n"
        "      id: {type: text, nullable: true, primary_key: true}\n"
        "      document_id: {type: text, references: documents.id, on_delete: cascade}\n"
        "      position: {type: integer}\n"
        '      body: {type: text, default: ""}\n'
        "  templates:\n"
        "    description: Imported from migrations.\n"
        "    columns:\n"
        "      id: {type: text, nullable: true, primary_key: true}\n"
        "      name: {type: text, unique: true}\n"
        "  quality_gates:\n"
        "    description: Imported from migrations.\n"
        "    columns:\n"
        "      id: {type: text, nullable: true, primary_key: true}\n"
        "      section_id: {type: text, references: sections.id, on_delete: cascade}\n"
        "      passed: {type: integer, default: 0}\n"
        "    indexes:\n"
        "      - columns: [section_id]\n"
        "        name: quality_gates_section\n"
    )
    schemac.build(project)
    assert schemac.check(project).ok
    recorded = schemac.baseline(project, str(tmp_path / "legacy.db"))  # compares as verify does: no difference
    assert recorded.version == 20251110
    assert schemac.verify(project, str(tmp_path / "legacy.db")).differences == ()


def test_a_live_database_imported_as_the_baseline_verifies_and_evolves(tmp_path: Path) -> None:
    """A hand-written SQLite database with checks named by hand, imported with ``--baseline`` into a project
    that adopted no file: the checks keep their names (``constraint:``); ``baseline`` has no file to record,
    and ``verify`` compares a database that records nothing with the baseline spec; a later version that
    rebuilds the table keeps the names, and the database verifies after ``apply``."""
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as con:
        con.execute(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, price REAL NOT NULL, sku TEXT NOT NULL, "
            "CONSTRAINT products_price_check CHECK (price > 0), CONSTRAINT sku_not_blank CHECK (sku <> ''), "
            "CONSTRAINT ck_products_2nd CHECK (id > 0))"
        )
        con.execute("INSERT INTO products VALUES (1, 9.5, 'a')")
    con.close()
    project = tmp_path / "app"
    project.mkdir()
    result = run_cli("import", "--db", str(db), "--baseline", "-p", str(project))
    assert (result.returncode, result.stderr) == (0, "")
    text = (project / "specs" / "0001_baseline.yaml").read_text(encoding="utf-8")
    assert text.endswith(
        "    checks:\n"
        "      - name: price\n"
        "        constraint: products_price_check\n"
        '        expression: "price > 0"\n'
        "      - name: sku_not_blank\n"
        "        constraint: sku_not_blank\n"
        "        expression: \"sku <> ''\"\n"
        "      - name: ck_products_2nd\n"  # ck_<table>_ and a name no spec can give: named as it is
        "        constraint: ck_products_2nd\n"
        '        expression: "id > 0"\n'
    ), text
    schemac.build(project)
    assert schemac.baseline(project, str(db)).recorded == ()
    verified = schemac.verify(project, str(db))
    assert (verified.version, verified.differences) == (1, ())
    sqlite3.connect(tmp_path / "empty.db").close()  # a database with none of the baseline's tables: at no version
    verified = schemac.verify(project, str(tmp_path / "empty.db"))
    assert (verified.version, verified.differences) == (None, ())
    later = text.replace("baseline: true\n", "").replace('description: "The schema', 'description: "Cheap; the')
    later += '      - name: cheap\n        expression: "price < 1000"\n'
    (project / "specs" / "0002_cheap.yaml").write_text(later, encoding="utf-8")
    schemac.build(project)
    sql = (project / "migrations" / "0002_cheap.sql").read_text(encoding="utf-8")
    assert 'CONSTRAINT "products_price_check" CHECK (price > 0)' in sql and "ck_products_cheap" in sql
    assert [m.version for m in schemac.apply(project, str(db)).applied] == [2]
    verified = schemac.verify(project, str(db))
    assert (verified.version, verified.differences) == (2, ())
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT * FROM products").fetchall() == [(1, 9.5, "a")]
    con.close()


def test_from_sql_runs_the_files_in_loader_order_and_refuses_bad_input(tmp_path: Path) -> None:
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "10_second.sql").write_text(
        "CREATE TABLE b (id INTEGER NOT NULL PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a (id));\n"
    )
    (sql / "9_first.sql").write_text("CREATE TABLE a (id INTEGER NOT NULL PRIMARY KEY);\n")  # 9 runs before 10
    project = new_project(tmp_path / "proj", None)
    result = schemac.import_spec(project, from_sql=sql, baseline=True, slug="legacy")
    assert result.tables == ("a", "b") and result.file == "specs/0001_legacy.yaml"
    shown = sql.as_posix()
    assert findings(lambda: schemac.import_spec(project, from_sql=sql, db="x.db")) == [
        "--db:1:1: SC618 pass exactly one of --db and --from-sql (hint: schemac import --db URL or --from-sql DIR)"
    ]
    assert findings(lambda: schemac.import_spec(project)) == [
        "--db:1:1: SC618 pass exactly one of --db and --from-sql (hint: schemac import --db URL or --from-sql DIR)"
    ]
    assert findings(lambda: schemac.import_spec(project, from_sql=tmp_path / "none")) == [
        f"{tmp_path.as_posix()}/none:1:1: SC618 --from-sql: '{tmp_path.as_posix()}/none' is not a directory"
    ]
    (sql / "010_again.sql").write_text("SELECT 1;\n")
    assert findings(lambda: schemac.import_spec(project, from_sql=sql)) == [
        f"{shown}/10_second.sql:1:1: SC618 --from-sql: '10_second.sql' has version 10, as '010_again.sql' has: "
        "the order they run in is not known (hint: renumber one of them)"
    ]
    (sql / "010_again.sql").unlink()
    (sql / "readme.sql").write_text("SELECT 1;\n")
    assert findings(lambda: schemac.import_spec(project, from_sql=sql)) == [
        f"{shown}/readme.sql:1:1: SC618 --from-sql: 'readme.sql' is not named <version>_<name>.sql, so no loader "
        "knows when to run it (hint: rename it, or move it out of the directory)"
    ]
    (sql / "readme.sql").unlink()
    (sql / "11_broken.sql").write_text("CREATE TABLE c (id INTEGER);\nINSERT INTO missing VALUES (1);\n")
    assert findings(lambda: schemac.import_spec(project, from_sql=sql)) == [
        f"{shown}/11_broken.sql:2:1: SC525 cannot run this statement in a scratch SQLite database: no such table: "
        "missing (hint: fix the statement; schemac runs the migrations as the runner does, in a scratch database)"
    ]
    (sql / "11_broken.sql").write_text("ATTACH DATABASE 'x.db' AS x;\n")
    assert findings(lambda: schemac.import_spec(project, from_sql=sql))[0].startswith(
        f"{shown}/11_broken.sql:1:1: SC525 cannot run this statement in a scratch SQLite database: ATTACH and DETACH"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert findings(lambda: schemac.import_spec(project, from_sql=empty)) == [
        f"{empty.as_posix()}:1:1: SC618 --from-sql: '{empty.as_posix()}' holds no .sql file"
    ]


def test_the_scratch_database_serializes_what_ran_for_reading_elsewhere() -> None:
    with ScratchDatabase() as scratch:
        scratch.run("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (7);", "x.sql")
        data = scratch.serialize()
        scratch.run("INSERT INTO t VALUES (8);", "y.sql")  # it still runs afterwards
    copy = sqlite3.connect(":memory:")
    copy.deserialize(data)
    assert copy.execute("SELECT a FROM t").fetchall() == [(7,)]


# --- the spec the importer writes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("free", "free"),
        ("", '""'),
        ("true", '"true"'),
        ("no", '"no"'),
        ("null", '"null"'),
        ("12", '"12"'),
        ("#cccccc", '"#cccccc"'),
        ("a: b", '"a: b"'),
        ("it's", '"it\'s"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("tab\there", '"tab\\u0009here"'),
        ("line\u2028break", '"line\\u2028break"'),
        ("status IN ('a', 'b')", "\"status IN ('a', 'b')\""),
        ("published_at IS NOT NULL", "published_at IS NOT NULL"),
        (True, "true"),
        (0, "0"),
        (-3, "-3"),
        (1.5, "1.5"),
        (1e20, "1e+20"),
        (None, "null"),
        ({}, "{}"),
        ([], "[]"),
        ({"a": [1, "x y"]}, "{a: [1, x y]}"),
    ],
)
def test_every_scalar_reads_back_as_itself(value: object, written: str) -> None:
    assert scalar(value) == written
    assert load_document(f"description: x\nv: {written}\nw: {{v: {written}}}\n".encode(), "t").data == {
        "description": "x",
        "v": value,
        "w": {"v": value},
    }
    if isinstance(value, str):
        assert load_document(f"v: {quoted(value)}\n".encode(), "t").data == {"v": value}


def test_a_spec_that_would_not_compile_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    connection = sqlite3.connect(path)
    connection.executescript('CREATE TABLE "Order" (id INTEGER NOT NULL PRIMARY KEY);')
    connection.close()
    project = new_project(tmp_path / "proj", None)
    assert findings(lambda: schemac.import_spec(project, db=str(path), baseline=True)) == [
        "specs/0001_baseline.yaml:1:1: SC619 the imported spec would not compile (1 finding below): nothing was "
        "written (hint: fix the database or the project's other specs, or leave the tables concerned out with "
        "--tables)",
        "specs/0001_baseline.yaml:5:3: SC301 'Order' is not a valid name: use lowercase letters, digits and _, "
        "not starting with a digit",
    ]
    assert not list((project / "specs").iterdir())


def test_the_next_free_version_is_numbered_as_schemac_new_numbers(fixture_db: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path / "proj")
    schemac.new(project, "first")
    (project / "specs" / "0001_first.yaml").unlink()
    (project / "specs" / "0007_core.yaml").write_text(
        "description: x\ntables:\n  other:\n    columns:\n      id: {type: integer, primary_key: true}\n"
    )
    result = schemac.import_spec(project, db=str(fixture_db), tables=["currencies"], slug="money")
    assert result.file == "specs/0008_money.yaml"
    assert findings(lambda: schemac.import_spec(project, db=str(fixture_db), baseline=True)) == [
        "specs/0007_core.yaml:1:1: SC618 --baseline: a baseline is the project's first spec, and specs/0007_core.yaml "
        "exists (hint: import without --baseline, or into a project without specs)"
    ]
    assert findings(lambda: schemac.import_spec(project, db=str(fixture_db), slug="Bad")) == [
        "--slug:1:1: SC112 slug 'Bad' must match [a-z0-9_]+"
    ]


def test_import_is_a_documented_verb() -> None:
    assert schemac.import_spec.__doc__ and "import_spec" in schemac.__all__ and "ImportResult" in schemac.__all__


def test_what_is_approximated_or_left_out_is_a_warning_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title VARCHAR(40) NOT NULL,
            body TEXT NOT NULL DEFAULT 'x' CHECK (length(body) < 1000),
            kind TEXT NOT NULL DEFAULT 'memo' CONSTRAINT ck_notes_kind_enum CHECK (kind IN ('memo', 'todo')),
            score NUMERIC(5,2) DEFAULT 1.50,
            CONSTRAINT positive_length CHECK (length(title) > 0)
        );
        """
    )
    connection.close()
    project = new_project(tmp_path / "proj", None)
    result = schemac.import_spec(project, db=str(path), baseline=True)
    db = str(path)
    assert [str(w) for w in result.warnings] == [
        f"{db}:1:1: SC615 autoincrement 'notes.id' is imported as identity: true, without the rule that a number "
        f"deleted is never given again: a spec cannot express an autoincrement {PART}",
        f"{db}:1:1: SC615 unnamed check 'notes' is not imported: a spec cannot express an unnamed check "
        f"(CHECK (length(body) < 1000)) {KEEP}",
        f"{db}:1:1: SC617 column 'notes.title' is varchar(40), which no logical type gives on sqlite: imported as "
        "text (hint: verify will report the difference until the column is sqlite's type for text)",
        f"{db}:1:1: SC617 column 'notes.score' is numeric(5,2), which no logical type gives on sqlite: imported as "
        "decimal(5,2) (hint: verify will report the difference until the column is sqlite's type for decimal(5,2))",
    ]
    text = result.path.read_text(encoding="utf-8")
    # The enum check is not exactly the one schemac writes ("kind" quoted): it stays a check, so verify agrees.
    assert "      kind: {type: text, default: memo}\n" in text
    assert "      - name: kind_enum\n        expression: \"kind IN ('memo', 'todo')\"\n" in text
    # A check named other than ck_<table>_<name> keeps its name as its constraint's.
    assert "      - name: positive_length\n        constraint: positive_length\n" in text
    assert '      score: {type: "decimal(5,2)", nullable: true, default: {sql: "1.50"}}\n' in text  # its text kept
    assert findings(lambda: schemac.import_spec(project, db=db, baseline=True, strict=True, slug="again"))[
        0
    ].startswith("specs/0001_baseline.yaml:1:1: SC618 --baseline: a baseline is the project's first spec")


def test_schemac_db_from_the_environment_gives_way_to_from_sql(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "1_init.sql").write_text("CREATE TABLE a (id INTEGER NOT NULL PRIMARY KEY);\n")
    new_project(tmp_path / "proj", None)
    env = {**os.environ, "SCHEMAC_DB": str(tmp_path / "missing.db")}
    done = subprocess.run(
        [sys.executable, "-m", "schemac", "import", "--from-sql", "sql", "-p", "proj"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "wrote specs/0001_import.yaml (1 table)\n", "")


def test_keys_that_close_a_cycle_go_in_a_second_spec_the_baseline_records(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "migrations").mkdir(parents=True)
    (project / "migrations" / "001_init.sql").write_text(
        "CREATE TABLE projects (id INTEGER NOT NULL PRIMARY KEY,\n"
        "    current_milestone_id INTEGER REFERENCES milestones (id));\n"
        "CREATE TABLE milestones (id INTEGER NOT NULL PRIMARY KEY,\n"
        "    project_id INTEGER NOT NULL REFERENCES projects (id));\n"
    )
    legacy = sqlite3.connect(tmp_path / "app.db")
    legacy.executescript((project / "migrations" / "001_init.sql").read_text())
    legacy.close()
    schemac.init(project)
    schemac.adopt(project)
    done = run_cli("import", "--from-sql", "migrations", "--baseline", "-p", ".", cwd=project)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "wrote specs/001_baseline.yaml (2 tables)\n"
        "wrote specs/002_baseline_cycles.yaml (the foreign keys that close a cycle, which one spec cannot create; "
        "the database has them: schemac baseline --version 2)\n"
    )
    # The nullable key gives way (a row can be written without it), not milestones' NOT NULL one.
    first = (project / "specs" / "001_baseline.yaml").read_text()
    assert "current_milestone_id: {type: integer, nullable: true}\n" in first
    assert "project_id: {type: integer, references: projects.id}\n" in first
    assert (
        (project / "specs" / "002_baseline_cycles.yaml")
        .read_text()
        .endswith(
            "  projects:\n"
            "    description: Imported from migrations.\n"
            "    audit: none\n"
            "    columns:\n"
            "      id: {type: integer, primary_key: true, identity: true}\n"
            "      current_milestone_id: {type: integer, nullable: true, references: milestones.id}\n"
        )
    )
    schemac.build(project)
    db = str(tmp_path / "app.db")
    assert findings(lambda: schemac.baseline(project, db))[0].endswith(
        "SC625 extra foreign key '' (current_milestone_id) -> milestones (id) on delete no action, on update no "
        "action on 'projects': in the database, not in the specs"
    )
    assert schemac.baseline(project, db, 2).recorded == (1, 2)
    assert schemac.verify(project, db).differences == ()
