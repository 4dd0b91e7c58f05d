"""Raw SQL steps (``specs/<version>_<slug>.sql``) and the replay of a SQLite project's migrations.

A step is copied byte for byte into the migrations directory and recorded in the manifest with its own
SHA-256 as the spec's; it is immutable once published (SC510 for the step, SC501 for its copy). Bad
names are SC112, a shared version SC113, bad encodings SC102/SC103. For SQLite projects with adopted
files or steps, build and check replay every file in a scratch database: a step that changes the
schema is SC524, one that fails SC525, a generated version re-creating an adopted table SC526, a
replay over the time limit SC528; about published files these are warnings.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import findings
from schemac.migrations import replay
from schemac.migrations.manifest import parse_manifest
from schemac.project.compiler import EMPTY_FINGERPRINT

Cli = Callable[..., subprocess.CompletedProcess[str]]

TABLE_T = "description: t\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
TABLE_U = TABLE_T.replace("  t:", "  u:")
DOCUMENTS = TABLE_T.replace("  t:", "  documents:")
SC524_HINT = "(hint: change the schema in a YAML spec; a raw SQL step only changes rows)"
SC525 = "SC525 cannot run this statement in a scratch SQLite database: "
FIX = "(hint: fix the statement; schemac runs the migrations as the runner does, in a scratch database)"
ATTACH = "ATTACH and DETACH are not allowed in a migration (hint: a migration changes only the database it runs on)"
NAME_HINT = "(hint: name it like 0005_backfill_titles.sql (slug: a-z, 0-9, _; dialects: sqlite))"
NAME_HINT_TWO = "(hint: name it like 0005_backfill_titles.sqlite.sql (slug: a-z, 0-9, _; dialects: sqlite, postgresql))"
SC113_HINT = "(hint: give this spec the next free version (schemac new))"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def project(
    root: Path,
    specs: dict[str, str | bytes],
    dialects: tuple[str, ...] = ("sqlite",),
    migrations: dict[str, str] | None = None,
) -> Path:
    """A project holding ``specs`` (text or bytes) and, when given, hand-written ``migrations`` adopted."""
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text("dialects = [" + ", ".join(f'"{d}"' for d in dialects) + "]\n", encoding="utf-8")
    add(root, specs)
    if migrations is not None:
        (root / "migrations").mkdir()
        for name, text in migrations.items():
            (root / "migrations" / name).write_text(text, encoding="utf-8")
        schemac.adopt(root)
    return root


def add(root: Path, specs: dict[str, str | bytes]) -> None:
    for name, data in specs.items():
        (root / "specs" / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def files(root: Path) -> dict[str, bytes]:
    """Every file under migrations/, by path."""
    directory = root / "migrations"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def errors(root: Path) -> list[str]:
    return [str(d.diagnostic) for d in schemac.check(root).errors]


# --- copying --------------------------------------------------------------------------------------


def test_a_step_is_copied_byte_for_byte_and_recorded_with_its_own_sha(tmp_path: Path) -> None:
    first = b"-- seed before any table\r\nSELECT 1;"  # CRLF, no final newline: kept as they are
    seed = b"INSERT INTO t (id) VALUES (1);\nINSERT INTO t (id) VALUES (2);\n"
    root = project(tmp_path / "p", {"0001_first.sql": first, "0002_t.yaml": TABLE_T, "0003_seed.sql": seed})
    result = schemac.build(root)
    assert result.written == (
        "migrations/0001_first.sql",
        "migrations/0002_t.sql",
        "migrations/0003_seed.sql",
        "migrations/manifest.json",
    )
    written = files(root)
    assert (written["migrations/0001_first.sql"], written["migrations/0003_seed.sql"]) == (first, seed)
    manifest = parse_manifest(written["migrations/manifest.json"], "manifest.json")
    step1, table, step3 = manifest.entries
    assert (step1.version, step1.name, step1.file, step1.spec) == (1, "first", "0001_first.sql", "specs/0001_first.sql")
    assert step1.sha256 == step1.spec_sha256 == sha(first)
    assert (step1.schema_fingerprint, step1.non_idempotent) == (EMPTY_FINGERPRINT, ())
    assert (step3.version, step3.name, step3.file, step3.spec) == (3, "seed", "0003_seed.sql", "specs/0003_seed.sql")
    assert step3.sha256 == step3.spec_sha256 == sha(seed)
    assert step3.schema_fingerprint == table.schema_fingerprint != EMPTY_FINGERPRINT
    assert json.loads(written["migrations/manifest.json"])["files"][2] == {
        "file": "0003_seed.sql",
        "name": "seed",
        "non_idempotent": [],
        "schema_fingerprint": table.schema_fingerprint,
        "sha256": sha(seed),
        "spec": "specs/0003_seed.sql",
        "spec_sha256": sha(seed),
        "version": 3,
    }
    assert schemac.check(root).drift == ()
    assert schemac.build(root).written == ()
    database = str(tmp_path / "app.db")
    assert [m.version for m in schemac.apply(root, database).applied] == [1, 2, 3]
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    con.close()


def test_steps_per_dialect_go_to_their_dialects_directory(tmp_path: Path) -> None:
    lite = b"INSERT INTO t (id) VALUES (1);\n"
    pg = b"INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING;\n"
    only = b"ANALYZE t;\n"
    specs: dict[str, str | bytes] = {
        "0001_t.yaml": TABLE_T,
        "0002_seed.sqlite.sql": lite,
        "0002_seed.postgresql.sql": pg,
        "0003_stats.postgresql.sql": only,
    }
    root = project(tmp_path / "p", specs, ("sqlite", "postgresql"))
    schemac.build(root)
    written = files(root)
    assert written["migrations/sqlite/0002_seed.sql"] == lite
    assert written["migrations/postgresql/0002_seed.sql"] == pg
    assert written["migrations/postgresql/0003_stats.sql"] == only
    assert "migrations/sqlite/0003_stats.sql" not in written
    sqlite_manifest = parse_manifest(written["migrations/sqlite/manifest.json"], "m")
    pg_manifest = parse_manifest(written["migrations/postgresql/manifest.json"], "m")
    assert [(e.file, e.spec, e.sha256) for e in sqlite_manifest.entries[1:]] == [
        ("0002_seed.sql", "specs/0002_seed.sqlite.sql", sha(lite))
    ]
    assert [(e.file, e.spec, e.spec_sha256) for e in pg_manifest.entries[1:]] == [
        ("0002_seed.sql", "specs/0002_seed.postgresql.sql", sha(pg)),
        ("0003_stats.sql", "specs/0003_stats.postgresql.sql", sha(only)),
    ]
    # a project with one dialect may name it too
    single = project(tmp_path / "single", {"0001_t.yaml": TABLE_T, "0002_seed.sqlite.sql": lite})
    schemac.build(single)
    assert files(single)["migrations/0002_seed.sql"] == lite


# --- refused names, versions and encodings --------------------------------------------------------

BAD_NAMES = {
    "capital letter": (
        ("sqlite",),
        "0002_Seed.sql",
        f"specs/0002_Seed.sql:1:1: SC112 raw SQL step '0002_Seed.sql' does not match <version>_<slug>.sql {NAME_HINT}",
    ),
    "no version": (
        ("sqlite",),
        "seed.sql",
        f"specs/seed.sql:1:1: SC112 raw SQL step 'seed.sql' does not match <version>_<slug>.sql {NAME_HINT}",
    ),
    "a dash": (
        ("sqlite",),
        "0002_seed-data.sql",
        "specs/0002_seed-data.sql:1:1: SC112 raw SQL step '0002_seed-data.sql' does not match <version>_<slug>.sql "
        + NAME_HINT,
    ),
    "a dialect not built": (
        ("sqlite",),
        "0002_seed.postgresql.sql",
        "specs/0002_seed.postgresql.sql:1:1: SC112 raw SQL step '0002_seed.postgresql.sql' does not match "
        f"<version>_<slug>.sql {NAME_HINT}",
    ),
    "no dialect when there are several": (
        ("sqlite", "postgresql"),
        "0002_seed.sql",
        "specs/0002_seed.sql:1:1: SC112 raw SQL step '0002_seed.sql' does not match <version>_<slug>.<dialect>.sql "
        + NAME_HINT_TWO,
    ),
    "an unknown dialect when there are several": (
        ("sqlite", "postgresql"),
        "0002_seed.mysql.sql",
        "specs/0002_seed.mysql.sql:1:1: SC112 raw SQL step '0002_seed.mysql.sql' does not match "
        f"<version>_<slug>.<dialect>.sql {NAME_HINT_TWO}",
    ),
    "too large a version": (
        ("sqlite",),
        "9007199254740992_seed.sql",
        "specs/9007199254740992_seed.sql:1:1: SC119 version 9007199254740992 is larger than 9007199254740991, the "
        "largest every engine and loader holds (hint: number versions like 0001 or 2026112401)",
    ),
}


@pytest.mark.parametrize("case", BAD_NAMES)
def test_a_badly_named_step_is_refused(tmp_path: Path, case: str) -> None:
    dialects, name, expected = BAD_NAMES[case]
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, name: "SELECT 1;\n"}, dialects)
    assert findings(lambda: schemac.build(root)) == [expected]
    assert findings(lambda: schemac.validate(root)) == [expected]
    assert not (root / "migrations").exists()


SHARED = {
    "with a YAML spec": (
        {"0002_b.yaml": TABLE_U, "0002_seed.sql": "SELECT 1;\n"},
        ("sqlite",),
        f"specs/0002_seed.sql:1:1: SC113 version 2 is already used by specs/0002_b.yaml {SC113_HINT}",
    ),
    "with a YAML spec of another width": (
        {"02_b.yaml": TABLE_U, "0002_seed.sql": "SELECT 1;\n"},
        ("sqlite",),
        f"specs/02_b.yaml:1:1: SC113 version 2 is already used by specs/0002_seed.sql {SC113_HINT}",
    ),
    "with another step": (
        {"0002_a.sql": "SELECT 1;\n", "0002_b.sql": "SELECT 1;\n"},
        ("sqlite",),
        f"specs/0002_b.sql:1:1: SC113 version 2 is already used by specs/0002_a.sql {SC113_HINT}",
    ),
    "with another dialect's step of another name": (
        {"0002_a.sqlite.sql": "SELECT 1;\n", "0002_b.postgresql.sql": "SELECT 1;\n"},
        ("sqlite", "postgresql"),
        f"specs/0002_b.postgresql.sql:1:1: SC113 version 2 is already used by specs/0002_a.sqlite.sql {SC113_HINT}",
    ),
}


@pytest.mark.parametrize("case", SHARED)
def test_a_step_sharing_a_version_is_refused(tmp_path: Path, case: str) -> None:
    specs, dialects, expected = SHARED[case]
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, **specs}, dialects)
    assert findings(lambda: schemac.build(root)) == [expected]
    assert not (root / "migrations").exists()


def test_a_step_given_both_with_and_without_its_dialect_is_refused(tmp_path: Path) -> None:
    root = project(
        tmp_path / "p",
        {
            "0001_t.yaml": TABLE_T,
            "0002_a.sql": "INSERT OR IGNORE INTO t (id) VALUES (1);\n",
            "0002_a.sqlite.sql": "INSERT OR IGNORE INTO t (id) VALUES (2);\n",
        },
    )
    with pytest.raises(schemac.SchemacError) as refused:
        schemac.build(root)
    assert {d.code for d in refused.value.diagnostics} <= {"SC112", "SC113"}
    assert not (root / "migrations").exists()


ENCODINGS = {
    "not UTF-8": (
        b"SELECT 1;\n-- caf\xe9\n",
        "specs/0002_seed.sql:2:7: SC102 file is not valid UTF-8 (byte 0xe9) (hint: save the file as UTF-8)",
    ),
    "a byte-order mark": (
        b"\xef\xbb\xbfSELECT 1;\n",
        "specs/0002_seed.sql:1:1: SC103 file starts with a UTF-8 byte-order mark (hint: save the file as UTF-8 without "
        "a BOM)",
    ),
}


@pytest.mark.parametrize("case", ENCODINGS)
def test_a_step_that_is_not_plain_utf8_is_refused(tmp_path: Path, case: str) -> None:
    data, expected = ENCODINGS[case]
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_seed.sql": data})
    assert findings(lambda: schemac.build(root)) == [expected]
    assert findings(lambda: schemac.check(root)) == [expected]
    assert not (root / "migrations").exists()


# --- published steps are immutable ----------------------------------------------------------------

SEED = "INSERT INTO t (id) VALUES (1);\nINSERT INTO t (id) VALUES (2);\n"
EDITED = "INSERT INTO t (id) VALUES (1);\nINSERT INTO t (id) VALUES (3);\n"


def published(root: Path) -> Path:
    project(root, {"0001_t.yaml": TABLE_T, "0002_seed.sql": SEED})
    schemac.build(root)
    return root


def test_editing_a_published_step_is_refused(tmp_path: Path) -> None:
    root = published(tmp_path / "p")
    before = files(root)
    (root / "specs" / "0002_seed.sql").write_text(EDITED, encoding="utf-8")
    expected = (
        "specs/0002_seed.sql:1:1: SC510 edited: spec changed after it was published as migrations/0002_seed.sql "
        "(manifest entry for version 2) (hint: revert the spec and write a follow-up spec (schemac new <slug>); only "
        "the newest version may change, with build --amend)"
    )
    assert findings(lambda: schemac.build(root)) == [expected]
    assert files(root) == before
    [drift] = schemac.check(root).drift
    assert (str(drift.diagnostic), drift.kind) == (expected, "edited")
    assert drift.diff == (
        "--- migrations/0002_seed.sql (on disk)\n+++ migrations/0002_seed.sql (from specs)\n@@ -1,2 +1,2 @@\n"
        " INSERT INTO t (id) VALUES (1);\n-INSERT INTO t (id) VALUES (2);\n+INSERT INTO t (id) VALUES (3);\n"
    )
    # the newest version may still be amended: the copy follows the step
    schemac.build(root, amend=True)
    assert (root / "migrations" / "0002_seed.sql").read_text(encoding="utf-8") == EDITED
    assert schemac.check(root).drift == ()


def test_editing_the_copy_of_a_published_step_is_refused(tmp_path: Path) -> None:
    root = published(tmp_path / "p")
    (root / "migrations" / "0002_seed.sql").write_text(EDITED, encoding="utf-8")
    before = files(root)
    message = (
        "SC501 edited: file differs from its SHA-256 in the manifest (hint: restore it from version control; change "
        "the schema with a follow-up spec)"
    )
    assert findings(lambda: schemac.build(root)) == [f"migrations/0002_seed.sql:2:1: {message}"]
    assert files(root) == before
    assert errors(root) == [f"migrations/0002_seed.sql:2:1: {message}"]
    assert findings(lambda: schemac.load_migrations(root / "migrations", root=root)) == [
        f"migrations/0002_seed.sql:1:1: {message}"
    ]


# --- the replay -----------------------------------------------------------------------------------

CHANGES = {
    "creates a table": ("CREATE TABLE extra (x);\n", "it creates table 'extra'"),
    "creates an index": ("INSERT INTO t (id) VALUES (1);\nCREATE INDEX t_id ON t (id);\n", "it creates index 't_id'"),
    "adds a column": ("ALTER TABLE t ADD COLUMN note TEXT;\n", "it changes table 't'"),
    "drops a table": ("DROP TABLE t;\n", "it drops table 't'"),
    "creates a view": ("CREATE VIEW v AS SELECT id FROM t;\n", "it creates view 'v'"),
    "creates a trigger": (
        "CREATE TRIGGER t_seen AFTER INSERT ON t BEGIN SELECT 1; END;\n",
        "it creates trigger 't_seen'",
    ),
    # A temporary object outlives the file on the runner's connection, which runs every later file.
    "leaves a temporary trigger": (
        "CREATE TEMP TRIGGER t_gone AFTER INSERT ON main.t BEGIN DELETE FROM t; END;\n",
        "it creates temp trigger 't_gone'",
    ),
    "leaves a temporary table": ("CREATE TEMP TABLE scratch (x);\n", "it creates temp table 'scratch'"),
}


@pytest.mark.parametrize("case", CHANGES)
def test_a_new_step_that_changes_the_schema_is_refused(tmp_path: Path, case: str) -> None:
    sql, change = CHANGES[case]
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T})
    schemac.build(root)
    before = files(root)
    add(root, {"0002_seed.sql": sql})
    expected = f"specs/0002_seed.sql:1:1: SC524 raw SQL step changes the schema: {change} {SC524_HINT}"
    assert findings(lambda: schemac.build(root)) == [expected]
    assert files(root) == before
    assert [(str(d.diagnostic), d.kind) for d in schemac.check(root).drift if d.diagnostic.code == "SC524"] == [
        (expected, "replayed")
    ]


def test_the_cli_refuses_a_step_that_creates_a_table(tmp_path: Path, cli: Cli) -> None:
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_seed.sql": "CREATE TABLE extra (x);\n"})
    expected = (
        "specs/0002_seed.sql:1:1: SC524 raw SQL step changes the schema: it creates table 'extra' (hint: change the "
        "schema in a YAML spec; a raw SQL step only changes rows)"
    )
    built = cli("build", "--project", root)
    assert (built.returncode, built.stdout, built.stderr) == (2, "", expected + "\n")
    assert not (root / "migrations").exists()
    checked = cli("check", "--project", root)
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == expected


def test_a_step_may_use_temporary_tables_and_tables_it_drops_again(tmp_path: Path) -> None:
    steps = (
        "INSERT INTO t (id) VALUES (1);\n"
        "CREATE TEMP TABLE ids AS SELECT id + 10 AS id FROM t;\n"
        "CREATE TABLE work (id INTEGER);\nINSERT INTO work SELECT id FROM ids;\n"
        "INSERT INTO t (id) SELECT id FROM work;\nDROP TABLE work;\nDROP TABLE ids;\n"
    )
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_seed.sql": steps})
    schemac.build(root)
    assert schemac.check(root).drift == ()
    database = str(tmp_path / "app.db")
    schemac.apply(root, database)
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (11,)]
    con.close()


def test_the_sqlite_step_of_a_project_with_several_dialects_is_replayed(tmp_path: Path) -> None:
    specs: dict[str, str | bytes] = {
        "0001_t.yaml": TABLE_T,
        "0002_seed.sqlite.sql": "CREATE TABLE extra (x);\n",
        "0002_seed.postgresql.sql": "CREATE TABLE extra (x);\n",
    }
    root = project(tmp_path / "p", specs, ("sqlite", "postgresql"))
    assert findings(lambda: schemac.build(root)) == [
        f"specs/0002_seed.sqlite.sql:1:1: SC524 raw SQL step changes the schema: it creates table 'extra' {SC524_HINT}"
    ]
    # only SQLite projects are replayed: the same step for PostgreSQL alone builds
    only_pg = project(tmp_path / "pg", {"0001_t.yaml": TABLE_T, "0002_seed.sql": "CREATE TABLE extra (x);\n"})
    (only_pg / "schemac.toml").write_text('dialects = ["postgresql"]\n', encoding="utf-8")
    assert schemac.build(only_pg).written[-2:] == ("migrations/0002_seed.sql", "migrations/manifest.json")


def test_a_failing_step_is_refused_at_its_statement(tmp_path: Path) -> None:
    step = "-- backfill\nUPDATE t SET id = id;\n\n  INSERT INTO missing (id) VALUES (1);\n"
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_fill.sql": step})
    expected = f"specs/0002_fill.sql:4:3: {SC525}no such table: missing {FIX}"
    assert findings(lambda: schemac.build(root)) == [expected]
    assert not (root / "migrations").exists()
    assert errors(root)[0] == expected


def test_a_step_that_attaches_a_database_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    evil = tmp_path / "evil.db"
    step = f"INSERT INTO t (id) VALUES (1);\nATTACH '{evil}' AS e;\nCREATE TABLE e.stolen (x);\n"
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_evil.sql": step})
    assert findings(lambda: schemac.build(root)) == [f"specs/0002_evil.sql:2:1: {SC525}{ATTACH}"]
    assert errors(root)[0] == f"specs/0002_evil.sql:2:1: {SC525}{ATTACH}"
    assert not evil.exists()
    assert not (root / "migrations").exists()


def test_a_new_version_recreating_an_adopted_table_is_refused(tmp_path: Path) -> None:
    root = project(
        tmp_path / "p",
        {"0002_docs.yaml": DOCUMENTS},
        migrations={"001_initial.sql": "CREATE TABLE Documents (id INTEGER PRIMARY KEY);\n"},
    )
    before = files(root)
    expected = (
        "specs/0002_docs.yaml:1:1: SC526 table 'documents' already exists after the adopted files (001_initial.sql "
        "made it): 0002_docs.sql would skip its CREATE TABLE IF NOT EXISTS and leave the table as it is (hint: "
        "describe the table in a baseline spec (baseline: true) and change it in a later spec)"
    )
    assert findings(lambda: schemac.build(root)) == [expected]
    assert files(root) == before
    assert errors(root)[0] == expected
    # another table is fine
    (root / "specs" / "0002_docs.yaml").write_text(TABLE_U, encoding="utf-8")
    assert schemac.build(root).written == ("migrations/0002_docs.sql", "migrations/manifest.json")


ADOPTED_ATTACH = "CREATE TABLE a (id INTEGER PRIMARY KEY);\nATTACH '{}' AS e;\nCREATE TABLE e.x (y);\n"


def test_findings_about_published_files_are_warnings(tmp_path: Path, cli: Cli) -> None:
    evil = tmp_path / "evil.db"
    root = project(tmp_path / "p", {}, migrations={"001_initial.sql": ADOPTED_ATTACH.format(evil)})
    warning = f"migrations/001_initial.sql:2:1: {SC525}{ATTACH}"
    checked = cli("check", "--project", root)
    assert (checked.returncode, checked.stderr) == (0, warning + "\n")
    assert checked.stdout.startswith("1 files match the specs")
    as_json = cli("check", "--project", root, "--format", "json")
    assert as_json.returncode == 0
    assert [(d["code"], d["severity"], d["line"]) for d in json.loads(as_json.stdout)] == [("SC525", "warning", 2)]
    # build refuses only errors: a new version builds beside the warning
    add(root, {"0002_u.yaml": TABLE_U})
    assert schemac.build(root).written == ("migrations/0002_u.sql", "migrations/manifest.json")
    result = schemac.check(root)
    assert (result.ok, [str(d.diagnostic) for d in result.warnings], result.errors) == (True, [warning], ())
    assert not evil.exists()


def test_the_check_summary_does_not_call_a_replay_warning_kept_as_published(tmp_path: Path, cli: Cli) -> None:
    root = project(tmp_path / "p", {}, migrations={"001_initial.sql": ADOPTED_ATTACH.format(tmp_path / "e.db")})
    checked = cli("check", "--project", root)
    assert checked.returncode == 0
    assert "kept as published" not in checked.stdout


LOOP = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c;\n"
TIMEOUT = (
    "SC528 cannot replay the migrations in a scratch SQLite database: it takes more than 0.3 seconds "
    "(hint: keep bulk data and heavy queries out of migrations)"
)


def test_a_replay_over_the_time_limit_is_refused_promptly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "REPLAY_SECONDS", 0.3)
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T})
    schemac.build(root)
    before = files(root)
    add(root, {"0002_loop.sql": LOOP})
    started = time.monotonic()
    assert findings(lambda: schemac.build(root)) == [f"specs/0002_loop.sql:1:1: {TIMEOUT}"]
    assert time.monotonic() - started < 5
    assert files(root) == before
    started = time.monotonic()
    assert errors(root)[0] == f"specs/0002_loop.sql:1:1: {TIMEOUT}"
    assert time.monotonic() - started < 5


def test_a_replay_over_the_time_limit_names_the_file_that_takes_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "REPLAY_SECONDS", 0.3)
    root = project(tmp_path / "p", {"0001_first.sql": "SELECT 1;\n", "0002_loop.sql": LOOP})
    assert findings(lambda: schemac.build(root)) == [f"specs/0002_loop.sql:1:1: {TIMEOUT}"]


def test_plan_refuses_what_build_would_refuse_after_the_replay(tmp_path: Path, cli: Cli) -> None:
    root = project(tmp_path / "p", {"0001_t.yaml": TABLE_T, "0002_seed.sql": "CREATE TABLE extra (x);\n"})
    planned = cli("plan", "--project", root)
    assert (planned.returncode, planned.stdout) == (2, "")
    assert planned.stderr == (
        "specs/0002_seed.sql:1:1: SC524 raw SQL step changes the schema: it creates table 'extra' (hint: change the "
        "schema in a YAML spec; a raw SQL step only changes rows)\n"
    )
