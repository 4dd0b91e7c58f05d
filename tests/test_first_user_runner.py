"""SQLite migrations under the first user's runners (``first_user``): one transaction for every pending
file, foreign keys on, double-quoted strings off, no PRAGMA; and which histories their replay runner
(every file on every start) can run, as lint rule SC908 says."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import pytest

import schemac
from conftest import loader_contract
from first_user import LoaderError, Runner, replay_all
from golden_cases import GOLDEN
from test_evolution import CASES, schema_of

MakeProject = Callable[..., Path]
OWN_TABLES = ("_migrations", "schemac_history", "schemac_progress")

BASE = """\
description: Accounts with orders and their lines, a category tree, drafts and memos.
tables:
  accounts:
    audit: none
    columns:
      id:     {type: integer, primary_key: true}
      email:  {type: string(40), unique: true}
      name:   {type: text, nullable: true}
      status: {type: text, enum: [active, closed], default: active}
      legacy: {type: text, nullable: true}
    indexes:
      - columns: [status]
        where: "status = 'active'"
  orders:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      account_id:    {type: integer, references: accounts.id, on_delete: cascade}
      account_email: {type: string(40), nullable: true, references: accounts.email}
      total:         {type: integer}
      note:          {type: text, nullable: true}
    indexes:
      - columns: [account_id]
  order_lines:
    audit: none
    columns:
      id:       {type: integer, primary_key: true}
      order_id: {type: integer, references: orders.id, on_delete: cascade}
      sku:      {type: text}
      qty:      {type: integer, default: 1}
    indexes:
      - columns: [order_id]
  categories:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id: {type: integer, nullable: true, references: categories.id, on_delete: restrict}
      label:     {type: text}
  drafts:
    audit: none
    columns:
      id:         {type: integer, primary_key: true}
      account_id: {type: integer, references: accounts.id, on_delete: cascade}
  memos:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      body: {type: text}
"""

PARENT_CHANGES = """\
description: Names are required, emails longer, the legacy column and drafts go.
allow_destructive: true
drop_tables: [drafts]
tables:
  accounts:
    audit: none
    columns:
      id:     {type: integer, primary_key: true}
      email:  {type: string(80), unique: true}
      name:   {type: text, default: unknown}
      status: {type: text, enum: [active, closed], default: active}
    indexes:
      - columns: [status]
        where: "status = 'active'"
  orders:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      account_id:    {type: integer, references: accounts.id, on_delete: cascade}
      account_email: {type: string(80), nullable: true, references: accounts.email}
      total:         {type: integer}
      note:          {type: text, nullable: true}
    indexes:
      - columns: [account_id]
"""

RENAMES = """\
description: Clearer names.
tables:
  accounts:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      email_address: {type: string(80), unique: true, renamed_from: email}
      name:          {type: text, default: unknown}
      status:        {type: text, enum: [active, closed], default: active}
    indexes:
      - columns: [status]
        where: "status = 'active'"
  orders:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      account_id:    {type: integer, references: accounts.id, on_delete: cascade}
      account_email: {type: string(80), nullable: true, references: accounts.email_address}
      amount:        {type: integer, renamed_from: total}
      note:          {type: text, nullable: true}
    indexes:
      - columns: [account_id]
  line_items:
    renamed_from: order_lines
    audit: none
    columns:
      id:       {type: integer, primary_key: true}
      order_id: {type: integer, references: orders.id, on_delete: cascade}
      sku:      {type: text}
      qty:      {type: integer, default: 1}
    indexes:
      - columns: [order_id]
"""

ENUM_AND_TREE = """\
description: Accounts can be frozen, labels are optional, lines default to two.
tables:
  accounts:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      email_address: {type: string(80), unique: true}
      name:          {type: text, default: unknown}
      status:        {type: text, enum: [active, closed, frozen], default: active}
    indexes:
      - columns: [status]
        where: "status = 'active'"
  categories:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id: {type: integer, nullable: true, references: categories.id, on_delete: restrict}
      label:     {type: text, nullable: true}
  line_items:
    audit: none
    columns:
      id:       {type: integer, primary_key: true}
      order_id: {type: integer, references: orders.id, on_delete: cascade}
      sku:      {type: text}
      qty:      {type: integer, default: 2}
    indexes:
      - columns: [order_id]
"""

CLEANUP = """\
description: Order notes and memos go.
allow_destructive: true
drop_tables: [memos]
tables:
  orders:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      account_id:    {type: integer, references: accounts.id, on_delete: cascade}
      account_email: {type: string(80), nullable: true, references: accounts.email_address}
      amount:        {type: integer}
    indexes:
      - columns: [account_id]
"""

FINAL = """\
description: The final shape in one spec.
tables:
  accounts:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      email_address: {type: string(80), unique: true}
      name:          {type: text, default: unknown}
      status:        {type: text, enum: [active, closed, frozen], default: active}
    indexes:
      - columns: [status]
        where: "status = 'active'"
  orders:
    audit: none
    columns:
      id:            {type: integer, primary_key: true}
      account_id:    {type: integer, references: accounts.id, on_delete: cascade}
      account_email: {type: string(80), nullable: true, references: accounts.email_address}
      amount:        {type: integer}
    indexes:
      - columns: [account_id]
  line_items:
    audit: none
    columns:
      id:       {type: integer, primary_key: true}
      order_id: {type: integer, references: orders.id, on_delete: cascade}
      sku:      {type: text}
      qty:      {type: integer, default: 2}
    indexes:
      - columns: [order_id]
  categories:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id: {type: integer, nullable: true, references: categories.id, on_delete: restrict}
      label:     {type: text, nullable: true}
"""

SPECS = {
    "0001_base.yaml": BASE,
    "0002_parent_changes.yaml": PARENT_CHANGES,
    "0003_renames.yaml": RENAMES,
    "0004_enum_and_tree.yaml": ENUM_AND_TREE,
    "0005_cleanup.yaml": CLEANUP,
}


@dataclass
class Expected:
    """Every table's columns and rows (by id) as the specs' own changes leave them."""

    tables: dict[str, tuple[list[str], dict[int, dict[str, Any]]]] = field(default_factory=dict)

    def insert(self, table: str, *rows: tuple[Any, ...]) -> list[str]:
        """Record ``rows`` (values in column order) and return the SQL that inserts them."""
        columns, stored = self.tables[table]
        for row in rows:
            stored[row[0]] = dict(zip(columns, row, strict=True))
        return [f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})" for _ in rows]

    def create(self, table: str, *columns: str) -> None:
        self.tables[table] = (list(columns), {})

    def rename_column(self, table: str, old: str, new: str) -> None:
        columns, rows = self.tables[table]
        columns[columns.index(old)] = new
        for row in rows.values():
            row[new] = row.pop(old)

    def drop_column(self, table: str, column: str) -> None:
        columns, rows = self.tables[table]
        columns.remove(column)
        for row in rows.values():
            del row[column]

    def fill(self, table: str, column: str, value: Any) -> None:
        for row in self.tables[table][1].values():
            if row[column] is None:
                row[column] = value

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        columns, rows = self.tables[table]
        return [tuple(rows[key][c] for c in columns) for key in sorted(rows)]


ROWS: dict[int, dict[str, list[tuple[Any, ...]]]] = {
    1: {
        "accounts": [(1, "a@x", "Ann", "active", "L1"), (2, "b@x", None, "closed", None)],
        "orders": [(10, 1, "a@x", 100, "n1"), (11, 2, None, 50, None)],
        "order_lines": [(100, 10, "s1", 3), (101, 11, "s2", 1)],
        "categories": [(1, None, "root"), (2, 1, "child"), (3, 2, "leaf")],
        "drafts": [(1, 1), (2, 2)],
        "memos": [(1, "m1")],
    },
    2: {
        "accounts": [(3, "c@x", "Cy", "active")],
        "orders": [(12, 3, "c@x", 70, None)],
        "order_lines": [(102, 12, "s3", 2)],
        "categories": [(4, 3, "deep")],
        "memos": [(2, "m2")],
    },
    3: {
        "accounts": [(4, "d@x", "Di", "closed")],
        "orders": [(13, 4, "d@x", 5, "n4")],
        "line_items": [(103, 13, "s4", 1)],
        "categories": [(5, 1, "c5")],
    },
    4: {
        "accounts": [(5, "e@x", "Ed", "frozen")],
        "orders": [(14, 5, None, 9, None)],
        "line_items": [(104, 14, "s5", 2)],
        "categories": [(6, None, None)],
    },
    5: {"orders": [(15, 1, "a@x", 1)]},
}


def _expected_after(version: int, expected: Expected) -> None:
    """The specs' own change of ``version`` to the rows already there."""
    if version == 1:
        expected.create("accounts", "id", "email", "name", "status", "legacy")
        expected.create("orders", "id", "account_id", "account_email", "total", "note")
        expected.create("order_lines", "id", "order_id", "sku", "qty")
        expected.create("categories", "id", "parent_id", "label")
        expected.create("drafts", "id", "account_id")
        expected.create("memos", "id", "body")
    elif version == 2:
        expected.fill("accounts", "name", "unknown")
        expected.drop_column("accounts", "legacy")
        del expected.tables["drafts"]
    elif version == 3:
        expected.rename_column("accounts", "email", "email_address")
        expected.rename_column("orders", "total", "amount")
        expected.tables["line_items"] = expected.tables.pop("order_lines")
    elif version == 5:
        expected.drop_column("orders", "note")
        del expected.tables["memos"]


def _statements(version: int, expected: Expected) -> list[tuple[str, tuple[Any, ...]]]:
    """The inserts made after ``version`` (recorded in ``expected``), as (SQL, parameters)."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    for table, rows in ROWS[version].items():
        found.extend(zip(expected.insert(table, *rows), rows, strict=True))
    return found


def _project(root: Path, specs: dict[str, str]) -> Path:
    (root / "specs").mkdir(parents=True)
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    schemac.build(root)
    return root


def _stage(migrations: Path, staged: Path, upto: int) -> Path:
    """``staged`` holding the first ``upto`` files of ``migrations``, as the user's checkout would."""
    staged.mkdir(exist_ok=True)
    for path in sorted(migrations.glob("*.sql"))[:upto]:
        shutil.copy(path, staged / path.name)
    return staged


def _tables(con: sqlite3.Connection) -> list[str]:
    names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [name for (name,) in names if name not in OWN_TABLES]


def _contents(path: Path) -> dict[str, object]:
    """Schema (without the runners' own tables) and every table's rows, read with Python's sqlite3."""
    con = sqlite3.connect(path)
    try:
        schema = {name: shape for name, shape in schema_of(con).items() if name not in OWN_TABLES}
        rows = {name: con.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall() for name in _tables(con)}
        return {"schema": schema, "rows": rows}
    finally:
        con.close()


def _assert_rows(runner: Runner, expected: Expected) -> None:
    for table, (columns, _) in expected.tables.items():
        assert [row[1] for row in runner.query(f"PRAGMA table_info({table})")] == columns, table
        assert runner.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id") == expected.rows(table), table
    live = runner.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_migrations'")
    assert sorted(name for (name,) in live) == sorted(expected.tables)
    assert runner.query("PRAGMA foreign_key_check") == []
    assert runner.query("PRAGMA integrity_check") == [("ok",)]


def test_an_evolving_project_applies_version_by_version_through_the_first_users_runner(tmp_path: Path) -> None:
    """A referenced parent changed (nullability, type, a dropped column) while its children, their
    children and a self-referencing tree hold rows, renames, an enum change and destructive drops:
    through the tracked runner, no row is lost or changed but by the specs, and the schema is the one a
    fresh build of the final shape gives; ``schemac apply`` gives the same schema and rows."""
    project = _project(tmp_path / "project", SPECS)
    migrations = project / "migrations"
    expected = Expected()
    runner = Runner(tmp_path / "runner.db")
    applier = tmp_path / "applier.db"
    for version in range(1, 6):
        staged = _stage(migrations, tmp_path / "checkout", version)
        assert runner.apply(staged) == [version]
        assert [m.version for m in schemac.apply(project, str(applier), to=version).applied] == [version]
        _expected_after(version, expected)
        _assert_rows(runner, expected)
        with closing(sqlite3.connect(applier, isolation_level=None)) as con:
            con.execute("PRAGMA foreign_keys=ON")
            for sql, params in _statements(version, expected):
                runner.execute(sql, params)
                con.execute(sql, params)
        _assert_rows(runner, expected)
    assert runner.query("SELECT version, name FROM _migrations ORDER BY version") == [
        (1, "base"),
        (2, "parent changes"),
        (3, "renames"),
        (4, "enum and tree"),
        (5, "cleanup"),
    ]
    runner.close()

    fresh = _project(tmp_path / "fresh", {"0001_fresh.yaml": FINAL})
    reference = Runner(tmp_path / "fresh.db")
    reference.apply(fresh / "migrations")
    reference.close()
    evolved = _contents(tmp_path / "runner.db")
    assert evolved["schema"] == _contents(tmp_path / "fresh.db")["schema"]
    assert _contents(applier) == evolved
    assert schemac.verify(project, str(applier)).differences == ()
    fingerprints = [json.loads((root / "migrations" / "manifest.json").read_text()) for root in (project, fresh)]
    assert fingerprints[0]["files"][-1]["schema_fingerprint"] == fingerprints[1]["files"][-1]["schema_fingerprint"]


def test_every_pending_version_runs_in_one_transaction_with_rows_in_every_table(tmp_path: Path) -> None:
    """Versions 2 to 5 pending together (one transaction, as the runner applies them) keep every row."""
    project = _project(tmp_path / "project", SPECS)
    expected = Expected()
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    _expected_after(1, expected)
    for sql, params in _statements(1, expected):
        runner.execute(sql, params)
    assert runner.apply(project / "migrations") == [2, 3, 4, 5]
    for version in range(2, 6):
        _expected_after(version, expected)
    _assert_rows(runner, expected)
    runner.close()


@pytest.mark.parametrize("name", ["evolve_rename_column", "evolve_rename_table"])
def test_a_rebuilt_referenced_table_with_rows_in_its_children_no_longer_stops_the_runner(
    name: str, tmp_path: Path
) -> None:
    """The golden cases that rebuild a referenced table (which stopped with
    ``rebuild_of_<table>_needs_foreign_keys_off``) keep their rows under the runner, keys intact."""
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / name / "specs", project / "specs")
    schemac.build(project)
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    for statement in CASES[name].seed.split(";"):
        if statement.strip():
            runner.execute(statement)
    assert runner.apply(project / "migrations") == [2]
    for query, rows in CASES[name].after.items():
        assert runner.query(query) == rows, query
    assert runner.query("PRAGMA foreign_key_check") == []
    runner.close()


TWO_PARENTS = """\
description: Two parents share a child, which has a child of its own.
tables:
  owners:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text, nullable: true}
  places:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      code: {type: text, unique: true}
  items:
    audit: none
    columns:
      id:         {type: integer, primary_key: true}
      owner_id:   {type: integer, references: owners.id, on_delete: cascade}
      place_code: {type: text, references: places.code, on_delete: restrict}
  parts:
    audit: none
    columns:
      id:      {type: integer, primary_key: true}
      item_id: {type: integer, references: items.id, on_delete: cascade}
"""

BOTH_PARENTS_CHANGE = """\
description: Owner names are required; places get a label with an expression default.
tables:
  owners:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text, default: anonymous}
  places:
    audit: none
    columns:
      id:    {type: integer, primary_key: true}
      label: {type: text, default: {sql: "'none'"}}
      code:  {type: text, unique: true}
"""


def test_parents_rebuilt_together_copy_their_shared_children_once(tmp_path: Path) -> None:
    """Two rebuilt parents share their referencing tables: one rebuild copies each table once, drops
    referencing tables first, keeps every row and key under the runner, and replays twice in a row."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_base.yaml").write_text(TWO_PARENTS, encoding="utf-8")
    (project / "specs" / "0002_both.yaml").write_text(BOTH_PARENTS_CHANGE, encoding="utf-8")
    assert [p.operations for p in schemac.plan_changes(project)][1] == (
        "rebuild tables owners, places (ALTER TABLE cannot change a column's type, nullability, default or derived "
        "checks; add a column in a key or check, NOT NULL without a default, or with a default that is not a "
        "constant): "
        "alter column owners.name: text NULL -> text NOT NULL default 'anonymous'; "
        "add column places.label text (copies items, parts too: they reference them)",
    )
    schemac.build(project)
    sql = (project / "migrations" / "0002_both.sql").read_text(encoding="utf-8")
    assert [sql.count(f'CREATE TABLE "_schemac_new_{t}"') for t in ("owners", "places", "items", "parts")] == [1] * 4
    assert sql.index('DROP TABLE "parts"') < sql.index('DROP TABLE "items"') < sql.index('DROP TABLE "owners"')
    assert sql.index('DROP TABLE "items"') < sql.index('DROP TABLE "places"')
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO owners VALUES (1, NULL), (2, 'Bo')")
    runner.execute("INSERT INTO places VALUES (1, 'p1'), (2, 'p2')")
    runner.execute("INSERT INTO items VALUES (10, 1, 'p1'), (11, 2, 'p2')")
    runner.execute("INSERT INTO parts VALUES (100, 10), (101, 11)")
    assert runner.apply(project / "migrations") == [2]
    assert runner.query("SELECT * FROM owners") == [(1, "anonymous"), (2, "Bo")]
    assert runner.query("SELECT * FROM places") == [(1, "none", "p1"), (2, "none", "p2")]
    assert runner.query("SELECT * FROM items") == [(10, 1, "p1"), (11, 2, "p2")]
    assert runner.query("SELECT * FROM parts") == [(100, 10), (101, 11)]
    assert runner.query("PRAGMA foreign_key_check") == []
    with pytest.raises(apsw.ConstraintError):  # ON DELETE RESTRICT now guards the new places
        runner.execute("DELETE FROM places WHERE id = 1")
    runner.execute("DELETE FROM owners WHERE id = 1")  # ON DELETE CASCADE reaches the new items and parts
    assert runner.query("SELECT * FROM parts") == [(101, 11)]
    runner.close()
    checked = loader_contract(project / "migrations")
    assert checked.returncode == 0, checked.stdout
    assert '"replayed_twice": true, "strict_sqlite": true' in checked.stdout


def test_plan_names_the_tables_a_rebuild_copies_and_drops(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    for name, text in list(SPECS.items())[:2]:
        (project / "specs" / name).write_text(text, encoding="utf-8")
    assert [p.operations for p in schemac.plan_changes(project)][1] == (
        "rebuild tables accounts, orders (ALTER TABLE cannot change a column's type, nullability, default or derived "
        "checks): drop column accounts.legacy; alter column accounts.email: string(40) "
        "NOT NULL -> string(80) NOT NULL; alter column accounts.name: text NULL -> text NOT NULL default 'unknown'; "
        "alter column orders.account_email: string(40) NULL -> string(80) NULL "
        "(copies order_lines too and drops drafts first: they reference them)",
    )


TREE = """\
description: A category tree whose rows keep their parents.
tables:
  categories:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id: {type: integer, nullable: true, references: categories.id, on_delete: restrict}
      label:     {type: text}
"""


def test_a_table_that_references_itself_on_delete_restrict_is_rebuilt_with_its_rows(tmp_path: Path) -> None:
    """Dropping the old table would stop at its first row another references; each old row first
    references itself, and the new table keeps the real parents and the restriction."""
    optional = TREE.replace("label:     {type: text}", "label:     {type: text, nullable: true}")
    project = _project(tmp_path / "project", {"0001_tree.yaml": TREE, "0002_optional.yaml": optional})
    sql = (project / "migrations" / "0002_optional.sql").read_text(encoding="utf-8")
    assert 'REFERENCES "_schemac_new_categories" ("id") ON DELETE RESTRICT' in sql
    assert 'UPDATE "categories" SET "parent_id" = "id";\nDROP TABLE "categories";' in sql
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO categories VALUES (1, NULL, 'root'), (2, 1, 'child'), (3, 2, 'leaf'), (4, 4, 'loop')")
    assert runner.apply(project / "migrations") == [2]
    assert runner.query("SELECT * FROM categories ORDER BY id") == [
        (1, None, "root"),
        (2, 1, "child"),
        (3, 2, "leaf"),
        (4, 4, "loop"),
    ]
    assert runner.query("PRAGMA foreign_key_check") == []
    with pytest.raises(apsw.ConstraintError):
        runner.execute("DELETE FROM categories WHERE id = 2")
    runner.close()


def test_a_table_whose_rows_reference_each_other_on_delete_restrict_is_dropped_with_its_rows(
    tmp_path: Path,
) -> None:
    """SQLite's DROP TABLE deletes the rows first, and RESTRICT would stop at the first row another
    references: each row first references itself. Run again after the drop (the replaying runner), the
    file makes an empty stand-in to do that to, and drops it."""
    gone = "description: Categories go.\nallow_destructive: true\ndrop_tables: [categories]\n"
    project = _project(tmp_path / "project", {"0001_tree.yaml": TREE, "0002_gone.yaml": gone})
    sql = (project / "migrations" / "0002_gone.sql").read_text(encoding="utf-8")
    assert (
        'CREATE TABLE IF NOT EXISTS "categories" ("parent_id", "id");\nUPDATE "categories" SET "parent_id" = "id";\n'
        'DROP TABLE IF EXISTS "categories";\n'
    ) in sql
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO categories VALUES (1, NULL, 'root'), (2, 1, 'child'), (3, 2, 'leaf')")
    assert runner.apply(project / "migrations") == [2]
    assert runner.query("SELECT name FROM sqlite_master WHERE name = 'categories'") == []
    runner.close()
    replay_all(tmp_path / "runner.db", project / "migrations")  # every file again: no stand-in is left
    with closing(sqlite3.connect(tmp_path / "runner.db")) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'categories'").fetchall() == []


KEYED = """\
description: Codes and the items that will reference them.
tables:
  codes:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      code: {type: text, nullable: true}
  items:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      code_text: {type: text, nullable: true}
"""

LINKED = """\
description: Codes become unique; items reference them.
tables:
  codes:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      code: {type: text, nullable: true, unique: true}
  items:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      code_text: {type: text, nullable: true, references: codes.code}
"""


def test_a_rebuild_runs_after_the_unique_index_its_new_key_references(tmp_path: Path) -> None:
    """With foreign keys on, copying rows into a table whose key references a column with no unique
    index is "foreign key mismatch": the rebuild comes after every in-place change of its version."""
    project = _project(tmp_path / "project", {"0001_codes.yaml": KEYED, "0002_linked.yaml": LINKED})
    sql = (project / "migrations" / "0002_linked.sql").read_text(encoding="utf-8")
    assert sql.index('CREATE UNIQUE INDEX IF NOT EXISTS "uq_codes_code"') < sql.index('-- Rebuild "items"')
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO codes VALUES (1, 'a'), (2, NULL); INSERT INTO items VALUES (10, 'a'), (11, NULL)")
    assert runner.apply(project / "migrations") == [2]
    assert runner.query("SELECT * FROM items ORDER BY id") == [(10, "a"), (11, None)]
    with pytest.raises(apsw.ConstraintError):
        runner.execute("INSERT INTO items VALUES (12, 'missing')")
    runner.close()


def test_the_runner_emulation_follows_the_loader_contract(tmp_path: Path) -> None:
    """Lenient integer versions in numeric order, other files ignored, all pending files in one
    transaction, names stored with spaces, and a changed recorded file refused."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "20251013_add_tags.sql").write_text("CREATE TABLE tags (id INTEGER PRIMARY KEY);\n")
    (directory / "007_first_table.sql").write_text("CREATE TABLE first (id INTEGER PRIMARY KEY);\n")
    (directory / "README.md").write_text("not a migration\n")
    runner = Runner(tmp_path / "app.db")
    assert runner.apply(directory) == [7, 20251013]
    assert runner.query("SELECT version, name FROM _migrations ORDER BY version") == [
        (7, "first table"),
        (20251013, "add tags"),
    ]
    assert runner.query('SELECT "journal_mode" FROM pragma_journal_mode') == [("wal",)]
    with pytest.raises(apsw.SQLError, match="should this be a string literal in single-quotes"):
        runner.query('SELECT "nope" FROM tags')  # a double-quoted name that is no column is never a string
    (directory / "20251014_more.sql").write_text("CREATE TABLE more (id INTEGER PRIMARY KEY);\n")
    (directory / "20251015_broken.sql").write_text("INSERT INTO missing VALUES (1);\n")
    with pytest.raises(apsw.SQLError, match="no such table: missing"):
        runner.apply(directory)
    assert runner.query("SELECT name FROM sqlite_master WHERE name = 'more'") == []  # rolled back with it
    (directory / "20251015_broken.sql").unlink()
    (directory / "007_first_table.sql").write_text("CREATE TABLE first (id INTEGER PRIMARY KEY, x TEXT);\n")
    with pytest.raises(LoaderError, match="checksum mismatch: version 7"):
        runner.apply(directory)
    runner.close()


# Replay-all runner and lint rule SC908

TABLES = """\
description: Accounts and their notes.
tables:
  accounts:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text}
  notes:
    audit: none
    columns:
      id:         {type: integer, primary_key: true}
      account_id: {type: integer, references: accounts.id}
      body:       {type: text}
"""

MORE_TABLES = """\
description: Tags and an index, only new objects.
tables:
  tags:
    audit: none
    columns:
      id:    {type: integer, primary_key: true}
      label: {type: text}
  notes:
    audit: none
    columns:
      id:         {type: integer, primary_key: true}
      account_id: {type: integer, references: accounts.id}
      body:       {type: text}
    indexes:
      - columns: [account_id]
"""

RENAMED = """\
description: Accounts become customers.
tables:
  customers:
    renamed_from: accounts
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text}
"""


def _replay_findings(project: Path) -> list[str]:
    return [f"{d.file}:{d.line}:{d.column}: {d.message}" for d in schemac.lint(project).findings if d.code == "SC908"]


def test_an_additive_history_replays_on_every_start_and_a_rename_ends_that(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """New tables and indexes replay on every start with rows kept, and lint says nothing; from the
    version that renames a table, the next start fails, and lint names that version."""
    project = make_project({"0001_tables.yaml": TABLES, "0002_more.yaml": MORE_TABLES})
    schemac.build(project)
    database = tmp_path / "replayed.db"
    replay_all(database, project / "migrations")
    runner = Runner(database)
    runner.execute("INSERT INTO accounts VALUES (1, 'Ann'); INSERT INTO notes VALUES (1, 1, 'hi')")
    runner.execute("INSERT INTO tags VALUES (1, 'red')")
    runner.close()
    replay_all(database, project / "migrations")  # the next start
    runner = Runner(database)
    assert runner.query("SELECT * FROM notes") == [(1, 1, "hi")]
    assert runner.query("SELECT * FROM tags") == [(1, "red")]
    runner.close()
    assert _replay_findings(project) == []

    (project / "specs" / "0003_renamed.yaml").write_text(RENAMED, encoding="utf-8")
    schemac.build(project)
    replay_all(database, project / "migrations")  # the start that brings version 3: every file runs once more
    with pytest.raises(apsw.SQLError, match="there is already another table or index with this name: customers"):
        replay_all(database, project / "migrations")  # the next start creates accounts again, then renames it
    runner = Runner(tmp_path / "tracked.db")  # a runner that records versions is fine
    assert runner.apply(project / "migrations") == [1, 2, 3]
    assert runner.apply(project / "migrations") == []
    runner.close()
    assert _replay_findings(project) == [
        "specs/0003_renamed.yaml:4:19: replaying every migration file is unsafe from version 3: it renames table "
        "'accounts' to 'customers' (a replay runs the older files, which create 'accounts' again, then fails "
        "renaming it)"
    ]
    (finding,) = [d for d in schemac.lint(project).findings if d.code == "SC908"]
    assert finding.severity == "warning"
    assert finding.hint == (
        "apply the files with a runner that records the versions it applied and runs only newer ones "
        "(schemac apply does); disable the rule if no runner replays every file"
    )


def test_a_table_created_again_after_a_drop_is_unsafe_to_replay(make_project: MakeProject, tmp_path: Path) -> None:
    """Every statement is re-runnable, yet replaying the drop empties the table created after it."""
    dropped = "description: Notes go.\nallow_destructive: true\ndrop_tables: [notes]\n"
    again = MORE_TABLES.replace("Tags and an index, only new objects.", "Notes again.")
    project = make_project({"0001_tables.yaml": TABLES, "0002_dropped.yaml": dropped, "0003_again.yaml": again})
    schemac.build(project)
    manifest = (project / "migrations" / "manifest.json").read_text(encoding="utf-8")
    assert manifest.count('"non_idempotent": []') == 3
    database = tmp_path / "replayed.db"
    replay_all(database, project / "migrations")
    runner = Runner(database)
    runner.execute("INSERT INTO accounts VALUES (1, 'Ann'); INSERT INTO notes VALUES (1, 1, 'kept?')")
    runner.close()
    replay_all(database, project / "migrations")
    runner = Runner(database)
    assert runner.query("SELECT * FROM notes") == []  # version 2 dropped it again, with its row
    runner.close()
    assert _replay_findings(project) == [
        "specs/0003_again.yaml:8:3: replaying every migration file is unsafe from version 3: it creates table "
        "'notes', which version 2 dropped (a replay of version 2 would drop the new table with its rows)"
    ]


def test_each_dialect_is_told_the_version_its_own_files_become_unsafe_from(make_project: MakeProject) -> None:
    """integer -> bigint is nothing on SQLite (the same storage) but an ALTER on PostgreSQL."""
    wider = TABLES.replace(
        "id:         {type: integer, primary_key: true}", "id:         {type: bigint, primary_key: true}"
    )
    project = make_project(
        {"0001_tables.yaml": TABLES, "0002_wider.yaml": wider, "0003_renamed.yaml": RENAMED},
        'dialects = ["sqlite", "postgresql"]\n',
    )
    assert _replay_findings(project) == [
        "specs/0002_wider.yaml:11:19: replaying every migration file (postgresql) is unsafe from version 2: it runs "
        "statements that cannot run twice (alter column notes.id: integer NOT NULL -> bigint NOT NULL)",
        "specs/0003_renamed.yaml:4:19: replaying every migration file (sqlite) is unsafe from version 3: it renames "
        "table 'accounts' to 'customers' (a replay runs the older files, which create 'accounts' again, then fails "
        "renaming it)",
    ]


CLIENTS = """\
description: Clients with drafts and invoices that restrict their deletion.
tables:
  clients:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text, nullable: true}
  drafts:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      client_id: {type: integer, references: clients.id, on_delete: restrict}
  invoices:
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      client_id: {type: integer, references: clients.id, on_delete: restrict}
"""

CUSTOMERS = """\
description: Clients become customers with a name; drafts go; payments start.
allow_destructive: true
drop_tables: [drafts]
tables:
  customers:
    renamed_from: clients
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      name: {type: text, default: unnamed}
  payments:
    audit: none
    columns:
      id:          {type: integer, primary_key: true}
      customer_id: {type: integer, references: customers.id, on_delete: restrict}
"""


def test_a_renamed_table_rebuilt_in_its_version_drops_the_dropped_tables_that_reference_it_first(
    tmp_path: Path,
) -> None:
    """The rebuild follows the rename; ``drafts`` (dropped by the version, referencing the table under its
    old name, ON DELETE RESTRICT) goes before it; ``payments``, new and empty, keeps its key by name."""
    project = _project(tmp_path / "project", {"0001_clients.yaml": CLIENTS, "0002_customers.yaml": CUSTOMERS})
    sql = (project / "migrations" / "0002_customers.sql").read_text(encoding="utf-8")
    assert sql.index('DROP TABLE IF EXISTS "drafts"') < sql.index('DROP TABLE "customers"')
    assert 'CREATE TABLE "_schemac_new_payments"' not in sql
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO clients VALUES (1, NULL); INSERT INTO drafts VALUES (1, 1)")
    runner.execute("INSERT INTO invoices VALUES (1, 1)")
    assert runner.apply(project / "migrations") == [2]
    assert runner.query("SELECT * FROM customers") == [(1, "unnamed")]
    assert runner.query("SELECT * FROM invoices") == [(1, 1)]
    assert runner.query("SELECT name FROM sqlite_master WHERE name = 'drafts'") == []
    runner.execute("INSERT INTO payments VALUES (1, 1)")
    assert runner.query("PRAGMA foreign_key_check") == []
    with pytest.raises(apsw.ConstraintError):
        runner.execute("INSERT INTO payments VALUES (2, 99)")
    runner.close()


CYCLE = {
    "0001_pair.yaml": """\
description: Bs reference As.
tables:
  a:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
  b:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      a_id: {type: integer, references: a.id}
""",
    "0002_cycle.yaml": """\
description: As may reference a B, closing a cycle.
tables:
  a:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      b_id: {type: integer, nullable: true, references: b.id}
""",
    "0003_note.yaml": """\
description: Bs get a note, with an expression default that only a rebuild can add.
tables:
  b:
    audit: none
    columns:
      id:   {type: integer, primary_key: true}
      note: {type: text, default: {sql: "''"}}
      a_id: {type: integer, references: a.id}
""",
}


def test_tables_in_a_cycle_of_keys_are_rebuilt_while_no_row_references_round_it(tmp_path: Path) -> None:
    """The nullable key of the cycle waits: A is copied before B and B dropped before A. Rows that
    reference each other round the cycle cannot be copied with foreign keys on: the runner rolls back
    (``schemac apply``, with foreign keys off, applies it)."""
    project = _project(tmp_path / "project", CYCLE)
    outcomes = []
    for crossing in (False, True):
        runner = Runner(tmp_path / f"runner_{crossing}.db")
        runner.apply(_stage(project / "migrations", tmp_path / f"checkout_{crossing}", 2))
        runner.execute("INSERT INTO a VALUES (1, NULL); INSERT INTO b VALUES (1, 1)")
        if crossing:
            runner.execute("UPDATE a SET b_id = 1")
        try:
            outcomes.append(runner.apply(project / "migrations"))
        except apsw.ConstraintError as error:
            outcomes.append(str(error))
        outcomes.append((runner.query("SELECT * FROM a"), runner.query("SELECT * FROM b")))
        runner.close()
    assert outcomes == [
        [3],
        ([(1, None)], [(1, "", 1)]),
        "FOREIGN KEY constraint failed",
        ([(1, 1)], [(1, 1)]),
    ]
    applied = str(tmp_path / "applied.db")
    schemac.apply(project, applied, to=2)
    with closing(sqlite3.connect(applied, isolation_level=None)) as con:
        con.execute("INSERT INTO a VALUES (1, NULL)")
        con.execute("INSERT INTO b VALUES (1, 1)")
        con.execute("UPDATE a SET b_id = 1")
    assert [m.version for m in schemac.apply(project, applied).applied] == [3]
    with closing(sqlite3.connect(applied)) as con:
        assert con.execute("SELECT * FROM b").fetchall() == [(1, "", 1)]


NEW_CHILD = {
    "0001_tables.yaml": """\
description: A parent with a check and a child.
tables:
  t1:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      c2: {type: integer, check: "c2 >= 0"}
  t5:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      c6: {type: integer, references: t1.id}
""",
    "0002_new_child.yaml": """\
description: The parent loses a column; a new table references both with a cascading key.
allow_destructive: true
tables:
  t1:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
  t7:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      c8: {type: integer, references: t1.id, on_delete: cascade}
      c9: {type: integer, references: t5.id}
""",
}


def test_a_table_created_with_keys_into_a_rebuilt_closure_is_made_after_the_rebuild(tmp_path: Path) -> None:
    """Dropping the old parent prepares the new table's ON DELETE CASCADE, and with it that table's key to
    the child the rebuild dropped just before (``no such table: main.t5``): the new table comes after."""
    project = _project(tmp_path / "project", NEW_CHILD)
    runner = Runner(tmp_path / "runner.db")
    runner.apply(_stage(project / "migrations", tmp_path / "checkout", 1))
    runner.execute("INSERT INTO t1 VALUES (1, 5); INSERT INTO t5 VALUES (1, 1)")
    assert runner.apply(project / "migrations") == [2]
    runner.execute("INSERT INTO t7 VALUES (1, 1, 1)")
    runner.execute("DELETE FROM t7; DELETE FROM t5; DELETE FROM t1")
    assert runner.query("PRAGMA foreign_key_check") == []
    runner.close()
    sql = (project / "migrations" / "0002_new_child.sql").read_text(encoding="utf-8")
    assert sql.index('ALTER TABLE "_schemac_new_t5" RENAME TO "t5"') < sql.index('CREATE TABLE IF NOT EXISTS "t7"')
