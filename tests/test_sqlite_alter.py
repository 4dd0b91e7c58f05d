"""SQLite adds and drops columns with ALTER TABLE where SQLite allows it, and rebuilds only the rest:
which path each table takes (``plan``), the ``[sqlite] min_version`` setting, the first user's runner,
and projects whose files an earlier schemac made with rebuilds."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import apsw
import pytest

import schemac
from conftest import loader_contract
from first_user import Runner
from golden_cases import GOLDEN
from schemac.dialects import SQLITE
from schemac.errors import SchemacError
from test_evolution import CASES, apply_file, schema_of

CASE = "evolve_alter_in_place"

BASE = """\
description: Customers and orders.
tables:
  customers:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      code: {type: text}
  orders:
    columns:
      id: {type: integer, primary_key: true}
      total: {type: integer}
      legacy: {type: text, nullable: true}
"""


def _project(root: Path, specs: dict[str, str], settings: str = "") -> Path:
    (root / "specs").mkdir(parents=True)
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    if settings:
        (root / "schemac.toml").write_text(settings, encoding="utf-8")
    return root


def _orders(columns: str) -> str:
    """A follow-up spec giving ``orders`` its first two columns and ``columns``."""
    return (
        "description: Orders change.\nallow_destructive: true\ntables:\n  orders:\n    columns:\n"
        "      id: {type: integer, primary_key: true}\n      total: {type: integer}\n" + columns
    )


def _operations(project: Path) -> tuple[str, ...]:
    return schemac.plan_changes(project)[-1].operations


def test_plan_says_which_tables_alter_and_which_rebuild_and_why(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / CASE / "specs", project / "specs")
    assert _operations(project) == (
        "drop index idx_orders_sku of orders",
        "drop column orders.legacy",
        "drop column orders.sku",
        "add column orders.note text",
        "add column orders.urgent boolean",
        "add column orders.status text",
        "add column orders.customer_id integer with foreign key fk_orders_customer_id",
        "rebuild table stock (ALTER TABLE cannot add a column in a key or check, NOT NULL without a default, "
        "or with a default that is not a constant): add column stock.counted_on date",
    )


ADD_CONSTRAINED = "add a column in a key or check, NOT NULL without a default, or with a default that is not a constant"


@pytest.mark.parametrize(
    ("columns", "reasons", "changes"),
    [
        (
            '      code: {type: text, nullable: true, check: "length(code) > 2"}\n',
            f"{ADD_CONSTRAINED}; add a check",
            "drop column orders.legacy; add column orders.code text; add check ck_orders_code on orders",
        ),
        ("      code: {type: text}\n", ADD_CONSTRAINED, "drop column orders.legacy; add column orders.code text"),
        (
            "      seen: {type: timestamp, default: {fn: now}}\n",
            ADD_CONSTRAINED,
            "drop column orders.legacy; add column orders.seen timestamp",
        ),
        (
            "      customer_id: {type: integer, default: 1, references: customers.id}\n",
            f"{ADD_CONSTRAINED}; add a foreign key other than a new nullable column's own",
            "drop column orders.legacy; add column orders.customer_id integer; "
            "add foreign key fk_orders_customer_id on orders",
        ),
        (
            "      legacy: {type: text}\n",
            "change a column's type, nullability, default or derived checks",
            "alter column orders.legacy: text NULL -> text NOT NULL",
        ),
    ],
    ids=["own-check", "not-null-without-default", "function-default", "key-with-a-default", "nullability"],
)
def test_what_alter_table_cannot_do_is_a_rebuild_that_says_why(
    columns: str, reasons: str, changes: str, tmp_path: Path
) -> None:
    project = _project(tmp_path / "project", {"0001_base.yaml": BASE, "0002_change.yaml": _orders(columns)})
    assert _operations(project) == (f"rebuild table orders (ALTER TABLE cannot {reasons}): {changes}",)
    schemac.build(project)
    sql = (project / "migrations" / "0002_change.sql").read_text(encoding="utf-8")
    assert f'-- Rebuild "orders": ALTER TABLE cannot {reasons}, so copy every row into a new table.\n' in sql
    assert "ADD COLUMN" not in sql


def test_a_key_on_two_columns_added_together_is_a_rebuild(tmp_path: Path) -> None:
    pair = BASE.replace(
        "      code: {type: text}\n",
        "      code: {type: text}\n    indexes:\n      - {columns: [id, code], unique: true}\n",
    )
    columns = (
        "      customer_id: {type: integer, nullable: true}\n"
        "      customer_code: {type: text, nullable: true}\n"
        "    foreign_keys:\n"
        "      - {columns: [customer_id, customer_code], references: {table: customers, columns: [id, code]}}\n"
    )
    project = _project(tmp_path / "project", {"0001_base.yaml": pair, "0002_change.yaml": _orders(columns)})
    (operation,) = _operations(project)
    assert operation.startswith("rebuild table orders (ALTER TABLE cannot add a column in a key or check")


def test_a_not_null_column_without_a_default_is_still_refused_without_allow_destructive(tmp_path: Path) -> None:
    spec = _orders("      code: {type: text}\n").replace("allow_destructive: true\n", "")
    project = _project(tmp_path / "project", {"0001_base.yaml": BASE, "0002_change.yaml": spec})
    with pytest.raises(SchemacError) as raised:
        schemac.plan_changes(project)
    assert [d.code for d in raised.value.diagnostics] == ["SC403", "SC403"]


def test_min_version_below_3_35_drops_columns_by_rebuilds_and_still_adds_with_alter(tmp_path: Path) -> None:
    columns = "      note: {type: text, nullable: true}\n"
    specs = {"0001_base.yaml": BASE, "0002_change.yaml": _orders(columns)}
    project = _project(tmp_path / "project", specs, '[sqlite]\nmin_version = "3.34"\n')
    assert _operations(project) == (
        "rebuild table orders (ALTER TABLE cannot drop a column before sqlite 3.35 (min_version 3.34)): "
        "drop column orders.legacy; add column orders.note text",
    )
    fresh = _project(tmp_path / "fresh", {"0001_base.yaml": BASE, "0002_change.yaml": _orders(columns)})
    assert _operations(fresh) == ("drop column orders.legacy", "add column orders.note text")

    added = {
        "0001_base.yaml": BASE,
        "0002_change.yaml": _orders("      legacy: {type: text, nullable: true}\n" + columns),
    }
    old = _project(tmp_path / "old", added, '[sqlite]\nmin_version = "3.20.1"\n')
    assert _operations(old) == ("add column orders.note text",)

    schemac.build(project)
    con = sqlite3.connect(":memory:", isolation_level=None)
    first, second = (m.sql for m in schemac.load_migrations(project / "migrations"))
    apply_file(con, first)
    con.execute(
        "INSERT INTO orders (id, total, legacy, created_at, created_by, updated_at, updated_by) "
        "VALUES (1, 10, 'x', '2026-01-01', 'ann', '2026-01-01', 'ann')"
    )
    apply_file(con, second)
    assert con.execute("SELECT id, total, note, created_by FROM orders").fetchall() == [(1, 10, None, "ann")]
    assert "DROP COLUMN" not in second
    assert '-- Rebuild "orders": ALTER TABLE cannot drop a column before sqlite 3.35 (min_version 3.34)' in second


@pytest.mark.parametrize(
    ("settings", "line", "shown"),
    [
        ("[sqlite]\nmin_version = 3.35\n", 2, "3.35"),
        ('dialects = ["sqlite"]\n\n[sqlite]\nmin_version = "3.x"\n', 4, "'3.x'"),
        ('[sqlite]\nmin_version = "3"\n', 2, "'3'"),
    ],
)
def test_min_version_must_be_a_quoted_version(settings: str, line: int, shown: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "project", {"0001_base.yaml": BASE}, settings)
    with pytest.raises(SchemacError) as raised:
        schemac.validate(project)
    assert [str(d) for d in raised.value.diagnostics] == [
        f'schemac.toml:{line}:1: SC702 sqlite min_version must be a version such as "3.35" or "3.35.5", not {shown} '
        '(hint: write the oldest SQLite the migrations must run on, quoted: min_version = "3.35")'
    ]


def test_the_sqlite_settings_take_only_min_version(tmp_path: Path) -> None:
    settings = '[tool.schemac]\ndialects = ["sqlite"]\n\n[tool.schemac.sqlite]\nmin_verison = "3.35"\n'
    project = tmp_path / "project"
    _project(project, {"0001_base.yaml": BASE})
    (project / "pyproject.toml").write_text(settings, encoding="utf-8")
    with pytest.raises(SchemacError) as raised:
        schemac.validate(project)
    assert [str(d) for d in raised.value.diagnostics] == [
        "pyproject.toml:5:1: SC702 unknown sqlite setting 'min_verison' (hint: the sqlite table takes: min_version)"
    ]


def test_the_first_users_runner_applies_the_alters_keeping_rows_and_keys(tmp_path: Path) -> None:
    """One transaction, foreign keys on, double-quoted strings off: the ALTERs apply, rows stay, the
    added key acts, and the result equals a fresh build (columns by name)."""
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / CASE / "specs", project / "specs")
    schemac.build(project)
    runner = Runner(tmp_path / "runner.db")
    staged = tmp_path / "checkout"
    staged.mkdir()
    shutil.copy(next((project / "migrations").glob("0001_*.sql")), staged)
    assert runner.apply(staged) == [1]
    for statement in CASES[CASE].seed.split(";"):
        if statement.strip():
            runner.execute(statement)
    assert runner.apply(project / "migrations") == [2]
    for query, rows in CASES[CASE].after.items():
        assert runner.query(query) == rows, query
    runner.execute("UPDATE orders SET customer_id = 1 WHERE id = 1")
    with pytest.raises(apsw.ConstraintError):
        runner.execute("UPDATE orders SET customer_id = 9 WHERE id = 2")
    with pytest.raises(apsw.ConstraintError):
        runner.execute("UPDATE orders SET status = 'lost' WHERE id = 2")
    runner.execute("DELETE FROM customers WHERE id = 1")  # ON DELETE SET NULL, written in the ADD COLUMN
    assert runner.query("SELECT id, customer_id FROM orders ORDER BY id") == [(1, None), (2, None)]
    runner.close()

    fresh = tmp_path / "fresh"
    (fresh / "specs").mkdir(parents=True)
    shutil.copy(GOLDEN / CASE / "fresh.yaml", fresh / "specs" / "0001_fresh.yaml")
    schemac.build(fresh)
    reference = sqlite3.connect(":memory:", isolation_level=None)
    for migration in schemac.load_migrations(fresh / "migrations"):
        apply_file(reference, migration.sql)
    with sqlite3.connect(tmp_path / "runner.db") as con:
        evolved = {name: shape for name, shape in schema_of(con).items() if name != "_migrations"}
    assert evolved == schema_of(reference)
    checked = loader_contract(project / "migrations")
    # Each file's first run passes the user's SQLite (strict); an ALTER cannot run twice, as before.
    second_run = '0002_alter_or_rebuild.sql: second run fails in SQLite: no such column: ""legacy""\n'
    assert checked.stdout == second_run, checked.stdout


def test_apply_and_verify_after_the_alters(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(GOLDEN / CASE / "specs", project / "specs")
    schemac.build(project)
    db = f"sqlite:///{tmp_path / 'app.db'}"
    assert [m.version for m in schemac.apply(project, db).applied] == [1, 2]
    result = schemac.verify(project, db)
    assert (result.version, result.differences) == (2, ())


def test_files_an_earlier_schemac_rebuilt_are_kept_as_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project whose SQLite file added a column by a rebuild (as schemac did before ALTER TABLE … ADD
    COLUMN on audited tables): ``check`` keeps it (SC511, exit 0), ``build`` writes nothing, the next
    version adds with ALTER, and a database that applied the old file takes it and verifies clean."""
    from schemac.project import settings as settings_module

    columns = "      note: {type: text, nullable: true}\n      legacy: {type: text, nullable: true}\n"
    project = _project(tmp_path / "project", {"0001_base.yaml": BASE, "0002_change.yaml": _orders(columns)})
    earlier = dataclasses.replace(SQLITE, in_place=SQLITE.in_place - {"insert_column", "add_checked_column"})
    with monkeypatch.context() as patch:
        patch.setitem(settings_module.DIALECTS, "sqlite", earlier)
        schemac.build(project, cache=False)
    published = (project / "migrations" / "0002_change.sql").read_bytes()
    assert b'CREATE TABLE "_schemac_new_orders"' in published
    db = f"sqlite:///{tmp_path / 'app.db'}"
    schemac.apply(project, db)

    checked = schemac.check(project, cache=False)
    assert (checked.ok, [d.diagnostic.code for d in checked.drift]) == (True, ["SC511"])
    third = _orders("      tag: {type: text, nullable: true}\n" + columns)
    (project / "specs" / "0003_tag.yaml").write_text(third, encoding="utf-8")
    schemac.build(project, cache=False)
    assert (project / "migrations" / "0002_change.sql").read_bytes() == published
    sql = (project / "migrations" / "0003_tag.sql").read_text(encoding="utf-8")
    assert 'ALTER TABLE "orders" ADD COLUMN "tag" TEXT;' in sql
    assert "_schemac_new_" not in sql
    assert [m.version for m in schemac.apply(project, db).applied] == [3]
    assert schemac.verify(project, db).differences == ()


def test_min_version_is_part_of_the_build_cache_key(tmp_path: Path) -> None:
    """A build cached under one min_version is not reused under another: ``check`` renders version 2 anew
    (ALTER TABLE … DROP COLUMN instead of the rebuild on disk) and keeps the published file (SC511)."""
    columns = "      note: {type: text, nullable: true}\n"
    specs = {"0001_base.yaml": BASE, "0002_change.yaml": _orders(columns)}
    project = _project(tmp_path / "project", specs, '[sqlite]\nmin_version = "3.34"\n')
    schemac.build(project)
    assert "_schemac_new_orders" in (project / "migrations" / "0002_change.sql").read_text(encoding="utf-8")
    assert schemac.check(project).drift == ()
    (project / "schemac.toml").write_text('[sqlite]\nmin_version = "3.35"\n', encoding="utf-8")
    checked = schemac.check(project)
    assert (checked.ok, [(d.diagnostic.file, d.diagnostic.code) for d in checked.drift]) == (
        True,
        [("migrations/0002_change.sql", "SC511")],
    )
