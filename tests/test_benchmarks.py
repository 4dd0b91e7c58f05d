"""The benchmark keeps working: a smoke run of the smallest size, peers optional."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from conftest import REPO

SERVERS = ("postgresql", "mariadb")


def report_of(module: str, *args: str) -> dict[str, Any]:
    """The ``--json`` report of ``python -m MODULE ARGS``, which must exit 0."""
    outcome = subprocess.run(
        [sys.executable, "-m", module, *args, "--repeats", "1", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert outcome.returncode == 0, outcome.stderr
    report: dict[str, Any] = json.loads(outcome.stdout)
    return report


def test_benchmark_smoke_run_measures_every_figure_and_marks_missing_peers() -> None:
    report = report_of("benchmarks", "--sizes", "100")
    rows = {(row["size"], row["name"], row["peer"]): row for row in report["rows"]}
    for key in [
        (100, "cold build", "SQLAlchemy build+compile"),
        (100, "check", ""),
        (100, "load_migrations (checksums verified)", "sha256sum"),
        (100, "build after adding one spec (incremental)", ""),
        (0, "schemac --help", "python -c pass"),
    ]:
        assert rows[key]["value"] > 0, key
    assert rows[(100, "peak RSS of a cold build", "")]["unit"] == "MB"
    assert rows[(100, "load_migrations (checksums verified)", "sha256sum")]["peer_value"] > 0
    for row in report["rows"]:
        if row["peer"] and row["peer_value"] is None and row["name"] != "apply to a fresh SQLite file":
            assert "not installed" in row["note"], row
    assert report["machine"]["nproc"] >= 1
    assert {t["outcome"] for t in report["targets"]} <= {"met", "not met", "not measured"}


def test_alter_benchmark_smoke_run_applies_both_paths_and_keeps_every_row() -> None:
    report = report_of("benchmarks.alter_bench", "--rows", "10,100")
    assert [(row["size"], row["name"], row["peer"]) for row in report["rows"]] == [
        (size, "add a nullable column: ALTER TABLE … ADD COLUMN", "the earlier rebuild (copy every row)")
        for size in (10, 100)
    ]
    assert all(row["value"] > 0 and row["peer_value"] > 0 for row in report["rows"])
    assert [t["text"] for t in report["targets"]] == ["ALTER TABLE … ADD COLUMN on 100 rows <= 10 x on 10 rows"]


def test_import_benchmark_smoke_run() -> None:
    """``python -m benchmarks.import_bench`` keeps working: every engine measured (or skipped, saying why)."""
    report = report_of("benchmarks.import_bench", "--tables", "10")
    rows = {(row["engine"], row["name"]): row for row in report["rows"]}
    for engine in ("sqlite", *SERVERS):
        row = rows[engine, "schemac import"]
        assert row["value"] or "skipped" in row["note"] or "not installed" in row["note"], row
        if row["value"]:
            assert rows[engine, "catalog reader (in process)"]["value"] > 0
    assert {t["outcome"] for t in report["targets"]} <= {"met", "not met", "not measured"}


def test_stall_benchmark_smoke_run_measures_both_forms_on_each_server() -> None:
    """``python -m benchmarks.stall_bench`` keeps working, tiny: each engine, change and form measured (or
    skipped, saying why), the forms built from the project's ``online`` setting."""
    kinds = "add_column,add_check"
    report = report_of("benchmarks.stall_bench", "--rows", "50", "--kinds", kinds)
    runs = {(row["engine"], row["kind"], row["form"]): row for row in report["rows"]}
    assert sorted(runs) == sorted(
        (engine, kind, form)
        for engine in SERVERS
        for kind in ("add column", "add check")
        for form in ("lock-safe", "plain")
    )
    for row in runs.values():
        assert row["rows"] == 50
        # The migration's time is apply's execution_ms: a change to 50 rows can take under a millisecond.
        measured = row["stall"] > 0 and row["migration"] is not None and row["migration"] >= 0
        assert measured or row["note"].startswith("skipped: "), row
    assert runs["mariadb", "add column", "lock-safe"]["sql"].endswith(", ALGORITHM=INSTANT;")
    assert "ALGORITHM" not in runs["mariadb", "add column", "plain"]["sql"]
    assert runs["mariadb", "add check", "lock-safe"]["sql"] == runs["mariadb", "add check", "plain"]["sql"]
    assert {t["outcome"] for t in report["targets"]} <= {"met", "not met", "not measured"}
