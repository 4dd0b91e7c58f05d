"""End-to-end behaviour of build and check on the example project."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import schemac
from conftest import EXAMPLE, loader_contract


def test_committed_example_migrations_match_the_specs() -> None:
    result = schemac.check(EXAMPLE)
    assert result.drift == ()
    assert result.files == 5


def test_example_migrations_pass_the_loader_contract() -> None:
    outcome = loader_contract(EXAMPLE / "migrations")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    summary = json.loads(outcome.stdout)
    assert summary["files"] == 4
    assert summary["strict_sqlite"] is True  # run through apsw, double-quoted strings off, as the first user's client


def test_manifest_hashes_are_sha256_of_the_written_bytes(example_copy: Path) -> None:
    schemac.build(example_copy)
    migrations = example_copy / "migrations"
    manifest = json.loads((migrations / "manifest.json").read_text())
    assert [e["file"] for e in manifest["files"]] == sorted(p.name for p in migrations.glob("*.sql"))
    lines = ""
    for entry in manifest["files"]:
        digest = hashlib.sha256((migrations / entry["file"]).read_bytes()).hexdigest()
        assert entry["sha256"] == digest
        lines += f"{digest}  {entry['file']}\n"
    assert manifest["chain"] == hashlib.sha256(lines.encode()).hexdigest()


def test_two_builds_in_different_directories_give_identical_bytes(tmp_path: Path, example_copy: Path) -> None:
    import shutil

    other = tmp_path / "elsewhere" / "again"
    shutil.copytree(example_copy, other)
    for root in (example_copy, other):
        shutil.rmtree(root / "migrations")
        schemac.build(root)
    first = {p.name: p.read_bytes() for p in (example_copy / "migrations").iterdir()}
    second = {p.name: p.read_bytes() for p in (other / "migrations").iterdir()}
    assert first == second
    assert first == {p.name: p.read_bytes() for p in (EXAMPLE / "migrations").iterdir()}


def test_example_schema_reads_back_from_sqlite() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("PRAGMA foreign_keys=ON")
    for migration in schemac.load_migrations(EXAMPLE / "migrations"):
        con.executescript(migration.sql)
        con.executescript(migration.sql)  # replayable
    events = con.execute("PRAGMA table_info(streaming_progress_events)").fetchall()
    assert [(row[1], row[2], row[3], row[5]) for row in events] == [
        ("session_id", "TEXT", 1, 1),
        ("sequence", "INTEGER", 1, 2),
        ("stage_label", "TEXT", 1, 0),
        ("timestamp", "TEXT", 1, 0),
        ("content_snippet", "TEXT", 0, 0),
        ("delta_type", "TEXT", 1, 0),
        ("delivery_channel", "TEXT", 1, 0),
        ("announcement_priority", "TEXT", 1, 0),
        ("elapsed_ms", "INTEGER", 1, 0),
        ("created_at", "TEXT", 1, 0),
        ("created_by", "TEXT", 1, 0),
    ]
    fks = con.execute("PRAGMA foreign_key_list(streaming_progress_events)").fetchall()
    assert [(row[2], row[3], row[4], row[6]) for row in fks] == [
        ("streaming_interaction_sessions", "session_id", "session_id", "CASCADE")
    ]
    indexes = {row[1]: (row[2], row[4]) for row in con.execute("PRAGMA index_list(streaming_interaction_sessions)")}
    assert indexes["uq_streaming_sessions_one_pending"] == (1, 1)  # unique, partial
    assert indexes["uq_streaming_sessions_one_active"] == (1, 1)
    assert indexes["idx_streaming_interaction_sessions_document_id_queued_at_desc"] == (0, 0)
