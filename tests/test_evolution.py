"""Schema evolution on SQLite: each golden evolve_* case keeps its rows, and the evolved schema equals
the schema that one fresh spec of the final shape (``fresh.yaml`` beside the case) produces."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

import schemac
from golden_cases import GOLDEN

AUDIT = "'2026-01-01T00:00:00Z', 'ann', '2026-01-01T00:00:00Z', 'ann'"


@dataclass(frozen=True)
class Case:
    seed: str
    """SQL run after the first version, before the change."""
    after: dict[str, list[tuple[object, ...]]]
    """query → the rows it must return after the last version."""


CASES = {
    "evolve_add_column": Case(
        f"INSERT INTO orders (id, total, created_at, created_by, updated_at, updated_by) VALUES (1, 100, {AUDIT});"
        f"INSERT INTO orders (id, total, created_at, created_by, updated_at, updated_by) VALUES (2, 250, {AUDIT});"
        "INSERT INTO tags (id, label) VALUES (1, 'red'), (2, 'blue');",
        {
            "SELECT id, total, note, status, created_by FROM orders ORDER BY id": [
                (1, 100, None, "open", "ann"),
                (2, 250, None, "open", "ann"),
            ],
            "SELECT id, label, colour FROM tags ORDER BY id": [(1, "red", "grey"), (2, "blue", "grey")],
        },
    ),
    "evolve_alter_in_place": Case(
        "INSERT INTO customers VALUES (1, 'Ann');"
        "INSERT INTO orders (id, total, legacy, sku, created_at, created_by, updated_at, updated_by) "
        f"VALUES (1, 100, 'x', 'A1', {AUDIT}), (2, 250, NULL, NULL, {AUDIT});"
        "INSERT INTO stock VALUES (1, 5), (2, 0);",
        {
            "SELECT id, total, note, urgent, status, customer_id, created_by FROM orders ORDER BY id": [
                (1, 100, None, 0, "open", None, "ann"),
                (2, 250, None, 0, "open", None, "ann"),
            ],
            "SELECT id, qty, counted_on = date('now') FROM stock ORDER BY id": [(1, 5, 1), (2, 0, 1)],
        },
    ),
    "evolve_drop_column": Case(
        "INSERT INTO items VALUES (1, 'bolt', 'x', 'B1'), (2, 'nut', NULL, 'N1');"
        "INSERT INTO stock VALUES (1, 5, 'shelf');",
        {
            "SELECT * FROM items ORDER BY id": [(1, "bolt"), (2, "nut")],
            "SELECT * FROM stock": [(1, "shelf")],
        },
    ),
    "evolve_rename_column": Case(
        "INSERT INTO people VALUES (1, 'Ann', 'staff'), (2, 'Bob', 'guest');"
        "INSERT INTO pets VALUES (10, 1), (11, 2);"
        "INSERT INTO notes VALUES (1, 'hello');",
        {
            "SELECT person_id, name, category FROM people ORDER BY 1": [(1, "Ann", "staff"), (2, "Bob", "guest")],
            "SELECT id, owner_id FROM pets ORDER BY id": [(10, 1), (11, 2)],
            "SELECT id, text_body FROM notes": [(1, "hello")],
        },
    ),
    "evolve_rename_table": Case(
        f"INSERT INTO clients (id, name, created_at, created_by, updated_at, updated_by) VALUES (1, 'Acme', {AUDIT});"
        "INSERT INTO invoices VALUES (5, 1);"
        "INSERT INTO logs VALUES ('boot');",
        {
            "SELECT id, name, created_by FROM customers": [(1, "Acme", "ann")],
            "SELECT id, client_id FROM invoices": [(5, 1)],
            "SELECT message FROM events": [("boot",)],
        },
    ),
    "evolve_change_type": Case(
        "INSERT INTO measures VALUES (1, 7, 'short', NULL), (2, 30000, 'label', 0.5);",
        {"SELECT id, amount, label, ratio FROM measures ORDER BY id": [(1, 7, "short", 0.0), (2, 30000, "label", 0.5)]},
    ),
    "evolve_index": Case(
        "INSERT INTO events VALUES (1, 'boot', 'a', '2026-01-01'), (2, 'tick', 'a', '2026-01-02');",
        {"SELECT * FROM events ORDER BY id": [(1, "boot", "a", "2026-01-01"), (2, "tick", "a", "2026-01-02")]},
    ),
    "evolve_check": Case(
        "INSERT INTO accounts VALUES (1, 0), (2, 900);",
        {"SELECT * FROM accounts ORDER BY id": [(1, 0), (2, 900)]},
    ),
    "evolve_foreign_key": Case(
        "INSERT INTO authors VALUES (1, 'Ann'); INSERT INTO books VALUES (1, 'Book', 1), (2, 'Other', NULL);",
        {"SELECT * FROM books ORDER BY id": [(1, "Book", 1, None), (2, "Other", None, None)]},
    ),
    "evolve_referenced_unique": Case(
        "INSERT INTO products VALUES (1, 'a'), (2, 'b'); INSERT INTO customers VALUES (1, 'ann@example.com');"
        "INSERT INTO invoices VALUES (7, 'ann@example.com');",
        {
            "SELECT id, email, code FROM customers": [(1, "ann@example.com", None)],
            "SELECT * FROM invoices": [(7, "ann@example.com")],
            "SELECT sku FROM products ORDER BY id": [("a",), ("b",)],
        },
    ),
    "evolve_drop_table": Case(
        "INSERT INTO drafts VALUES (1); INSERT INTO draft_revisions VALUES (1, 1);"
        "INSERT INTO documents VALUES (1, 'Doc');",
        {
            "SELECT * FROM documents": [(1, "Doc")],
            "SELECT name FROM sqlite_master WHERE name LIKE 'draft%'": [],
        },
    ),
}


def test_every_evolve_golden_case_has_an_execution_case() -> None:
    assert sorted(p.name for p in GOLDEN.glob("evolve_*")) == sorted(CASES)


def _project(tmp: Path, name: str, specs: dict[str, bytes]) -> Path:
    root = tmp / name
    (root / "specs").mkdir(parents=True)
    for file, data in specs.items():
        (root / "specs" / file).write_bytes(data)
    return root


def apply_file(con: sqlite3.Connection, sql: str) -> None:
    """Apply one migration as the applier does: FKs off outside the transaction, checked before commit."""
    con.execute("PRAGMA foreign_keys=OFF")
    con.executescript("BEGIN;\n" + sql)
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.execute("COMMIT")
    con.execute("PRAGMA foreign_keys=ON")


def _balanced(text: str, start: int) -> str:
    """The parenthesised text starting at ``text[start] == '('``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise AssertionError(f"unbalanced: {text[start:]}")


def _constraints(sql: str) -> list[tuple[str, str]]:
    """Named constraints of a ``CREATE TABLE`` text: a foreign key written in its column's definition
    (``ALTER TABLE … ADD COLUMN``) counts as the ``FOREIGN KEY`` a fresh table lists."""
    found = []
    for match in re.finditer(r'CONSTRAINT "([^"]+)" (CHECK|PRIMARY KEY|FOREIGN KEY|REFERENCES) ?', sql):
        kind = match.group(2).replace("REFERENCES", "FOREIGN KEY")
        body = _balanced(sql, match.end()) if kind != "FOREIGN KEY" else ""
        found.append((match.group(1), kind + " " + body))
    return sorted(found)


def schema_of(con: sqlite3.Connection) -> dict[str, object]:
    """Every table's PRAGMA view (columns by name, indexes, foreign keys) and its named constraints.

    Physical column order is not part of the schema: a column added later sits after the others."""
    tables = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    schema: dict[str, object] = {}
    for name, sql in tables:
        indexes = []
        for row in con.execute(f'PRAGMA index_list("{name}")').fetchall():
            columns = [(r[2], r[3]) for r in con.execute(f'PRAGMA index_xinfo("{row[1]}")') if r[5]]
            (index_sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (row[1],)).fetchone()
            indexes.append((row[1], row[2], row[3], row[4], columns, index_sql))
        schema[name] = {
            "columns": sorted(row[1:] for row in con.execute(f'PRAGMA table_info("{name}")')),
            "indexes": sorted(indexes),
            "foreign_keys": con.execute(f'PRAGMA foreign_key_list("{name}")').fetchall(),
            "constraints": _constraints(sql),
        }
    return schema


def _migrations(root: Path) -> tuple[list[str], list[dict[str, object]]]:
    manifest = json.loads((root / "migrations" / "manifest.json").read_text())
    files = [(root / "migrations" / e["file"]).read_text(encoding="utf-8") for e in manifest["files"]]
    return files, manifest["files"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_evolved_schema_keeps_rows_and_equals_fresh(name: str, tmp_path: Path) -> None:
    case_dir = GOLDEN / name
    evolved = _project(tmp_path, "evolved", {p.name: p.read_bytes() for p in (case_dir / "specs").iterdir()})
    fresh = _project(tmp_path, "fresh", {"0001_fresh.yaml": (case_dir / "fresh.yaml").read_bytes()})
    schemac.build(evolved)
    schemac.build(fresh)

    con = sqlite3.connect(":memory:", isolation_level=None)
    files, entries = _migrations(evolved)
    apply_file(con, files[0])
    con.executescript(CASES[name].seed)
    for sql in files[1:]:
        apply_file(con, sql)
    for query, rows in CASES[name].after.items():
        assert con.execute(query).fetchall() == rows, query
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    reference = sqlite3.connect(":memory:", isolation_level=None)
    fresh_files, fresh_entries = _migrations(fresh)
    for sql in fresh_files:
        apply_file(reference, sql)
    assert schema_of(con) == schema_of(reference)
    assert entries[-1]["schema_fingerprint"] == fresh_entries[-1]["schema_fingerprint"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_manifest_lists_exactly_the_statements_that_cannot_be_replayed(name: str) -> None:
    expected = GOLDEN / name / "expected"
    manifest = json.loads((expected / "manifest.json").read_text())
    for entry in manifest["files"]:
        sql = (expected / entry["file"]).read_text(encoding="utf-8")
        first_lines = [block.splitlines()[0] for block in sql.split("\n\n")[1:]]
        not_replayable = [line for line in first_lines if line.startswith(("ALTER TABLE", "-- Rebuild"))]
        assert entry["non_idempotent"] == not_replayable
        if not not_replayable:
            con = sqlite3.connect(":memory:")
            for earlier in manifest["files"][: manifest["files"].index(entry) + 1]:
                con.executescript((expected / earlier["file"]).read_text(encoding="utf-8"))
            con.executescript(sql)  # a second run is harmless


def test_rebuild_of_a_parent_keeps_child_rows_and_their_references(tmp_path: Path) -> None:
    """Rebuilding a referenced table drops it; the applier's FK-off transaction keeps the children intact."""
    case_dir = GOLDEN / "evolve_rename_column"
    root = _project(tmp_path, "p", {p.name: p.read_bytes() for p in (case_dir / "specs").iterdir()})
    schemac.build(root)
    con = sqlite3.connect(":memory:", isolation_level=None)
    files, _ = _migrations(root)
    apply_file(con, files[0])
    con.executescript(CASES["evolve_rename_column"].seed)
    apply_file(con, files[1])
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("DELETE FROM people WHERE person_id = 1")  # ON DELETE CASCADE still points at the new table
    assert con.execute("SELECT id, owner_id FROM pets").fetchall() == [(11, 2)]
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO pets VALUES (12, 99)")


def test_rebuild_of_a_referenced_table_keeps_child_rows_with_foreign_keys_on(tmp_path: Path) -> None:
    """Applied with foreign keys on in one transaction, the children are copied too and nothing cascades."""
    case_dir = GOLDEN / "evolve_rename_column"
    root = _project(tmp_path, "p", {p.name: p.read_bytes() for p in (case_dir / "specs").iterdir()})
    schemac.build(root)
    con = sqlite3.connect(":memory:", isolation_level=None)
    files, _ = _migrations(root)
    apply_file(con, files[0])
    con.executescript(CASES["evolve_rename_column"].seed)
    con.execute("PRAGMA foreign_keys=ON")
    con.executescript("BEGIN;\n" + files[1])
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.execute("COMMIT")
    assert con.execute("SELECT id, owner_id FROM pets ORDER BY id").fetchall() == [(10, 1), (11, 2)]
    assert [row[1] for row in con.execute("PRAGMA table_info(people)")] == ["person_id", "name", "category"]
    con.execute("DELETE FROM people WHERE person_id = 1")  # ON DELETE CASCADE points at the new table
    assert con.execute("SELECT id, owner_id FROM pets").fetchall() == [(11, 2)]
