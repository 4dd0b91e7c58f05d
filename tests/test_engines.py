"""Every golden case on real SQLite, PostgreSQL and MariaDB: built, applied, replayed and read back from the catalog."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, case_project
from golden_cases import cases, expected_files
from schemac.applier import split_statements
from schemac.dialects.connections import connect, parse_url
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings

GOLDEN = Path(__file__).resolve().parent / "golden"
REFUSED_ON_MARIADB = {"SC320", "SC321", "SC322", "SC323"}


def pinned_bytes(case: Path, engine: str) -> dict[str, bytes]:
    """The golden's expected files for ``engine``, when the case pins that dialect."""
    files = expected_files(case)
    nested = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith(f"{engine}/")}
    if nested:
        return nested
    manifest = files.get("manifest.json")
    return files if manifest and json.loads(manifest)["dialect"] == engine else {}


SQLITE_ONLY_SQL = {
    ("all_types", "postgresql"): "its bytes default {sql: \"X'CAFE'\"} is a SQLite blob literal (a bit string here)"
}


def _marks(case: Path, engine: str) -> list[pytest.MarkDecorator]:
    reason = SQLITE_ONLY_SQL.get((case.name, engine))
    return [pytest.mark.xfail(reason=reason, strict=True, raises=schemac.SchemacError)] if reason else []


@pytest.mark.parametrize(
    ("case", "engine"),
    [pytest.param(c, e, id=f"{c.name}-{e}", marks=_marks(c, e)) for c in cases() for e in ENGINES],
)
def test_golden_case_applies_and_reads_back(
    case: Path, engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project = case_project(case, engine, tmp_path)
    try:
        schemac.build(project)
    except schemac.SchemacError as exc:
        # MariaDB refuses what it cannot express (partial unique indexes, …), each at its line.
        assert engine == "mariadb", str(exc)
        assert {d.code for d in exc.diagnostics} <= REFUSED_ON_MARIADB, str(exc)
        return
    built = {p.name: p.read_bytes() for p in (project / "migrations").iterdir()}
    pinned = pinned_bytes(case, engine)
    if pinned:
        assert built == pinned
    url = database_factory(engine)
    compiled = compile_project(load_settings(project))
    versions = [p.spec.version for p in compiled.plans]

    migrations = {m.version: m for m in schemac.load_migrations(project / "migrations", engine)}
    database = connect(parse_url(url), 30)
    try:
        for version in versions:
            assert [m.version for m in schemac.apply(project, url, to=version).applied] == [version]
            if not migrations[version].non_idempotent:  # replaying the file just applied is harmless
                for statement in split_statements(migrations[version].sql):
                    database.execute(statement.sql)
        assert schemac.apply(project, url).applied == ()
        live = database.tables()
    finally:
        database.close()
    schema = compiled.plans[-1].schema
    assert sorted(live) == sorted(schema)
    for name, table in schema.items():
        # By name: every engine appends a column added later, after the audit columns (see docs/evolution.md).
        assert sorted((c.name, c.nullable) for c in live[name].columns) == sorted(
            (c.name, c.nullable) for c in table.columns
        )
        assert live[name].primary_key == table.primary_key
        assert {fk.name: (fk.columns, fk.ref_table, fk.ref_columns) for fk in live[name].foreign_keys} == {
            fk.name: (fk.columns, fk.ref_table, fk.ref_columns) for fk in table.foreign_keys
        }
        assert {i.name: i.unique for i in live[name].indexes} == {i.name: i.unique for i in table.indexes}
    result = schemac.verify(project, url)
    assert result.differences == ()
    assert result.version == versions[-1]


# How each catalog spells the types schemac writes for the three_dialects golden (table products).
CATALOG_TYPES = {
    "sqlite": {
        "id": "text", "sku": "text", "title": "text", "quantity": "integer", "views": "integer", "rank": "integer",
        "active": "integer", "weight": "real", "ratio": "real", "price": "numeric", "released_on": "text",
        "listed_at": "text", "attributes_json": "text", "thumbnail": "blob",
    },
    "postgresql": {
        "id": "uuid", "sku": "character varying(32)", "title": "text", "quantity": "integer", "views": "bigint",
        "rank": "smallint", "active": "boolean", "weight": "real", "ratio": "double precision",
        "price": "numeric(10,2)", "released_on": "date", "listed_at": "timestamp with time zone",
        "attributes_json": "jsonb", "thumbnail": "bytea",
    },
    "mariadb": {
        "id": "char(36)", "sku": "varchar(32)", "title": "varchar(255)", "quantity": "int(11)", "views": "bigint(20)",
        "rank": "smallint(6)", "active": "tinyint(1)", "weight": "float", "ratio": "double",
        "price": "decimal(10,2)", "released_on": "date", "listed_at": "datetime(6)", "attributes_json": "longtext",
        "thumbnail": "longblob",
    },
}  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_types_and_defaults_round_trip_on_each_engine(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project = case_project(GOLDEN / "three_dialects", engine, tmp_path)
    schemac.build(project)
    url = database_factory(engine)
    schemac.apply(project, url)
    database = connect(parse_url(url), 30)
    try:
        products = database.tables()["products"]
        types = {c.name: c.type for c in products.columns}
        assert {k: types[k] for k in CATALOG_TYPES[engine]} == CATALOG_TYPES[engine]
        database.execute(
            database.sql(
                "INSERT INTO products (id, sku, created_at, created_by, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?)"
            ),
            ("6f1c1d2e-0000-4000-8000-000000000001", "SKU-1", "2026-01-01 00:00:00", "me", "2026-01-01 00:00:00", "me"),
        )
        columns = "title, kind, quantity, active, ratio, price, attributes_json, tags_json"
        row = database.query(f"SELECT {columns} FROM products")[0]
        title, kind, quantity, active, ratio, price, attributes, tags = row
        assert (title, kind, quantity, bool(active), float(ratio), str(price)) == (
            "It's a \\ backslash",
            "physical",
            0,
            True,
            0.5,
            "9.99",
        )
        assert (json.loads(attributes) if isinstance(attributes, str) else attributes) == {}
        assert (json.loads(tags) if isinstance(tags, str) else tags) == []
        with pytest.raises(Exception, match=r"(?i)check|constraint"):
            database.execute(
                database.sql(
                    "INSERT INTO products (id, sku, quantity, created_at, created_by, updated_at, updated_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                ("6f1c1d2e-0000-4000-8000-000000000002", "SKU-2", -1, "2026-01-01", "me", "2026-01-01", "me"),
            )
    finally:
        database.close()


PEOPLE = """description: People.
tables:
  people:
    description: A person.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      email: {type: text}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_indexing_an_existing_text_column_and_dropping_the_index_again(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    indexed = PEOPLE.replace("      email: {type: text}\n", "      email: {type: text, unique: true}\n")
    for number, text in enumerate((PEOPLE, indexed, PEOPLE), 1):
        (project / "specs" / f"000{number}_people.yaml").write_text(text, encoding="utf-8")
    schemac.build(project)
    url = database_factory(engine)
    email_types = []
    for version in (1, 2, 3):
        schemac.apply(project, url, to=version)
        assert schemac.verify(project, url).differences == ()
        database = connect(parse_url(url), 30)
        try:
            email_types.append(next(c.type for c in database.tables()["people"].columns if c.name == "email"))
        finally:
            database.close()
    # MariaDB cannot index TEXT: the column becomes VARCHAR(255) while the unique index exists.
    expected = {"sqlite": ["text"] * 3, "postgresql": ["text"] * 3, "mariadb": ["text", "varchar(255)", "text"]}
    assert email_types == expected[engine]


CUSTOMERS = """description: Customers.
tables:
  customers:
    audit: none
    columns:
      id: {type: integer}
      email: {type: string(120), primary_key: true}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_key_to_a_primary_key_the_same_version_makes_comes_after_it(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """The primary key moves to ``email`` and a new table references ``email`` in the same version: the key
    change comes before the new table, whose foreign key needs it (before: CREATE TABLE first, refused)."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    first = CUSTOMERS.replace("{type: integer}", "{type: integer, primary_key: true}").replace(
        "{type: string(120), primary_key: true}", "{type: string(120)}"
    )
    badges = "  badges:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
    badges += "      customer_email: {type: string(120), references: customers.email}\n"
    (project / "specs" / "0001_customers.yaml").write_text(first, encoding="utf-8")
    (project / "specs" / "0002_badges.yaml").write_text(CUSTOMERS + badges, encoding="utf-8")
    schemac.build(project)
    sql = (project / "migrations" / "0002_badges.sql").read_text(encoding="utf-8")
    if engine != "sqlite":  # SQLite rebuilds the table after the other changes, and checks keys at commit
        assert sql.index("PRIMARY KEY") < sql.index("CREATE TABLE")
    url = database_factory(engine)
    assert [m.version for m in schemac.apply(project, url).applied] == [1, 2]
    assert schemac.verify(project, url).differences == ()
