"""Every golden case: exact bytes, SQLite execution (twice), and the first user's loader contract."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import loader_contract
from golden_cases import build_case, cases, expected_files


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_golden_output_is_byte_identical(case: Path, tmp_path: Path) -> None:
    assert build_case(case, tmp_path) == expected_files(case)


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_golden_sqlite_files_run_twice(case: Path) -> None:
    for manifest_path in sorted((case / "expected").rglob("manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        if manifest["dialect"] != "sqlite":
            continue
        con = sqlite3.connect(":memory:")
        con.execute("PRAGMA foreign_keys=ON")
        for entry in manifest["files"]:
            sql = (manifest_path.parent / entry["file"]).read_text(encoding="utf-8")
            con.executescript(sql)
            if not entry["non_idempotent"]:
                con.executescript(sql)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_golden_sqlite_output_meets_the_loader_contract(case: Path) -> None:
    for manifest_path in sorted((case / "expected").rglob("manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        if manifest["dialect"] != "sqlite" or any(e["non_idempotent"] for e in manifest["files"]):
            continue
        outcome = loader_contract(manifest_path.parent)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
