"""A lone integer key without ``identity`` numbers itself on no engine: SQLite writes it ``BIGINT``
(a plain key) rather than ``INTEGER`` (the rowid's alias), from the version where that takes effect; tables
published before keep their rowid key, and ``verify``, ``import`` and lint read both forms."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, opened, run_cli
from schemac.project import behaviours

KEYS = """description: Keyed tables.
tables:
  plain:
    description: Keys given by every insert.
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      title: {type: text}
  counted:
    description: Keys given by every insert.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      title: {type: text}
  numbered:
    description: Keys the engine gives.
    audit: none
    columns:
      id: {type: bigint, primary_key: true, identity: true}
      title: {type: text}
"""
SQLITE_TABLES = """CREATE TABLE IF NOT EXISTS "plain" (
    "id" BIGINT NOT NULL,
    "title" TEXT NOT NULL,
    CONSTRAINT "pk_plain" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "counted" (
    "id" BIGINT NOT NULL,
    "title" TEXT NOT NULL,
    CONSTRAINT "pk_counted" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "numbered" (
    "id" INTEGER NOT NULL,
    "title" TEXT NOT NULL,
    CONSTRAINT "pk_numbered" PRIMARY KEY ("id")
);
"""


def _project(root: Path, dialects: str, *specs: tuple[str, str]) -> Path:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    for name, text in specs:
        (root / "specs" / name).write_text(text, encoding="utf-8")
    (root / "schemac.toml").write_text(f"dialects = [{dialects}]\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("engine", ENGINES)
def test_only_an_identity_key_numbers_the_rows_on_every_engine(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project = _project(tmp_path / "p", f'"{engine}"', ("0001_keys.yaml", KEYS))
    schemac.build(project)
    url = database_factory(engine)
    schemac.apply(project, url)
    with opened(url) as database:
        for table in ("plain", "counted"):
            with pytest.raises(database.driver_error, match=r"(?i)\bid\b|null"):
                database.execute(f"INSERT INTO {table} (title) VALUES ('no key')")
            database.execute(f"INSERT INTO {table} (id, title) VALUES (7, 'given')")
        database.execute("INSERT INTO numbered (title) VALUES ('a')")
        database.execute("INSERT INTO numbered (title) VALUES ('b')")
        rows = {table: database.query(f"SELECT id, title FROM {table} ORDER BY id") for table in KEYED}
    assert {table: [(int(k), str(t)) for k, t in found] for table, found in rows.items()} == {
        "plain": [(7, "given")],
        "counted": [(7, "given")],
        "numbered": [(1, "a"), (2, "b")],
    }
    assert schemac.verify(project, url).differences == ()


KEYED = ("plain", "counted", "numbered")


def test_sqlite_writes_a_plain_key_as_bigint_and_records_where_that_began(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", '"sqlite", "postgresql"', ("0001_keys.yaml", KEYS))
    schemac.build(project)
    sql = (project / "migrations" / "sqlite" / "0001_keys.sql").read_text(encoding="utf-8")
    assert sql.split("\n\n", 1)[1] == SQLITE_TABLES
    sqlite = json.loads((project / "migrations" / "sqlite" / "manifest.json").read_text(encoding="utf-8"))
    postgresql = json.loads((project / "migrations" / "postgresql" / "manifest.json").read_text(encoding="utf-8"))
    assert (sqlite["behaviours"], "behaviours" in postgresql) == ({"sqlite_plain_keys": 1}, False)
    assert schemac.check(project).drift == ()
    lint = run_cli("lint", "--project", project)
    assert "SC909" not in lint.stdout + lint.stderr  # the engines agree: nothing to warn about


OLD = """description: Tables published before plain keys.
tables:
  old:
    description: A table whose key is the rowid's alias.
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      title: {type: text}
"""
LATER = """description: The old table checked, and a new one.
tables:
  old:
    description: A table whose key is the rowid's alias.
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      title: {type: text, check: "length(title) > 0"}
  fresh:
    description: A table created since.
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      title: {type: text}
"""


@pytest.fixture
def published_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose version 1 was published by a schemac that wrote every lone integer key INTEGER (and
    recorded no behaviour), built for SQLite and PostgreSQL."""
    project = _project(tmp_path / "p", '"sqlite", "postgresql"', ("0001_old.yaml", OLD))
    with monkeypatch.context() as patched:
        patched.setattr(behaviours, "_first_unpublished", lambda manifests, versions: None)
        schemac.build(project, cache=False)
    assert '"id" INTEGER NOT NULL' in (project / "migrations" / "sqlite" / "0001_old.sql").read_text(encoding="utf-8")
    yield project


def test_a_project_without_the_record_is_unchanged_until_its_next_version(published_before: Path) -> None:
    before = {p: p.read_bytes() for p in (published_before / "migrations").rglob("*.*")}
    assert schemac.check(published_before).drift == ()
    schemac.build(published_before)
    assert {p: p.read_bytes() for p in (published_before / "migrations").rglob("*.*")} == before


def test_tables_published_before_keep_their_rowid_key_and_new_ones_get_a_plain_key(published_before: Path) -> None:
    project = published_before
    first = (project / "migrations" / "sqlite" / "0001_old.sql").read_bytes()
    (project / "specs" / "0002_later.yaml").write_text(LATER, encoding="utf-8")
    planned = {p.dialect: p.operations for p in schemac.plan_changes(project)}
    assert planned["sqlite"][-1] == (
        "rebuilt table old keeps its INTEGER key id, which numbers itself: the table was created before version 2, "
        "since when a key without identity is a plain key on SQLite (identity: true says what it does)"
    )
    schemac.build(project)
    sql = (project / "migrations" / "sqlite" / "0002_later.sql").read_text(encoding="utf-8")
    assert 'CREATE TABLE "_schemac_new_old" (\n    "id" INTEGER NOT NULL,\n' in sql  # the rebuild copies the alias
    assert 'CREATE TABLE IF NOT EXISTS "fresh" (\n    "id" BIGINT NOT NULL,\n' in sql
    assert (project / "migrations" / "sqlite" / "0001_old.sql").read_bytes() == first
    manifest = json.loads((project / "migrations" / "sqlite" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["behaviours"] == {"sqlite_plain_keys": 2}
    assert schemac.check(project).drift == ()
    lint = run_cli("lint", "--project", project)
    warned = [line.split(": ", 1)[1] for line in lint.stderr.splitlines() if "SC909" in line]
    assert warned == [
        "SC909 key 'old.id' numbers itself on sqlite when an insert leaves it out, not on postgresql (hint: add "
        "identity: true so that every engine numbers the rows, or always give the key's value)"
    ]


def test_a_database_keeps_numbering_the_old_table_only(published_before: Path, tmp_path: Path) -> None:
    project = published_before
    url = str(tmp_path / "live.db")
    schemac.apply(project, url)
    (project / "specs" / "0002_later.yaml").write_text(LATER, encoding="utf-8")
    schemac.build(project)
    schemac.apply(project, url)
    assert schemac.verify(project, url).differences == ()
    with opened(url) as database:
        database.execute("INSERT INTO old (title) VALUES ('numbered')")
        assert [tuple(row) for row in database.query("SELECT id, title FROM old")] == [(1, "numbered")]
        with pytest.raises(database.driver_error, match=r"NOT NULL constraint failed: fresh\.id"):
            database.execute("INSERT INTO fresh (title) VALUES ('no key')")


@pytest.mark.parametrize(
    ("made", "message"),
    [
        (
            "CREATE TABLE plain (id INTEGER NOT NULL, title TEXT NOT NULL, CONSTRAINT pk_plain PRIMARY KEY (id))",
            "SC623 column 'plain.id' is integer, the specs give bigint",  # INTEGER: the rowid's alias
        ),
        (
            "CREATE TABLE numbered (id BIGINT NOT NULL, title TEXT NOT NULL, CONSTRAINT pk_numbered PRIMARY KEY (id))",
            "SC623 column 'numbered.id' is bigint, the specs give integer",
        ),
    ],
)
def test_verify_tells_a_rowid_key_from_a_plain_one(made: str, message: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "p", '"sqlite"', ("0001_keys.yaml", KEYS))
    schemac.build(project)
    url = str(tmp_path / "live.db")
    schemac.apply(project, url)
    table = made.split()[2]
    with opened(url) as database:
        database.execute(f"DROP TABLE {table}")
        database.execute(made)
    found = [str(d).split(": ", 1)[1] for d in schemac.verify(project, url).differences]
    assert found == [message]


def test_import_reads_an_integer_key_as_identity_and_a_bigint_key_as_plain(tmp_path: Path) -> None:
    source = str(tmp_path / "source.db")
    with opened(source) as database:
        database.execute("CREATE TABLE plain (id BIGINT NOT NULL PRIMARY KEY, title TEXT NOT NULL)")
        database.execute("CREATE TABLE numbered (id INTEGER NOT NULL PRIMARY KEY, title TEXT NOT NULL)")
    project = tmp_path / "imported"
    project.mkdir()
    (project / "schemac.toml").write_text('dialects = ["sqlite"]\n', encoding="utf-8")
    done = run_cli("import", "--db", source, "--project", project)
    assert done.returncode == 0, done.stderr
    spec = next((project / "specs").glob("*.yaml")).read_text(encoding="utf-8")
    assert "id: {type: bigint, primary_key: true}\n" in spec
    assert "id: {type: integer, primary_key: true, identity: true}\n" in spec
    schemac.build(project)
    assert schemac.baseline(project, source, 1).recorded == (1,)
    assert schemac.verify(project, source).differences == ()
