"""Every golden case executed in SQLite: the schema read back equals the model, and the rules hold.

Expectations come from the compiler's own model (``compile_project(...).plans[-1].schema``), so a
renderer that drops or garbles a column, key, index or check fails here even if the golden bytes
were refreshed with the mistake. A few exact assertions and row-level tests pin behaviour.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import schemac
from conftest import EXAMPLE
from golden_cases import GOLDEN, cases, copy_case
from schemac.dialects import SQLITE, Dialect
from schemac.model import Table
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings
from schemac.spec.checks import derived_checks


def _connect() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    return con


def built(case: Path, workdir: Path) -> tuple[sqlite3.Connection, Mapping[str, Table], Dialect]:
    """The case (or the example project) built, every migration executed in order, the model's final schema, and
    the SQLite dialect as the project builds for it."""
    if case == EXAMPLE:
        project = workdir / case.name
        shutil.copytree(case, project)
    else:
        project = copy_case(case, workdir)
    schemac.build(project)
    con = _connect()
    for migration in schemac.load_migrations(project / "migrations", "sqlite"):
        con.executescript(migration.sql)
    compiled = compile_project(load_settings(project))
    return con, compiled.plans[-1].schema, compiled.settings.dialect("sqlite")


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    con, _, _ = built(GOLDEN / request.param, tmp_path)
    yield con
    con.close()


def on(case: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("db", [case], indirect=True)


# --- schema read back == model ----------------------------------------------------------------


def _expected_columns(table: Table, dialect: Dialect) -> list[tuple[str, str, int, str | None, int]]:
    rows = []
    for column in table.columns:
        default = column.default
        if default is None:
            shown = None
        elif default.kind == "sql":
            shown = str(default.value)  # SQLite keeps an expression default without its parentheses
        else:
            shown = SQLITE.default(default, column.type)
        pk = table.primary_key.index(column.name) + 1 if column.name in table.primary_key else 0
        rows.append((column.name, dialect.column_type(table, column), int(not column.nullable), shown, pk))
    return rows


def _expected_checks(table: Table) -> dict[str, str]:
    checks = {c.name: c.expression for column in table.columns for c in derived_checks(table.name, column, SQLITE)}
    checks.update({c.name: c.expression for c in table.checks})
    return checks


def _checks_in_sql(sql: str) -> dict[str, str]:
    """Constraint name → expression for every named CHECK in a table's stored SQL, wherever it stands
    (SQLite appends the text of ``ALTER TABLE ... ADD COLUMN`` to the stored statement)."""
    found = {}
    for match in re.finditer(r'CONSTRAINT "([a-z0-9_]+)" CHECK \(', sql):
        depth, i, quote = 1, match.end(), ""
        while depth:
            ch = sql[i]
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            else:
                depth += {"(": 1, ")": -1}.get(ch, 0)
            i += 1
        found[match.group(1)] = sql[match.end() : i - 1]
    return found


def _foreign_keys(con: sqlite3.Connection, table: str) -> set[tuple[str, tuple[str, ...], tuple[str, ...], str, str]]:
    """(parent table, child columns, parent columns, on update, on delete) per foreign key."""
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in con.execute(f'PRAGMA foreign_key_list("{table}")'):
        grouped.setdefault(row[0], []).append(row)
    return {
        (rows[0][2], tuple(r[3] for r in rows), tuple(r[4] for r in rows), rows[0][5], rows[0][6])
        for rows in (sorted(g, key=lambda r: r[1]) for g in grouped.values())
    }


@pytest.mark.parametrize("case", [*cases(), EXAMPLE], ids=lambda p: p.name)
def test_schema_read_back_equals_the_model(case: Path, tmp_path: Path) -> None:
    con, schema, dialect = built(case, tmp_path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(schema)
    for name, table in schema.items():
        # By name: a column added by a later version sits after the others (ALTER TABLE … ADD COLUMN).
        info = sorted((r[1], r[2], r[3], r[4], r[5]) for r in con.execute(f'PRAGMA table_info("{name}")'))
        assert info == sorted(_expected_columns(table, dialect)), name

        indexes = {r[1]: (r[2], r[4]) for r in con.execute(f'PRAGMA index_list("{name}")') if r[3] == "c"}
        assert indexes == {i.name: (int(i.unique), int(i.predicate is not None)) for i in table.indexes}, name
        for index in table.indexes:
            keys = [(r[2], r[3]) for r in con.execute(f'PRAGMA index_xinfo("{index.name}")') if r[5]]
            assert keys == [(c.name, int(c.descending)) for c in index.columns], index.name
            assert [r[2] for r in con.execute(f'PRAGMA index_info("{index.name}")')] == [c.name for c in index.columns]
            (index_sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index.name,)).fetchone()
            assert index_sql.endswith(f" WHERE {index.predicate}") == (index.predicate is not None), index_sql

        assert _foreign_keys(con, name) == {
            (
                fk.ref_table,
                fk.columns,
                fk.ref_columns,
                (fk.on_update or "no action").upper(),
                (fk.on_delete or "no action").upper(),
            )
            for fk in table.foreign_keys
        }, name

        (table_sql,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        assert _checks_in_sql(table_sql) == _expected_checks(table), name
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []


# --- a few exact assertions -------------------------------------------------------------------


@on("keys")
def test_keys_exact_foreign_keys_and_primary_key(db: sqlite3.Connection) -> None:
    assert sorted(db.execute("PRAGMA foreign_key_list(shipments)")) == [
        (0, 0, "line_items", "order_id", "order_id", "CASCADE", "CASCADE", "NONE"),
        (0, 1, "line_items", "position", "position", "CASCADE", "CASCADE", "NONE"),
    ]
    assert sorted(r[1:] for r in db.execute("PRAGMA foreign_key_list(products)")) == [
        (0, "products", "parent_id", "id", "NO ACTION", "SET NULL", "NONE")
    ]
    assert [(r[1], r[5]) for r in db.execute("PRAGMA table_info(line_items)")] == [
        ("order_id", 1),
        ("position", 2),
        ("product_id", 0),
        ("quantity", 0),
    ]
    assert [(r[2], r[3]) for r in db.execute("PRAGMA index_xinfo(idx_orders_placed_at_desc_id)") if r[5]] == [
        ("placed_at", 1),
        ("id", 0),
    ]


def test_tables_are_created_after_the_tables_they_reference(tmp_path: Path) -> None:
    con, _, _ = built(GOLDEN / "keys", tmp_path)
    order = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    assert order == ["orders", "products", "line_items", "shipments"]


@on("audit_default_none")
def test_project_audit_default_none_applies_only_to_tables_without_audit(db: sqlite3.Connection) -> None:
    def columns(table: str) -> list[str]:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]

    assert columns("plain_rows") == ["id"]
    assert columns("audited_rows") == [
        "id",
        *(f"{g}_{p}" for g in ("created", "updated", "deleted") for p in ("at", "by")),
    ]
    assert columns("deleted_rows") == ["id", "deleted_at", "deleted_by"]


# --- rows the database must refuse, and rows it must accept ------------------------------------


def refused(con: sqlite3.Connection, sql: str, *params: object) -> str:
    with pytest.raises(sqlite3.IntegrityError) as caught:
        con.execute(sql, params)
    return str(caught.value)


@on("all_types")
def test_defaults_are_applied_exactly(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO samples (plain) VALUES ('x')")
    db.row_factory = sqlite3.Row
    row = dict(db.execute("SELECT * FROM samples").fetchone())
    seen_at = row.pop("seen_at")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", seen_at)
    assert row == {
        "id": "00000000-0000-4000-8000-000000000000",
        "label": 'it\'s a "quote", a back\\slash and ünïcödé ✓',
        "code": "O'Brien",
        "count": 0,
        "big": -9000000000,
        "small": -1,
        "flag_on": 1,
        "flag_off": 0,
        "ratio": 1.5,
        "precise": -0.0025,
        "price": 12.34,
        "starts_on": "2026-01-31",
        "attrs_json": "{}",
        "tags_json": "[]",
        "payload": b"\xca\xfe",
        "note": None,
        "maybe_count": None,
        "plain": "x",
    }


@on("all_types")
def test_not_null_and_boolean_rules(db: sqlite3.Connection) -> None:
    assert refused(db, "INSERT INTO samples (plain) VALUES (NULL)") == "NOT NULL constraint failed: samples.plain"
    assert refused(db, "INSERT INTO samples (plain, count) VALUES ('x', NULL)") == (
        "NOT NULL constraint failed: samples.count"
    )
    assert refused(db, "INSERT INTO samples (plain, flag_on) VALUES ('x', 2)") == (
        "CHECK constraint failed: ck_samples_flag_on_bool"
    )
    db.execute("INSERT INTO samples (id, plain, flag_on, flag_off) VALUES ('a', 'x', 0, 1)")
    assert refused(db, "INSERT INTO samples (id, plain) VALUES ('a', 'y')") == "UNIQUE constraint failed: samples.id"


@on("all_types")
def test_string_length_rule(db: sqlite3.Connection) -> None:
    assert refused(db, "INSERT INTO samples (plain, code) VALUES ('x', ?)", "c" * 13) == (
        "CHECK constraint failed: ck_samples_code_length"
    )
    db.execute("INSERT INTO samples (id, plain, code) VALUES ('a', 'x', ?)", ("ü" * 12,))  # characters, not bytes


@on("enums")
def test_enum_rules(db: sqlite3.Connection) -> None:
    insert = "INSERT INTO answers (id, reply, switch, priority, mood) VALUES (?, ?, ?, ?, ?)"
    assert refused(db, insert, 1, "maybe", None, 1, "plain") == "CHECK constraint failed: ck_answers_reply_enum"
    assert refused(db, insert, 1, "yes", "true", 1, "plain") == "CHECK constraint failed: ck_answers_switch_enum"
    assert refused(db, insert, 1, "yes", None, 4, "plain") == "CHECK constraint failed: ck_answers_priority_enum"
    assert refused(db, insert, 1, "yes", None, 1, "its fine") == "CHECK constraint failed: ck_answers_mood_enum"
    for i, reply in enumerate(["yes", "no", "on", "off"]):
        db.execute(insert, (i, reply, "on" if i % 2 else None, 3, "it's fine"))
    db.execute("INSERT INTO answers (id, mood) VALUES (10, '100')")
    assert db.execute("SELECT reply, priority FROM answers WHERE id = 10").fetchone() == ("off", 2)


@on("checks")
def test_column_and_table_checks(db: sqlite3.Connection) -> None:
    insert = "INSERT INTO intervals (id, starts_at, ends_at, length_ms, label) VALUES (1, ?, ?, ?, ?)"
    start, end = "2026-01-01 10:00:00", "2026-01-01 11:00:00"
    assert refused(db, insert, start, end, -1, "a") == "CHECK constraint failed: ck_intervals_length_ms"
    assert refused(db, insert, start, end, 0, "trailing ") == "CHECK constraint failed: ck_intervals_label"
    assert refused(db, insert, end, start, 0, "a") == "CHECK constraint failed: ck_intervals_ends_after_start"
    assert refused(db, insert, start, None, 0, "x" * 41) == "CHECK constraint failed: ck_intervals_short_label"
    db.execute(insert, (start, None, 0, "x" * 40))


@on("keys")
def test_foreign_key_actions(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO orders (id, number, status, placed_at) VALUES (1, 'A-1', 'open', '2026-01-01')")
    db.execute("INSERT INTO products (id, sku) VALUES (1, 'p1'), (2, 'p2')")
    db.execute("INSERT INTO products (id, sku, parent_id) VALUES (3, 'p3', 1)")
    db.execute("INSERT INTO line_items (order_id, position, product_id) VALUES (1, 1, 2), (1, 2, NULL)")
    db.execute("INSERT INTO shipments (id, order_id, position, tracking) VALUES (1, 1, 1, 'T1')")

    assert refused(db, "INSERT INTO line_items (order_id, position) VALUES (99, 1)") == "FOREIGN KEY constraint failed"
    assert refused(db, "INSERT INTO shipments (id, order_id, position, tracking) VALUES (2, 1, 9, 'T2')") == (
        "FOREIGN KEY constraint failed"
    )
    assert refused(db, "INSERT INTO line_items (order_id, position) VALUES (1, 0)") == (
        "CHECK constraint failed: ck_line_items_position"
    )
    assert refused(db, "UPDATE orders SET id = 5 WHERE id = 1") == "FOREIGN KEY constraint failed"  # on_update restrict
    assert refused(db, "UPDATE products SET parent_id = id WHERE id = 3") == (
        "CHECK constraint failed: ck_products_not_own_parent"
    )

    db.execute("UPDATE line_items SET position = 7 WHERE position = 1")  # on_update cascade, composite
    assert db.execute("SELECT order_id, position FROM shipments").fetchall() == [(1, 7)]
    db.execute("DELETE FROM products WHERE id = 2")  # on_delete set null
    assert db.execute("SELECT product_id FROM line_items WHERE position = 7").fetchone() == (None,)
    db.execute("DELETE FROM products WHERE id = 1")  # self-reference, set null
    assert db.execute("SELECT parent_id FROM products WHERE id = 3").fetchone() == (None,)

    db.execute("INSERT INTO orders (id, number, status, placed_at, replaces_id) VALUES (2, 'A-2', 'paid', 'x', 1)")
    assert refused(db, "DELETE FROM orders WHERE id = 1") == "FOREIGN KEY constraint failed"  # no action
    db.execute("DELETE FROM orders WHERE id = 2")
    db.execute("DELETE FROM orders WHERE id = 1")  # on_delete cascade, through line_items to shipments
    assert db.execute("SELECT count(*) FROM line_items").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM shipments").fetchone() == (0,)


@on("keys")
def test_unique_and_partial_unique_indexes(db: sqlite3.Connection) -> None:
    insert = "INSERT INTO orders (id, number, status, placed_at) VALUES (?, ?, ?, '2026-01-01')"
    db.execute(insert, (1, "A-1", "open"))
    assert refused(db, insert, 2, "A-1", "open") == "UNIQUE constraint failed: orders.number"
    db.execute(insert, (2, "A-1", "paid"))  # the partial index covers only open orders
    db.execute(insert, (3, "A-1", "shipped"))
    assert refused(db, insert, 4, "A-2", "closed") == "CHECK constraint failed: ck_orders_status_enum"
    db.execute("INSERT INTO products (id, sku) VALUES (1, 'p1')")
    assert refused(db, "INSERT INTO products (id, sku) VALUES (2, 'p1')") == "UNIQUE constraint failed: products.sku"
    db.execute("INSERT INTO line_items (order_id, position) VALUES (1, 1)")
    db.execute("INSERT INTO shipments (id, order_id, position, tracking) VALUES (1, 1, 1, 'T1')")
    assert refused(db, "INSERT INTO shipments (id, order_id, position, tracking) VALUES (2, 1, 1, 'T1')") == (
        "UNIQUE constraint failed: shipments.tracking"
    )
    assert refused(db, "INSERT INTO line_items (order_id, position) VALUES (1, 1)") == (
        "UNIQUE constraint failed: line_items.order_id, line_items.position"
    )


@on("audit_policies")
def test_audit_column_rules(db: sqlite3.Connection) -> None:
    insert = "INSERT INTO full_policy (id, created_at, created_by, updated_at, updated_by, deleted_at, deleted_by) "
    insert += "VALUES (?, 'now', ?, 'now', ?, ?, ?)"
    assert refused(db, insert, 1, "", "u", None, None) == "CHECK constraint failed: ck_full_policy_created_by"
    assert refused(db, insert, 1, "u", "", None, None) == "CHECK constraint failed: ck_full_policy_updated_by"
    assert refused(db, insert, 1, "u", "u", "now", None) == "CHECK constraint failed: ck_full_policy_deleted_by"
    assert refused(db, insert, 1, "u", "u", None, "u") == "CHECK constraint failed: ck_full_policy_deleted_by"
    assert refused(db, insert, 1, "u", "u", "now", "") == "CHECK constraint failed: ck_full_policy_deleted_by"
    assert refused(db, insert, 1, None, "u", None, None) == "NOT NULL constraint failed: full_policy.created_by"
    db.execute(insert, (1, "u", "u", None, None))
    db.execute(insert, (2, "u", "u", "now", "v"))
    assert refused(db, "INSERT INTO created_only (id, created_at, created_by) VALUES (1, 'now', '')") == (
        "CHECK constraint failed: ck_created_only_created_by"
    )
    db.execute("INSERT INTO created_only (id, created_at, created_by) VALUES (1, 'now', 'u')")
    db.execute("INSERT INTO no_policy (id) VALUES (1)")
