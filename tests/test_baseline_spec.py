"""The baseline spec (``baseline: true``): the schema as adopted hand-written files leave it, the starting
state of every generated version, with no file of its own; and what a table from it may keep."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import findings
from tests.test_baseline_command import _connection

import schemac
from schemac.dialects.mariadb import MARIADB_INDEXED_TEXT_LENGTH

LEGACY_SQL = (
    "CREATE TABLE IF NOT EXISTS documents (\n"
    "    id TEXT PRIMARY KEY,\n"
    "    title TEXT NOT NULL,\n"
    "    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n"
    ");\n"
)
BASELINE = """description: The schema as the hand-written files leave it.
baseline: true
tables:
  documents:
    description: A document.
    columns:
      id: {type: text, primary_key: true, nullable: true}
      title: {type: text}
      created_at: {type: timestamp, default: {sql: CURRENT_TIMESTAMP}}
"""
SUMMARY = """description: Documents get a summary.
tables:
  documents:
    description: A document.
    columns:
      id: {type: text, primary_key: true, nullable: true}
      title: {type: text}
      created_at: {type: timestamp, default: {sql: CURRENT_TIMESTAMP}}
      summary: {type: text, nullable: true}
"""


LEGACY_DDL = {  # the legacy table as each engine's own hand-written DDL would make it
    "sqlite": LEGACY_SQL,
    "postgresql": LEGACY_SQL.replace("TEXT NOT NULL DEFAULT", "TIMESTAMPTZ NOT NULL DEFAULT"),
    "mariadb": LEGACY_SQL.replace("id TEXT", f"id VARCHAR({MARIADB_INDEXED_TEXT_LENGTH})").replace(
        "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP", "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    ),
}


def adopted_project(root: Path, specs: dict[str, str]) -> Path:
    """A project whose migrations/ holds one hand-written file, adopted, and the given specs."""
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "013_initial.sql").write_text(LEGACY_SQL, encoding="utf-8")
    (root / "specs").mkdir()
    schemac.adopt(root)
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    return root


def test_a_baseline_writes_no_file_and_later_specs_change_its_tables(tmp_path: Path) -> None:
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE, "014_summary.yaml": SUMMARY})
    result = schemac.build(project)
    assert result.written == ("migrations/014_summary.sql", "migrations/manifest.json")
    assert sorted(p.name for p in (project / "migrations").iterdir()) == [
        "013_initial.sql",
        "014_summary.sql",
        "manifest.json",
    ]
    sql = (project / "migrations" / "014_summary.sql").read_text(encoding="utf-8")
    assert sql.endswith('-- Documents get a summary.\n\nALTER TABLE "documents" ADD COLUMN "summary" TEXT;\n')
    manifest = json.loads((project / "migrations" / "manifest.json").read_text(encoding="utf-8"))
    baseline = manifest["baseline"]
    assert {k: baseline[k] for k in ("name", "spec", "version")} == {
        "name": "baseline",
        "spec": "specs/013_baseline.yaml",
        "version": 13,
    }
    assert baseline["spec_sha256"] == schemac_sha256(project / "specs" / "013_baseline.yaml")
    # The version after the baseline changes the schema, so its fingerprint is another one.
    assert manifest["files"][0]["schema_fingerprint"] != baseline["schema_fingerprint"]
    assert schemac.check(project).ok
    # The hand-written file and the generated one build a database whose schema is what the specs say.
    database = tmp_path / "app.db"
    applied = schemac.apply(project, db=str(database))
    assert [m.version for m in applied.applied] == [13, 14]
    assert schemac.verify(project, db=str(database)).differences == ()
    with sqlite3.connect(database) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(documents)")]
    assert columns == ["id", "title", "created_at", "summary"]


def schemac_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_baseline_must_be_the_first_spec(tmp_path: Path) -> None:
    later = BASELINE.replace("documents:", "notes:")
    project = adopted_project(
        tmp_path / "p", {"013_first.yaml": BASELINE.replace("baseline: true\n", ""), "014_baseline.yaml": later}
    )
    assert findings(lambda: schemac.build(project)) == [
        "specs/013_first.yaml:6:53: SC307 primary key column 'id' cannot be nullable",
        "specs/013_first.yaml:8:7: SC309 'created_at' is an audit column and is added by the compiler (hint: remove "
        "it and control audit columns with the table's audit: key; only a table from the baseline spec keeps audit "
        "columns written by hand)",
        "specs/014_baseline.yaml:2:11: SC527 a baseline spec must be the first spec: it is the schema every later "
        "spec starts from (hint: remove baseline: true, or number this spec below every other spec)",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    columns:\n", "    audit: full\n    columns:\n"),
            "specs/013_baseline.yaml:6:5: SC527 a baseline describes tables as they are, so no audit policy applies "
            "to them (hint: remove audit:, and write the audit columns a table has as columns)",
        ),
        (
            ("      title: {type: text}\n", "      title: {type: text, renamed_from: name}\n"),
            "specs/013_baseline.yaml:8:27: SC527 a baseline describes the schema as it is, so nothing in it is "
            "renamed (hint: rename in a later spec)",
        ),
        (
            ("baseline: true\n", "baseline: true\ndrop_tables: [old]\n"),
            "specs/013_baseline.yaml:3:1: SC527 a baseline describes the schema as it is, so it drops nothing "
            "(hint: drop tables in a later spec)",
        ),
    ],
)
def test_a_baseline_renames_drops_and_audits_nothing(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE.replace(*change)})
    assert expected in findings(lambda: schemac.build(project))


def test_a_table_from_the_baseline_keeps_its_own_audit_and_key_columns(tmp_path: Path) -> None:
    """A later spec writes a legacy audit column and a nullable key as the baseline has them; the compiler
    adds only the audit groups the table has none of, and never to a table where it would change one."""
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE, "014_summary.yaml": SUMMARY})
    schemac.build(project)
    sql = (project / "migrations" / "014_summary.sql").read_text(encoding="utf-8")
    assert "created_at" not in sql.split("\n\n", 1)[1]  # only the summary column is added
    # A new table writing an audit column by hand, or a nullable key, is refused as before.
    (project / "specs" / "015_notes.yaml").write_text(
        "description: Notes.\ntables:\n  notes:\n    description: A note.\n    columns:\n"
        "      id: {type: text, primary_key: true, nullable: true}\n      updated_at: {type: timestamp}\n",
        encoding="utf-8",
    )
    assert findings(lambda: schemac.build(project)) == [
        "specs/015_notes.yaml:6:53: SC307 primary key column 'id' cannot be nullable",
        "specs/015_notes.yaml:7:7: SC309 'updated_at' is an audit column and is added by the compiler (hint: remove "
        "it and control audit columns with the table's audit: key; only a table from the baseline spec keeps audit "
        "columns written by hand)",
    ]


def test_a_legacy_table_gets_audit_groups_only_when_its_spec_asks(tmp_path: Path) -> None:
    """The project's default policy adds no audit columns to a table from the baseline; a spec that writes
    ``audit:`` for it gets those groups added (here the nullable soft-delete pair, fine on a table with rows),
    a later spec without ``audit:`` keeps them, and leaving out a hand-written audit column drops it, as
    leaving out any column does."""
    asked = SUMMARY.replace("    columns:\n", "    audit: [deleted]\n    columns:\n")
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE, "014_summary.yaml": asked})
    schemac.build(project)
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as connection:  # the database the hand-written file built, with a row
        connection.executescript(LEGACY_SQL + "INSERT INTO documents (id, title) VALUES ('d1', 'First');")
    schemac.baseline(project, db=str(database), version=13)
    assert [m.version for m in schemac.apply(project, db=str(database)).applied] == [14]
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT id, title, summary, deleted_at, deleted_by FROM documents").fetchall()
    assert rows == [("d1", "First", None, None, None)]
    assert schemac.verify(project, db=str(database)).differences == ()
    without = SUMMARY.replace("      created_at: {type: timestamp, default: {sql: CURRENT_TIMESTAMP}}\n", "")
    (project / "specs" / "015_drop.yaml").write_text(without.replace("Documents get a summary.", "x"), encoding="utf-8")
    assert findings(lambda: schemac.build(project)) == [
        "specs/015_drop.yaml:3:3: SC403 destructive change refused: dropping column 'documents.created_at' (hint: "
        "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec)"
    ]


def test_a_published_baseline_never_changes_and_is_never_removed(tmp_path: Path) -> None:
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE, "014_summary.yaml": SUMMARY})
    schemac.build(project)
    path = project / "specs" / "013_baseline.yaml"
    path.write_text(BASELINE.replace("A document.", "A written document."), encoding="utf-8")
    assert findings(lambda: schemac.build(project)) == [
        "specs/013_baseline.yaml:1:1: SC510 edited: the baseline spec changed after it was published (hint: revert "
        "the spec: versions were planned from it; change its tables in a follow-up spec)",
    ]
    assert findings(lambda: schemac.build(project, amend=True))[0].startswith("specs/013_baseline.yaml:1:1: SC510")
    drift = [str(d.diagnostic) for d in schemac.check(project).drift]
    assert drift[0].startswith("specs/013_baseline.yaml:1:1: SC510 edited: the baseline spec changed")


def test_a_baseline_cannot_come_after_published_versions_or_below_an_adopted_file(tmp_path: Path) -> None:
    project = adopted_project(tmp_path / "p", {"014_notes.yaml": BASELINE.replace("baseline: true\n", "")})
    (project / "specs" / "014_notes.yaml").write_text(
        "description: Notes.\ntables:\n  notes:\n    description: A note.\n    columns:\n"
        "      id: {type: text, primary_key: true}\n",
        encoding="utf-8",
    )
    schemac.build(project)
    (project / "specs" / "012_baseline.yaml").write_text(BASELINE, encoding="utf-8")
    assert findings(lambda: schemac.build(project)) == [
        "specs/012_baseline.yaml:1:1: SC527 a baseline cannot be added once versions are published (014_notes.sql "
        "is): they were planned without it (hint: describe tables made elsewhere in a baseline before the first "
        "generated version is published)",
        "specs/012_baseline.yaml:1:1: SC527 the baseline is version 12, below the adopted file 013_initial.sql: it "
        "describes the schema the adopted files leave (hint: number the baseline spec 13 or above)",
    ]


def test_a_baseline_may_be_corrected_with_amend_until_a_version_follows_it(tmp_path: Path) -> None:
    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE})
    schemac.build(project)
    path = project / "specs" / "013_baseline.yaml"
    path.write_text(BASELINE.replace("A document.", "A written document."), encoding="utf-8")
    assert findings(lambda: schemac.build(project)) == [
        "specs/013_baseline.yaml:1:1: SC510 edited: the baseline spec changed after it was published (hint: while no "
        "version is published after it, build --amend records it again)"
    ]
    schemac.build(project, amend=True)
    manifest = json.loads((project / "migrations" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["baseline"]["spec_sha256"] == schemac_sha256(path)
    assert schemac.check(project).ok


def test_check_base_refuses_a_baseline_changed_since_the_base(tmp_path: Path) -> None:
    import subprocess

    project = adopted_project(tmp_path / "p", {"013_baseline.yaml": BASELINE, "014_summary.yaml": SUMMARY})
    schemac.build(project)
    for args in (("init", "-q"), ("add", "-A"), ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b")):
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)
    manifest_path = project / "migrations" / "manifest.json"
    text = manifest_path.read_text(encoding="utf-8")
    baseline = json.loads(text)["baseline"]
    manifest_path.write_text(text.replace(baseline["spec_sha256"], "0" * 64), encoding="utf-8")  # no chain covers it
    drift = [str(d.diagnostic) for d in schemac.check(project, base="HEAD").drift]
    assert (
        "migrations/manifest.json:1:1: SC513 the baseline specs/013_baseline.yaml was changed since HEAD (hint: "
        "restore it from the base)"
    ) in drift


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb"])
def test_a_nullable_key_of_the_baseline_verifies_on_every_engine(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """A key column the baseline keeps nullable (SQLite's hand-written TEXT PRIMARY KEY) is NOT NULL wherever the
    engine makes every key column so: the same spec verifies clean on each engine."""
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_baseline.yaml").write_text(BASELINE, encoding="utf-8")
    (project / "specs" / "0002_summary.yaml").write_text(SUMMARY, encoding="utf-8")
    (project / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    schemac.build(project)
    url = database_factory(engine)
    connection = _connection(url, engine)
    try:
        connection.cursor().execute(LEGACY_DDL[engine])
    finally:
        connection.close()
    assert schemac.baseline(project, url, version=1).recorded == ()
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    assert schemac.verify(project, url).differences == ()
