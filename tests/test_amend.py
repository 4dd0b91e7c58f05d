"""``build --amend VERSION``: rendering a published version no database has applied again, with a reason
recorded in the manifest; refused when a known database applied it or cannot be asked. The bare
``build --amend`` (the newest version, on a branch) works as before."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import schemac
from conftest import findings, loader_contract
from first_user import Runner
from schemac.migrations.manifest import parse_manifest, sha256_hex

VARIABLES = ("SCHEMAC_DB", "AMEND_PRODUCTION_DB", "AMEND_STAGING_DB")

USERS = """description: Users.
tables:
  users:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      name: {type: text}
"""
NOTES = """description: Notes.
tables:
  notes:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      user_id: {type: integer, references: users.id}
      archived: {type: boolean, default: false}
"""
LIVE_NOTES = """description: Tasks, with an index of the live ones by user.
tables:
  tasks:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      user_id: {type: integer, references: users.id}
      archived: {type: boolean, default: false}
    indexes:
      - columns: [user_id]
        where: "archived = WHERE"
"""
BAD = LIVE_NOTES.replace("WHERE", "0")  # fails on PostgreSQL: boolean = integer
FIXED = LIVE_NOTES.replace("WHERE", "false")

PRODUCTION = """dialects = ["sqlite", "postgresql"]

[environments.production]
db = "env:AMEND_PRODUCTION_DB"
"""
REASON = "archived = 0 fails on PostgreSQL: compare with false"


@pytest.fixture(autouse=True)
def _no_known_database_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def run(project: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``schemac ARGS --project PROJECT`` with only ``environment`` set among the variables these tests use."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES} | environment
    return subprocess.run(
        [sys.executable, "-m", "schemac", *args, "--project", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def published_with_bad_where(root: Path, settings: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose version 3 was published, as a schemac without the per-dialect checks built it, with a
    partial index ``where: "archived = 0"`` on a boolean column."""
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text(settings, encoding="utf-8")
    (root / "specs" / "0001_users.yaml").write_text(USERS, encoding="utf-8")
    (root / "specs" / "0002_notes.yaml").write_text(NOTES, encoding="utf-8")
    (root / "specs" / "0003_live_notes.yaml").write_text(BAD, encoding="utf-8")
    with monkeypatch.context() as older:
        older.setattr("schemac.spec.dialect_expressions.check_tables", lambda *args: [])
        schemac.build(root, cache=False)
    return root


def manifest(root: Path, dialect: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "migrations" / dialect / "manifest.json").read_text(encoding="utf-8"))
    return data


def sha(path: Path) -> str:
    return sha256_hex(path.read_bytes())


def test_the_issue_a_version_that_fails_on_postgresql_is_amended_and_then_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_factory: Callable[[str], str]
) -> None:
    url = database_factory("postgresql")
    root = published_with_bad_where(tmp_path / "app", PRODUCTION, monkeypatch)
    pg, lite = root / "migrations" / "postgresql", root / "migrations" / "sqlite"
    bad_pg, bad_lite = sha(pg / "0003_live_notes.sql"), sha(lite / "0003_live_notes.sql")
    assert "archived = 0" in (pg / "0003_live_notes.sql").read_text(encoding="utf-8")

    # the first user's runner, at version 2 with the published files (it applies what is above its newest)
    early = tmp_path / "early"
    early.mkdir()
    for name in ("0001_users.sql", "0002_notes.sql"):
        (early / name).write_bytes((lite / name).read_bytes())
    theirs = Runner(tmp_path / "theirs.db")
    assert theirs.apply(early) == [1, 2]

    applied = run(root, "apply", "--env", "production", "--to", "2", AMEND_PRODUCTION_DB=url)
    assert applied.returncode == 0, applied.stderr
    failed = run(root, "apply", "--env", "production", AMEND_PRODUCTION_DB=url)
    assert failed.returncode != 0
    assert failed.stderr == (
        "migrations/postgresql/0003_live_notes.sql:16:1: SC604 migration failed on postgresql: operator does not "
        'exist: boolean = integer LINE 1: ...dx_tasks_user_id" ON "tasks" ("user_id") WHERE archived = 0; ^ HINT: No '
        "operator matches the given name and argument types. You might need to add explicit type casts.\n"
    )

    # an amend is built as a new version is: the per-dialect checks see the spec again
    still_bad = BAD.replace("Tasks,", "Tasks (amended),")
    (root / "specs" / "0003_live_notes.yaml").write_text(still_bad, encoding="utf-8")
    unfixed = run(root, "build", "--amend", "3", "--reason", REASON, AMEND_PRODUCTION_DB=url)
    assert (unfixed.returncode, unfixed.stderr) == (
        2,
        "specs/0003_live_notes.yaml:11:16: SC318 postgresql rejects partial index where 'archived = 0': operator "
        "does not exist: boolean = integer (hint: compare boolean column 'archived' with true or false, not 1 or 0: "
        "every engine reads those)\n",
    )

    (root / "specs" / "0003_live_notes.yaml").write_text(FIXED, encoding="utf-8")
    refused = run(root, "build", AMEND_PRODUCTION_DB=url)
    assert refused.returncode == 2
    assert refused.stderr == (
        "specs/0003_live_notes.yaml:1:1: SC510 edited: spec changed after it was published as "
        "migrations/sqlite/0003_live_notes.sql (manifest entry for version 3) (hint: revert the spec and write "
        "a follow-up spec (schemac new <slug>); only the newest version may change, with build --amend)\n"
    )
    no_reason = run(root, "build", "--amend", "3", AMEND_PRODUCTION_DB=url)
    assert (no_reason.returncode, no_reason.stdout) == (2, "")
    assert no_reason.stderr == (
        "specs/0003_live_notes.yaml:1:1: SC532 build --amend 3 has no --reason: the manifest records why each "
        "published version was amended (hint: build --amend 3 --reason 'why the published file must change')\n"
    )
    assert sha(pg / "0003_live_notes.sql") == bad_pg  # nothing written

    # no SQLite database is known: the first user's runner may have applied version 3, so the user must say so
    unknown = run(root, "build", "--amend", "3", "--reason", REASON, AMEND_PRODUCTION_DB=url)
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == (
        "schemac.toml:1:1: SC534 build --amend 3 changes sqlite files, and no sqlite database was asked (an "
        "environment, SCHEMAC_DB or a --db), so whether one has applied version 3 or a later one cannot be told "
        "(hint: give each sqlite database with --db or an [environments.NAME] table; if none has applied version 3, "
        "add --no-known-database (the manifest records it))\n"
    )
    assert sha(pg / "0003_live_notes.sql") == bad_pg  # nothing written

    amended = run(root, "build", "--amend", "3", "--reason", REASON, "--no-known-database", AMEND_PRODUCTION_DB=url)
    assert amended.returncode == 0, amended.stderr
    assert amended.stdout.splitlines() == [
        "wrote migrations/sqlite/0003_live_notes.sql",
        "wrote migrations/sqlite/manifest.json",
        "wrote migrations/postgresql/0003_live_notes.sql",
        "wrote migrations/postgresql/manifest.json",
        "amended migrations/sqlite/0003_live_notes.sql (version 3; databases asked: none; no database of its "
        "engine known)",
        "amended migrations/postgresql/0003_live_notes.sql (version 3; databases asked: production)",
        "4 written, 4 unchanged",
    ]
    assert "archived = false" in (pg / "0003_live_notes.sql").read_text(encoding="utf-8")
    assert manifest(root, "postgresql")["amendments"] == [
        {
            "databases": ["production"],
            "file": "0003_live_notes.sql",
            "no_known_database": False,
            "previous_sha256": bad_pg,
            "reason": REASON,
            "sha256": sha(pg / "0003_live_notes.sql"),
            "unverified": [],
            "version": 3,
        }
    ]
    assert manifest(root, "sqlite")["amendments"] == [
        {
            "databases": [],
            "file": "0003_live_notes.sql",
            "no_known_database": True,  # no SQLite database is known, and the user said so
            "previous_sha256": bad_lite,
            "reason": REASON,
            "sha256": sha(lite / "0003_live_notes.sql"),
            "unverified": [],
            "version": 3,
        }
    ]
    assert url not in (pg / "manifest.json").read_text(encoding="utf-8")

    checked = run(root, "check")
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "8 files match the specs\n", "")
    again = run(root, "apply", "--env", "production", AMEND_PRODUCTION_DB=url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("1 applied; " + url + " is at version 3\n")
    verified = run(root, "verify", "--env", "production", AMEND_PRODUCTION_DB=url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == f"{url} matches the specs at version 3\n"
    contract = loader_contract(lite)
    assert contract.returncode == 0, contract.stdout + contract.stderr
    assert theirs.apply(lite) == [3]  # checksums of 1 and 2 unchanged; the amended 3 is pending there
    theirs.close()

    # production has applied version 3 now: amending it again is refused, naming the environment
    (root / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"), encoding="utf-8")
    late = run(root, "build", "--amend", "3", "--reason", "upper case", "--no-known-database", AMEND_PRODUCTION_DB=url)
    assert (late.returncode, late.stdout) == (2, "")
    assert late.stderr == (
        "schemac.toml:3:1: SC533 environment 'production' has applied version 3, and build --amend 3 changes its "
        "file 0003_live_notes.sql (hint: a file a database applied stays as it is: change the schema with a "
        "follow-up spec)\n"
    )


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Path:
    """Versions 1 to 3 published (3 as fixed), two dialects, a SQLite production database and a staging one
    read from a variable."""
    root = tmp_path / "app"
    (root / "specs").mkdir(parents=True)
    settings = PRODUCTION.replace('"env:AMEND_PRODUCTION_DB"', '"prod.db"')
    (root / "schemac.toml").write_text(settings + '\n[environments.staging]\ndb = "env:AMEND_STAGING_DB"\n')
    for name, text in (("0001_users.yaml", USERS), ("0002_notes.yaml", NOTES), ("0003_live_notes.yaml", FIXED)):
        (root / "specs" / name).write_text(text, encoding="utf-8")
    schemac.build(root)
    schemac.apply(root, str(root / "prod.db"), to=2)
    return root


def test_a_database_that_applied_the_version_or_a_later_one_refuses_it(sqlite_project: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging.db"
    assert run(sqlite_project, "apply", "--db", str(staging)).returncode == 0  # all three
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    before = {p: p.read_bytes() for p in sorted((sqlite_project / "migrations").rglob("*.*"))}
    refused = run(
        sqlite_project, "build", "--amend", "3", "--no-known-database", "--reason", "r", AMEND_STAGING_DB=str(staging)
    )
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "schemac.toml:6:1: SC533 environment 'staging' has applied version 3, and build --amend 3 changes its "
        "file 0003_live_notes.sql (hint: a file a database applied stays as it is: change the schema with a "
        "follow-up spec)\n"
    )
    as_db = run(sqlite_project, "build", "--amend", "3", "--reason", "r", "--db", str(staging), "--no-known-database")
    assert as_db.returncode == 2
    assert as_db.stderr.splitlines() == [
        f"{staging}:1:1: SC533 --db ({staging}) has applied version 3, and build --amend 3 changes its file "
        "0003_live_notes.sql (hint: a file a database applied stays as it is: change the schema with a follow-up "
        "spec)",
        "schemac.toml:6:1: SC534 environment 'staging' reads its database from $AMEND_STAGING_DB, which is not set, "
        "so whether it has applied version 3 or a later one cannot be told (hint: make it reachable, or, if it "
        "cannot have applied version 3, name it with --unverified-env staging)",
    ]
    # production is at version 2: amending version 2 is refused there
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(FIXED)
    (sqlite_project / "specs" / "0002_notes.yaml").write_text(NOTES.replace("Notes.", "All notes."))
    fresh = tmp_path / "fresh.db"
    schemac.apply(sqlite_project, str(fresh), to=1)
    refused = run(
        sqlite_project, "build", "--amend", "2", "--no-known-database", "--reason", "r", AMEND_STAGING_DB=str(fresh)
    )
    assert refused.stderr == (
        "schemac.toml:3:1: SC533 environment 'production' has applied version 2, and build --amend 2 changes its "
        "file 0002_notes.sql (hint: a file a database applied stays as it is: change the schema with a follow-up "
        "spec)\n"
    )
    # a database that recorded a later version without this one (its history has a gap) would never run it
    with sqlite3.connect(staging) as con:
        con.execute("DELETE FROM schemac_history WHERE version = 2")
    con.close()
    gap = run(
        sqlite_project,
        "build",
        "--amend",
        "2",
        "--reason",
        "r",
        "--unverified-env",
        "production",
        "--no-known-database",
        "--db",
        str(staging),
        AMEND_STAGING_DB=str(fresh),
    )
    assert gap.stderr.splitlines() == [  # --unverified-env: production answers, so it is asked
        f"{staging}:1:1: SC533 --db ({staging}) has applied version 3, after 0002_notes.sql that build --amend 2 "
        "changes: a runner would never run the new file (hint: a file a database applied stays as it is: change "
        "the schema with a follow-up spec)",
        "schemac.toml:3:1: SC533 environment 'production' has applied version 2, and build --amend 2 changes its "
        "file 0002_notes.sql (hint: a file a database applied stays as it is: change the schema with a follow-up "
        "spec)",
    ]
    assert {p: p.read_bytes() for p in sorted((sqlite_project / "migrations").rglob("*.*"))} == before


def test_a_database_the_loader_runner_applied_refuses_it(sqlite_project: Path, tmp_path: Path) -> None:
    """The first user's runner records what it ran in its own ``_migrations`` table, not in schemac's history:
    a database it brought to version 3 refuses an amend of version 2, which it ran."""
    theirs = tmp_path / "theirs.db"
    runner = Runner(theirs)
    assert runner.apply(sqlite_project / "migrations" / "sqlite") == [1, 2, 3]
    runner.close()
    (sqlite_project / "specs" / "0002_notes.yaml").write_text(NOTES.replace("Notes.", "All notes."))
    before = {p: p.read_bytes() for p in sorted((sqlite_project / "migrations").rglob("*.*"))}
    options = ["--reason", "r", "--unverified-env", "staging", "--no-known-database"]
    refused = run(sqlite_project, "build", "--amend", "2", *options, "--db", str(theirs))
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.splitlines() == [
        f"{theirs}:1:1: SC533 --db ({theirs}) (its _migrations table) has applied version 2, and build --amend 2 "
        "changes its file 0002_notes.sql (hint: a file a database applied stays as it is: change the schema with a "
        "follow-up spec)",
        "schemac.toml:3:1: SC533 environment 'production' has applied version 2, and build --amend 2 changes its "
        "file 0002_notes.sql (hint: a file a database applied stays as it is: change the schema with a follow-up "
        "spec)",
    ]
    assert {p: p.read_bytes() for p in sorted((sqlite_project / "migrations").rglob("*.*"))} == before
    # a _migrations that cannot be read: the database cannot be asked, as one that cannot be reached
    with sqlite3.connect(theirs) as con:
        con.executescript(
            "ALTER TABLE _migrations RENAME TO gone; CREATE VIEW _migrations AS SELECT version FROM gone; "
            "DROP TABLE gone;"
        )
    con.close()
    refused = run(sqlite_project, "build", "--amend", "2", *options, "--db", str(theirs))
    assert refused.stderr.splitlines()[0] == (
        f"{theirs}:1:1: SC534 --db ({theirs}) cannot be reached (cannot read its _migrations table: no such table: "
        "main.gone), so whether it has applied version 2 or a later one cannot be told (hint: make it reachable, "
        "or leave that --db out)"
    )


def test_a_database_that_cannot_be_asked_refuses_it_unless_named_unverified(
    sqlite_project: Path, tmp_path: Path
) -> None:
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    unset = run(sqlite_project, "build", "--amend", "3", "--reason", "upper case", "--no-known-database")
    assert (unset.returncode, unset.stdout) == (2, "")
    assert unset.stderr == (
        "schemac.toml:6:1: SC534 environment 'staging' reads its database from $AMEND_STAGING_DB, which is not set, "
        "so whether it has applied version 3 or a later one cannot be told (hint: make it reachable, or, if it "
        "cannot have applied version 3, name it with --unverified-env staging)\n"
    )
    down = "postgresql://app:s3cret@127.0.0.1:1/app"
    unreachable = run(
        sqlite_project, "build", "--amend", "3", "--no-known-database", "--reason", "upper case", AMEND_STAGING_DB=down
    )
    assert (unreachable.returncode, unreachable.stdout) == (2, "")
    driver = 'connection to server at "127.0.0.1", port 1 failed: [^()]+'  # the driver's words vary by version
    assert re.fullmatch(
        re.escape(
            "schemac.toml:6:1: SC534 environment 'staging' cannot be reached (cannot connect: connection failed: "
        )
        + driver
        + re.escape(
            "), so whether it has applied version 3 or a later one cannot be told (hint: make it reachable, or, if it "
            "cannot have applied version 3, name it with --unverified-env staging)\n"
        ),
        unreachable.stderr,
    ), unreachable.stderr
    assert "s3cret" not in unreachable.stderr
    unknown = run(
        sqlite_project, "build", "--amend", "3", "--reason", "r", "--unverified-env", "stagin", "--no-known-database"
    )
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr.splitlines() == [
        "schemac.toml:1:1: SC534 --unverified-env stagin: no environment 'stagin' in the settings "
        "(environments: production, staging) (hint: name an [environments.NAME] table)",
        "schemac.toml:6:1: SC534 environment 'staging' reads its database from $AMEND_STAGING_DB, which is not set, "
        "so whether it has applied version 3 or a later one cannot be told (hint: make it reachable, or, if it "
        "cannot have applied version 3, name it with --unverified-env staging)",
    ]
    # staging, unverified, may be a PostgreSQL database: none of that engine answered, so the user must say so
    no_postgresql = run(
        sqlite_project, "build", "--amend", "3", "--reason", "upper case", "--unverified-env", "staging"
    )
    assert (no_postgresql.returncode, no_postgresql.stdout) == (2, "")
    assert no_postgresql.stderr == (
        "schemac.toml:1:1: SC534 build --amend 3 changes postgresql files, and no postgresql database was asked (an "
        "environment, SCHEMAC_DB or a --db), so whether one has applied version 3 or a later one cannot be told "
        "(hint: give each postgresql database with --db or an [environments.NAME] table; if none has applied "
        "version 3, add --no-known-database (the manifest records it))\n"
    )
    ok = run(
        sqlite_project,
        "build",
        "--amend",
        "3",
        "--reason",
        "upper case",
        "--unverified-env",
        "staging",
        "--no-known-database",
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.splitlines() == [
        "wrote migrations/sqlite/0003_live_notes.sql",
        "wrote migrations/sqlite/manifest.json",
        "wrote migrations/postgresql/0003_live_notes.sql",
        "wrote migrations/postgresql/manifest.json",
        "amended migrations/sqlite/0003_live_notes.sql (version 3; databases asked: production; unverified: staging)",
        "amended migrations/postgresql/0003_live_notes.sql (version 3; databases asked: none; unverified: staging; "
        "no database of its engine known)",
        "4 written, 4 unchanged",
    ]
    recorded = [manifest(sqlite_project, dialect)["amendments"] for dialect in ("sqlite", "postgresql")]
    assert [[(a["databases"], a["unverified"], a["no_known_database"], a["reason"]) for a in r] for r in recorded] == [
        [(["production"], ["staging"], False, "upper case")],
        [([], ["staging"], True, "upper case")],
    ]


def test_amend_version_needs_a_published_version_a_change_and_a_reason(sqlite_project: Path) -> None:
    def build(version: int, reason: str | None = "r") -> list[str]:
        return findings(lambda: schemac.build(sqlite_project, amend=version, reason=reason, no_known_database=True))

    assert build(9) == [
        "migrations/sqlite/manifest.json:1:1: SC531 build --amend 9: version 9 is not a published version a spec "
        "gives (hint: amend a version the manifest lists (a new version is built without --amend))"
    ]
    assert build(3) == [
        "specs/0003_live_notes.yaml:1:1: SC531 build --amend 3: the specs give version 3 and every later one as "
        "published: nothing to amend (hint: correct the spec of version 3 first, then amend it)"
    ]
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    hint = " (hint: build --amend 3 --reason 'why the published file must change')"
    missing = "specs/0003_live_notes.yaml:1:1: SC532 build --amend 3 has no --reason: the manifest records why each "
    not_a_line = (
        "specs/0003_live_notes.yaml:1:1: SC532 build --amend 3 --reason must be one printable line of at most 500 "
        "characters: the manifest records why each "
    )
    for reason, start in ((None, missing), ("  ", missing), ("two\nlines", not_a_line), ("x" * 501, not_a_line)):
        assert build(3, reason) == [f"{start}published version was amended{hint}"]
    longest = schemac.build(
        sqlite_project, amend=3, reason="x" * 500, unverified_env=["staging"], no_known_database=True
    )
    assert [(shown, a.reason) for shown, a in longest.amendments][:1] == [
        ("migrations/sqlite/0003_live_notes.sql", "x" * 500)
    ]
    again = LIVE_NOTES.replace("WHERE", "FALSE").replace("Tasks,", "Tasks again,")
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(again)
    # a file edited by hand is refused as by every build, amend or not
    edited = sqlite_project / "migrations" / "sqlite" / "0003_live_notes.sql"
    edited.write_bytes(edited.read_bytes() + b"-- edited\n")
    assert build(3) == [
        "migrations/sqlite/0003_live_notes.sql:1:1: SC501 edited: file differs from its SHA-256 in the manifest "
        "(hint: restore it from version control; change the schema with a follow-up spec)"
    ]


def test_later_versions_are_rendered_again_and_check_reports_unexplained_edits(
    sqlite_project: Path, tmp_path: Path
) -> None:
    staging = tmp_path / "staging.db"
    # version 4 restates the index with another where, and adds a table: its SQL is a diff from version 3
    labels = "  labels:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
    titled = LIVE_NOTES.replace("WHERE", "FALSE") + labels
    (sqlite_project / "specs" / "0004_titles.yaml").write_text(titled)
    tags = USERS.replace("Users.", "Tags.").replace("users:", "tags:")
    (sqlite_project / "specs" / "0005_tags.yaml").write_text(tags)
    schemac.build(sqlite_project)
    lite = sqlite_project / "migrations" / "sqlite"
    before = {name: (lite / name).read_bytes() for name in ("0004_titles.sql", "0005_tags.sql")}
    assert b"DROP INDEX" in before["0004_titles.sql"]
    schemac.apply(sqlite_project, str(staging), to=2)
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    result = schemac.build(
        sqlite_project,
        amend=3,
        reason="upper case",
        unverified_env=["staging"],
        db=[str(staging)],
        no_known_database=True,
    )
    assert [(shown, a.version) for shown, a in result.amendments] == [
        ("migrations/sqlite/0003_live_notes.sql", 3),
        ("migrations/sqlite/0004_titles.sql", 4),
        ("migrations/postgresql/0003_live_notes.sql", 3),
        ("migrations/postgresql/0004_titles.sql", 4),
    ]
    assert b"DROP INDEX" not in (lite / "0004_titles.sql").read_bytes()  # version 3 now has the index as 4 wants
    assert (lite / "0005_tags.sql").read_bytes() == before["0005_tags.sql"]  # the same file: kept, no amendment
    assert [a.databases for _, a in result.amendments] == [("production", "--db")] * 2 + [()] * 2
    assert schemac.check(sqlite_project).ok
    assert schemac.apply(sqlite_project, str(staging)).current_version == 5
    contract = loader_contract(lite)
    assert contract.returncode == 0, contract.stdout + contract.stderr

    three = sqlite_project / "migrations" / "sqlite" / "0003_live_notes.sql"
    three.write_bytes(three.read_bytes() + b"-- edited\n")
    spec = sqlite_project / "specs" / "0003_live_notes.yaml"
    spec.write_text(FIXED)
    drift = [str(d.diagnostic).split(" (hint")[0] for d in schemac.check(sqlite_project).errors]
    assert drift == [  # the amended version is as published again: only an unexplained edit is drift
        "migrations/sqlite/0003_live_notes.sql:1:1: SC501 edited: file differs from its SHA-256 in the manifest",
        "specs/0003_live_notes.yaml:1:1: SC510 edited: spec changed after it was published as "
        "migrations/postgresql/0003_live_notes.sql (manifest entry for version 3)",
    ]


def test_the_manifest_records_amendments_in_its_chain_and_reads_them_back(sqlite_project: Path) -> None:
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    schemac.build(
        sqlite_project, amend=3, reason='naïve "quoted" reason', unverified_env=["staging"], no_known_database=True
    )
    path = sqlite_project / "migrations" / "sqlite" / "manifest.json"
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    read = parse_manifest(text.encode(), "manifest.json")
    assert read.to_text() == text
    assert read.amendments[0].reason == 'naïve "quoted" reason'
    forged = text.replace("naïve", "naive")
    chain_line = text.count("\n", 0, text.index('"chain"')) + 1
    assert findings(lambda: parse_manifest(forged.encode(), "manifest.json")) == [
        f"manifest.json:{chain_line}:1: SC506 manifest chain does not match its files: the manifest was edited by hand "
        "(hint: restore manifest.json from version control: it records what was published)"
    ]


def test_bare_amend_still_renders_only_the_newest_version_and_records_nothing(sqlite_project: Path) -> None:
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    done = run(sqlite_project, "build", "--amend")
    assert done.returncode == 0, done.stderr
    assert "amendments" not in manifest(sqlite_project, "sqlite")
    assert "archived = FALSE" in (sqlite_project / "migrations" / "sqlite" / "0003_live_notes.sql").read_text()
    (sqlite_project / "specs" / "0002_notes.yaml").write_text(NOTES.replace("Notes.", "All notes."))
    refused = run(sqlite_project, "build", "--amend")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "specs/0002_notes.yaml:1:1: SC510 edited: spec changed after it was published as "
        "migrations/sqlite/0002_notes.sql (manifest entry for version 2) (hint: revert the spec and write a "
        "follow-up spec (schemac new <slug>); only the newest version may change, with build --amend)\n"
    )
    usage = "Usage: python -m schemac build [OPTIONS] [VERSION]\nTry 'python -m schemac build --help' for help.\n\n"
    version_alone = run(sqlite_project, "build", "3")
    assert (version_alone.returncode, version_alone.stdout) == (2, "")
    assert (
        version_alone.stderr == usage + "Error: Invalid value: a VERSION goes with --amend: schemac build --amend 3\n"
    )
    for option in (["--reason", "r"], ["--no-known-database"], ["--ask-env", "production"]):
        alone = run(sqlite_project, "build", *option)
        assert (alone.returncode, alone.stdout) == (2, "")
        assert alone.stderr == usage + (
            "Error: Invalid value: --reason, --db, --unverified-env, --ask-env and --no-known-database go with "
            "--amend VERSION\n"
        )


def test_check_base_reports_each_amendment_since_the_base_and_fails_unless_allowed(sqlite_project: Path) -> None:
    git = ["git", "-C", str(sqlite_project), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "published"], check=True)
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    schemac.build(sqlite_project, amend=3, reason="upper case", unverified_env=["staging"], no_known_database=True)
    sqlite_said = (
        "migrations/sqlite/manifest.json:1:1: SC537 version 3 (0003_live_notes.sql) was amended since HEAD, for the "
        "reason 'upper case' (databases asked: production; unverified: staging)"
    )
    postgresql_said = (
        "migrations/postgresql/manifest.json:1:1: SC537 version 3 (0003_live_notes.sql) was amended since HEAD, for "
        "the reason 'upper case' (databases asked: none; unverified: staging; no database of its engine known)"
    )
    hint = " (hint: the record is no proof: make sure no database has applied version 3"
    refused = run(sqlite_project, "check", "--base", "HEAD")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.splitlines() == [
        f"{sqlite_said}{hint}, then pass --allow-amendments)",
        f"{postgresql_said}{hint}, then pass --allow-amendments)",
    ]
    allowed = run(sqlite_project, "check", "--base", "HEAD", "--allow-amendments")
    assert (allowed.returncode, allowed.stdout) == (0, "8 files match the specs (2 warnings)\n")
    assert allowed.stderr.splitlines() == [f"{sqlite_said}{hint})", f"{postgresql_said}{hint})"]
    annotations = run(sqlite_project, "check", "--base", "HEAD", "--allow-amendments", "--format", "github")
    assert (annotations.returncode, annotations.stderr) == (0, "")
    assert [line.split("::")[1] for line in annotations.stdout.splitlines()] == [  # CI shows them on the PR
        "warning file=migrations/sqlite/manifest.json,line=1,col=1,title=SC537",
        "warning file=migrations/postgresql/manifest.json,line=1,col=1,title=SC537",
    ]
    usage = run(sqlite_project, "check", "--allow-amendments")
    assert (usage.returncode, usage.stdout) == (2, "")
    assert usage.stderr == (
        "Usage: python -m schemac check [OPTIONS]\nTry 'python -m schemac check --help' for help.\n\n"
        "Error: Invalid value: --allow-amendments goes with --base REF\n"
    )


def test_check_base_shows_a_hand_written_amendment_and_refuses_one_that_accounts_for_nothing(
    sqlite_project: Path,
) -> None:
    git = ["git", "-C", str(sqlite_project), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "published"], check=True)
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    schemac.build(sqlite_project, amend=3, reason="upper case", unverified_env=["staging"], no_known_database=True)
    # written by hand, chain recomputed: it claims databases that were never asked, and is still shown as a claim
    path = sqlite_project / "migrations" / "sqlite" / "manifest.json"
    read = parse_manifest(path.read_bytes(), "manifest.json")
    claim = dataclasses.replace(read.amendments[0], databases=("production", "staging"), unverified=())
    path.write_text(dataclasses.replace(read, amendments=(claim,)).to_text(), encoding="utf-8")
    drift = [str(d.diagnostic) for d in schemac.check(sqlite_project, base="HEAD").errors]
    assert drift[0] == (
        "migrations/sqlite/manifest.json:1:1: SC537 version 3 (0003_live_notes.sql) was amended since HEAD, for the "
        "reason 'upper case' (databases asked: production, staging; unverified: none) (hint: the record is no "
        "proof: make sure no database has applied version 3, then pass --allow-amendments)"
    )
    assert drift[1:] == [
        "migrations/postgresql/manifest.json:1:1: SC537 version 3 (0003_live_notes.sql) was amended since HEAD, for "
        "the reason 'upper case' (databases asked: none; unverified: staging; no database of its engine known) "
        "(hint: the record is no proof: make sure no database has applied version 3, then pass --allow-amendments)"
    ]
    assert schemac.check(sqlite_project, base="HEAD", allow_amendments=True).ok
    # the same change with the amendment removed from the manifest is a rewrite of what HEAD published
    path.write_text(dataclasses.replace(read, amendments=()).to_text(), encoding="utf-8")
    drift = [str(d.diagnostic) for d in schemac.check(sqlite_project, base="HEAD", allow_amendments=True).errors]
    assert drift == [
        "migrations/sqlite/manifest.json:1:1: SC513 version 3 (0003_live_notes.sql) was changed since HEAD "
        "(hint: restore it from the base; write a follow-up spec instead)"
    ]


def another_machine_address() -> str:
    """An address of this machine that is no loopback one, so the settings' rule takes it for another machine:
    a listener here sees whether schemac connects to it (``0.0.0.0`` reaches this machine too, on Linux)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # chooses a route; sends nothing
            address: str = probe.getsockname()[0]
        except OSError:
            return "0.0.0.0"
    return "0.0.0.0" if ipaddress.ip_address(address).is_loopback else address


class Listener:
    """A TCP server on every address of this machine that records each connection and closes it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("0.0.0.0", 0))
        self.server.settimeout(0.2)
        self.port: int = self.server.getsockname()[1]
        self.peers: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                connection, peer = self.server.accept()
            except TimeoutError:
                continue
            self.peers.append(peer[0])
            connection.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_a_literal_environment_url_of_another_machine_is_contacted_only_when_the_command_line_names_it(
    sqlite_project: Path, listener: Listener
) -> None:
    url = f"postgresql://app@{another_machine_address()}:{listener.port}/app"
    settings = sqlite_project / "schemac.toml"
    settings.write_text(settings.read_text() + f'\n[environments.remote]\ndb = "{url}"\n')
    remote_line = settings.read_text().splitlines().index("[environments.remote]") + 1
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    amend = ["build", "--amend", "3", "--reason", "r", "--unverified-env", "staging", "--no-known-database"]
    credentials = {"PGPASSWORD": "developer-secret"}

    refused = run(sqlite_project, *amend, **credentials)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"schemac.toml:{remote_line}:1: SC534 environment 'remote' names {url}, a server on another machine, in the "
        "settings that come with the repository, and is contacted only when the command line names it, so whether "
        "it has applied version 3 or a later one cannot be told (hint: if it is your database, name it with "
        "--ask-env remote (or give its URL with --db); if it cannot have applied version 3, name it with "
        "--unverified-env remote)\n"
    )
    assert listener.peers == []  # nothing connected

    unverified = run(sqlite_project, *amend, "--unverified-env", "remote", "--format", "json", **credentials)
    assert (unverified.returncode, unverified.stdout, unverified.stderr) == (0, "[]\n", "")
    recorded = manifest(sqlite_project, "postgresql")["amendments"]
    assert isinstance(recorded, list)
    assert [(a["databases"], a["unverified"]) for a in recorded] == [([], ["remote", "staging"])]
    assert listener.peers == []

    # named on the command line, it is asked (here it answers nothing a database would)
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "false"))
    for named in (["--ask-env", "remote"], ["--db", url]):
        asked = run(sqlite_project, *amend, *named, **credentials)
        assert (asked.returncode, asked.stdout) == (2, "")
        assert re.fullmatch(
            re.escape(f"schemac.toml:{remote_line}:1: SC534 environment 'remote' cannot be reached (cannot connect: ")
            + "[^\n]+"
            + re.escape(
                "), so whether it has applied version 3 or a later one cannot be told (hint: make it reachable, or, "
                "if it cannot have applied version 3, name it with --unverified-env remote)\n"
            ),
            asked.stderr,
        ), asked.stderr
        assert "developer-secret" not in asked.stderr
    assert len(listener.peers) >= 2  # once per command at least (libpq may try again without SSL)
    unknown = run(sqlite_project, *amend, "--ask-env", "remot")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr.splitlines() == [
        "schemac.toml:1:1: SC534 --ask-env remot: no environment 'remot' in the settings (environments: production, "
        "remote, staging) (hint: name an [environments.NAME] table)",
        refused.stderr.rstrip("\n"),
    ]


def test_no_output_shows_a_password_of_an_environment_url(
    sqlite_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemac import cli
    from schemac.errors import Diagnostic, SchemacError

    url = "postgresql://app:s3cret@127.0.0.1:1/app"

    def echoing(target: object) -> set[int]:  # a driver message that repeats the URL it was given
        raise SchemacError([Diagnostic("history", 1, 1, "SC612", f"schemac_history of {url} cannot be read")])

    monkeypatch.setattr("schemac.migrations.amending._applied", echoing)
    monkeypatch.setenv("AMEND_STAGING_DB", url)
    (sqlite_project / "specs" / "0003_live_notes.yaml").write_text(LIVE_NOTES.replace("WHERE", "FALSE"))
    argv = ["schemac", "build", "--amend", "3", "--reason", "r", "--project", str(sqlite_project)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert capsys.readouterr() == (
        "",
        "history:1:1: SC612 schemac_history of postgresql://app:***@127.0.0.1:1/app cannot be read\n",
    )
