"""``verify`` compares check bodies, as each engine shows them, on real SQLite, PostgreSQL and MariaDB.

The expected bodies are put in the engine's own words by the engine (a temporary table of the
verifying session), so an untouched database verifies clean and a check changed by hand is named
with both bodies; an enum check also with the values it allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, case_project, opened, run_cli
from golden_cases import cases
from schemac import dialects
from schemac.applier.verification import check_table_body, expected_checks
from schemac.dialects.base import Shown
from schemac.errors import printable
from schemac.model import Column, ColumnType, Default, Table
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings
from schemac.spec.audit import AUDIT_GROUPS, with_audit

SPEC = """description: Items.
tables:
  items:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      status: {type: text, enum: [new, "it's", "a\\\\b"]}
      quantity: {type: integer, check: "quantity >= 0"}
      title: {type: text}
    checks:
      - name: title_not_blank
        expression: "length(title) > 0"
      - name: no_constraint_in_titles
        expression: "title <> 'CONSTRAINT \\"x\\" CHECK ('"
"""


def project_for(engine: str, root: Path, spec: str = SPEC) -> Path:
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "0001_items.yaml").write_text(spec, encoding="utf-8")
    (root / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    schemac.build(root)
    return root


def applied(engine: str, root: Path, database_factory: Callable[[str], str], spec: str = SPEC) -> tuple[Path, str]:
    """The project of ``spec`` built for ``engine`` and applied to a new database, which verifies clean."""
    project, url = project_for(engine, root, spec), database_factory(engine)
    schemac.apply(project, url)
    assert schemac.verify(project, url).differences == ()
    return project, url


def sqlite_rebuild(url: str, table: str, edit: Callable[[str], str]) -> None:
    """Change a SQLite table's definition by hand, the only way SQLite allows: a new table, rows copied."""
    with opened(url) as database:
        sql = database.query("SELECT sql FROM sqlite_master WHERE name = ?", (table,))[0][0]
        new = edit(sql).replace(f'CREATE TABLE "{table}"', 'CREATE TABLE "edited"', 1)
        for statement in (new, f'INSERT INTO "edited" SELECT * FROM "{table}"', f'DROP TABLE "{table}"'):
            database.execute(statement)
        database.execute(f'ALTER TABLE "edited" RENAME TO "{table}"')


def edit_by_hand(engine: str, url: str, table: str, sqlite_edit: Callable[[str], str], statements: list[str]) -> None:
    """Change ``table`` as someone would outside schemac: on SQLite by rebuilding it with ``sqlite_edit``
    applied to its definition, elsewhere by running ``statements``."""
    if engine == "sqlite":
        sqlite_rebuild(url, table, sqlite_edit)
        return
    with opened(url) as database:
        for sql in statements:
            database.execute(sql)


# What each engine shows for the two changed checks: (live status, expected status, live quantity, expected quantity).
SHOWN = {
    "sqlite": (
        "CHECK (\"status\" IN ('new', 'it''s', 'a\\b', 'old'))",
        "CHECK (\"status\" IN ('new', 'it''s', 'a\\b'))",
        "CHECK (quantity >= -1)",
        "CHECK (quantity >= 0)",
    ),
    "postgresql": (
        "CHECK ((status = ANY (ARRAY['new'::text, 'it''s'::text, 'a\\b'::text, 'old'::text])))",
        "CHECK ((status = ANY (ARRAY['new'::text, 'it''s'::text, 'a\\b'::text])))",
        "CHECK ((quantity >= '-1'::integer))",
        "CHECK ((quantity >= 0))",
    ),
    "mariadb": (
        "CHECK (`status` in ('new','it\\'s','a\\\\b','old'))",
        "CHECK (`status` in ('new','it\\'s','a\\\\b'))",
        "CHECK (`quantity` >= -1)",
        "CHECK (`quantity` >= 0)",
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_verify_reports_a_widened_enum_a_changed_check_and_a_dropped_one(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = applied(engine, tmp_path / "project", database_factory)  # a string holding CONSTRAINT "x": no check
    edit_by_hand(
        engine,
        url,
        "items",
        lambda sql: (
            sql.replace("'a\\b'))", "'a\\b', 'old'))")
            .replace("quantity >= 0", "quantity >= -1")
            .replace('\n    CONSTRAINT "ck_items_title_not_blank" CHECK (length(title) > 0),', "")
        ),
        [
            "ALTER TABLE items DROP CONSTRAINT ck_items_status_enum",
            "ALTER TABLE items ADD CONSTRAINT ck_items_status_enum "
            + ("CHECK (status IN ('new', 'it''s', E'a\\\\b', 'old'))" if engine == "postgresql" else "")
            + ("CHECK (status IN ('new', 'it''s', 'a\\\\b', 'old'))" if engine == "mariadb" else ""),
            "ALTER TABLE items DROP CONSTRAINT ck_items_quantity",
            "ALTER TABLE items ADD CONSTRAINT ck_items_quantity CHECK (quantity >= -1)",
            "ALTER TABLE items DROP CONSTRAINT ck_items_title_not_blank",
        ],
    )
    live_status, spec_status, live_quantity, spec_quantity = SHOWN[engine]
    expected = [
        f"specs/0001_items.yaml:7:7: SC626 check 'ck_items_status_enum' on 'items' is {live_status}, "
        f"the specs give {spec_status}: the database also allows 'old'",
        f"specs/0001_items.yaml:8:40: SC626 check 'ck_items_quantity' on 'items' is {live_quantity}, "
        f"the specs give {spec_quantity}",
        "specs/0001_items.yaml:12:21: SC626 missing check 'ck_items_title_not_blank' on 'items'",
    ]
    expected = [printable(line) for line in expected]  # as printed: a backslash doubled
    assert sorted(str(d) for d in schemac.verify(project, url).differences) == sorted(expected)
    outcome = run_cli("verify", "--db", url, "--project", project)
    assert outcome.returncode == 1
    assert sorted(outcome.stderr.splitlines()) == sorted(expected)


NOT_NULL = {
    "sqlite": "CHECK (status IS NOT NULL)",
    "postgresql": "CHECK ((status IS NOT NULL))",
    "mariadb": "CHECK (`status` is not null)",
}


@pytest.mark.parametrize("engine", ENGINES)
def test_an_enum_check_that_lists_no_values_any_more_is_reported_with_both_bodies(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = project_for(engine, tmp_path / "project"), database_factory(engine)
    schemac.apply(project, url)
    edit_by_hand(
        engine,
        url,
        "items",
        lambda sql: sql.replace("\"status\" IN ('new', 'it''s', 'a\\b')", "status IS NOT NULL"),
        [
            "ALTER TABLE items DROP CONSTRAINT ck_items_status_enum",
            "ALTER TABLE items ADD CONSTRAINT ck_items_status_enum CHECK (status IS NOT NULL)",
        ],
    )
    assert [str(d) for d in schemac.verify(project, url).differences] == [
        printable(
            f"specs/0001_items.yaml:7:7: SC626 check 'ck_items_status_enum' on 'items' is {NOT_NULL[engine]}, "
            f"the specs give {SHOWN[engine][1]}"
        )
    ]


NARROWED = {
    "sqlite": 'CHECK ("level" IN (1, -2))',
    "postgresql": "CHECK ((level = ANY (ARRAY[1, '-2'::integer])))",
    "mariadb": "CHECK (`level` in (1,-2))",
}
WIDENED = {
    "sqlite": 'CHECK ("level" IN (3, 1))',
    "postgresql": "CHECK ((level = ANY (ARRAY[3, 1])))",
    "mariadb": "CHECK (`level` in (3,1))",
}


@pytest.mark.parametrize("engine", ENGINES)
def test_an_integer_enum_is_reported_with_the_values_it_gains_and_loses(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    spec = "description: x\ntables:\n  t:\n    audit: none\n    columns:\n"
    spec += "      id: {type: integer, primary_key: true}\n      level: {type: integer, enum: [1, -2]}\n"
    project, url = project_for(engine, tmp_path / "project", spec), database_factory(engine)
    schemac.apply(project, url)
    edit_by_hand(
        engine,
        url,
        "t",
        lambda sql: sql.replace('"level" IN (1, -2)', '"level" IN (3, 1)'),
        [
            "ALTER TABLE t DROP CONSTRAINT ck_t_level_enum",
            "ALTER TABLE t ADD CONSTRAINT ck_t_level_enum CHECK (level IN (3, 1))",
        ],
    )
    assert [str(d) for d in schemac.verify(project, url).differences] == [
        f"specs/0001_items.yaml:7:7: SC626 check 'ck_t_level_enum' on 't' is {WIDENED[engine]}, "
        f"the specs give {NARROWED[engine]}: the database also allows 3 and does not allow -2"
    ]


def test_verify_compares_bodies_on_a_sqlite_file_it_opens_read_only(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """SQLite's ``temp`` schema stays writable on a read-only connection; the file is left as it was."""
    project, url = project_for("sqlite", tmp_path / "project"), database_factory("sqlite")
    schemac.apply(project, url)
    sqlite_rebuild(url, "items", lambda sql: sql.replace("quantity >= 0", "quantity >= -1"))
    database = Path(url)
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    database.chmod(0o444)
    assert [str(d) for d in schemac.verify(project, url).differences] == [
        "specs/0001_items.yaml:8:40: SC626 check 'ck_items_quantity' on 'items' is CHECK (quantity >= -1), "
        "the specs give CHECK (quantity >= 0)"
    ]
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    assert sorted(p.name for p in database.parent.iterdir() if p.name.startswith(database.name)) == [database.name]


def test_a_read_only_postgresql_session_still_verifies_names(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """Guard of the fallback: where the session cannot make a temporary table (a replica, a read-only
    transaction), bodies are not compared, and everything else still is."""
    project, url = project_for("postgresql", tmp_path / "project"), database_factory("postgresql")
    schemac.apply(project, url)
    with opened(url) as database:
        database.execute("ALTER TABLE items DROP CONSTRAINT ck_items_quantity")
        database.execute("ALTER TABLE items ADD CONSTRAINT ck_items_quantity CHECK (quantity >= -1)")
        database.execute("ALTER TABLE items DROP CONSTRAINT ck_items_title_not_blank")
        name = database.query("SELECT current_database()")[0][0]
        database.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    assert [str(d) for d in schemac.verify(project, url).differences] == [
        "specs/0001_items.yaml:12:21: SC626 missing check 'ck_items_title_not_blank' on 'items'"
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_golden_case_applied_shows_the_checks_the_specs_give(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """For each golden case built and applied: every check of every table, by name and body as the engine
    shows it, is the one the specs give (so verify's clean result compared bodies, not only names)."""
    dialect = dialects.get(engine)
    for case in cases():
        project = case_project(case, engine, tmp_path / engine)
        try:
            schemac.build(project)
        except schemac.SchemacError:
            continue  # refused on MariaDB (partial unique index, …): see test_engines
        url = database_factory(engine)
        try:
            schemac.apply(project, url)
        except schemac.SchemacError:
            assert (case.name, engine) == ("all_types", "postgresql")  # a SQLite blob literal: see test_engines
            continue
        schema = compile_project(load_settings(project)).plans[-1].schema
        wanted = {
            name: check_table_body(table, dialect, expected_checks(table, dialect)) for name, table in schema.items()
        }
        with opened(url) as database:
            live = database.tables()
            database.temporary_batch = 3  # several batches
            shown = database.definitions(wanted)
        assert shown is not None, case.name
        made = {name: shown.get(name, Shown({}, {})) for name in live}  # a table with nothing to show is not made
        assert {name: dict(table.checks) for name, table in live.items()} == {
            name: table.checks for name, table in made.items()
        }, case.name
        assert {name: {c.name: c.default for c in table.columns} for name, table in live.items()} == {
            name: {c.name: made[name].defaults.get(c.name) for c in table.columns} for name, table in live.items()
        }, case.name
        checks = sum(len(expected_checks(t, dialect)) for t in schema.values())
        assert sum(len(t.checks) for t in shown.values()) == checks
        assert schemac.verify(project, url).differences == (), case.name


DEFAULTS_SPEC = """description: Items with defaults.
tables:
  items:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      status: {type: string(10), default: new}
      quantity: {type: integer, default: 1}
      note: {type: text, nullable: true}
"""

# What each engine shows for the defaults: (live status, expected status, live note).
SHOWN_DEFAULTS = {
    "sqlite": ("'old'", "'new'", "'none'"),
    "postgresql": ("'old'::character varying", "'new'::character varying", "'none'::text"),
    "mariadb": ("'old'", "'new'", "'none'"),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_verify_reports_a_default_changed_added_or_removed_by_hand(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """Defaults are compared as the engine shows them (PostgreSQL's casts included), on both sides."""
    project, url = applied(engine, tmp_path / "project", database_factory, DEFAULTS_SPEC)
    edit_by_hand(
        engine,
        url,
        "items",
        lambda sql: (
            sql.replace("DEFAULT 'new'", "DEFAULT 'old'")
            .replace(" DEFAULT 1", "")
            .replace('"note" TEXT', "\"note\" TEXT DEFAULT 'none'")
        ),
        [
            "ALTER TABLE items ALTER COLUMN status SET DEFAULT 'old'",
            "ALTER TABLE items ALTER COLUMN quantity DROP DEFAULT",
            "ALTER TABLE items ALTER COLUMN note SET DEFAULT 'none'",
        ],
    )
    live_status, spec_status, live_note = SHOWN_DEFAULTS[engine]
    expected = [
        f"specs/0001_items.yaml:7:7: SC623 column 'items.status' has default {live_status}, "
        f"the specs give default {spec_status}",
        "specs/0001_items.yaml:8:7: SC623 column 'items.quantity' has no default, the specs give default 1",
        f"specs/0001_items.yaml:9:7: SC623 column 'items.note' has default {live_note}, the specs give no default",
    ]
    assert [str(d) for d in schemac.verify(project, url).differences] == expected
    outcome = run_cli("verify", "--db", url, "--project", project)
    assert (outcome.returncode, outcome.stderr.splitlines()) == (1, expected)


PLAIN_SPEC = """description: Tables with no default, and a check that names no column.
tables:
  plain:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      qty: {type: integer}
  constant:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
    checks:
      - {name: always, expression: "1 = 1"}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_table_without_defaults_still_has_its_defaults_and_checks_compared(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """A table none of whose columns has a default, and a check that names no column, are still compared:
    a default set by hand is found, and so is a changed constant check."""
    project, url = applied(engine, tmp_path / "project", database_factory, PLAIN_SPEC)
    edit_by_hand(
        engine,
        url,
        "plain",
        lambda sql: sql.replace('"qty" INTEGER NOT NULL', '"qty" INTEGER NOT NULL DEFAULT 42'),
        ["ALTER TABLE plain ALTER COLUMN qty SET DEFAULT 42"],
    )
    edit_by_hand(
        engine,
        url,
        "constant",
        lambda sql: sql.replace("CHECK (1 = 1)", "CHECK (2 = 2)"),
        [
            "ALTER TABLE constant DROP CONSTRAINT ck_constant_always",
            "ALTER TABLE constant ADD CONSTRAINT ck_constant_always CHECK (2 = 2)",
        ],
    )
    found = [(d.code, d.message.split(" is ")[0].split(" has ")[0]) for d in schemac.verify(project, url).differences]
    assert found == [("SC626", "check 'ck_constant_always' on 'constant'"), ("SC623", "column 'plain.qty'")]


@pytest.mark.parametrize("engine", ENGINES)
def test_definitions_make_each_repeated_column_and_check_once(
    engine: str, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty tables with the same audit checks and status column, and one with a column of its own: the
    engine makes two temporary tables, not 41, and every table still gets the engine's words for its checks
    and defaults; a column with neither a default nor a check naming it is not made."""
    dialect = dialects.get(engine)
    status = Column("status", ColumnType("string", 20), default=Default("literal", "new"), enum=("new", "done"))
    key = Column("id", ColumnType("integer"))
    tables = {f"t{i}": with_audit(Table(f"t{i}", (key, status), ("id",), audit=AUDIT_GROUPS)) for i in range(40)}
    tables["odd"] = with_audit(Table("odd", (key, replace(status, name="state")), ("id",), audit=AUDIT_GROUPS))
    bodies = {name: check_table_body(t, dialect, expected_checks(t, dialect)) for name, t in tables.items()}
    made: list[str] = []
    with opened(database_factory(engine)) as database:
        real = database._temporary_checks

        def counted(given: Mapping[str, str]) -> dict[str, Shown]:
            made.extend(given.values())
            return real(given)

        monkeypatch.setattr(database, "_temporary_checks", counted)
        shown = database.definitions(bodies)
    assert shown is not None and len(made) == 2
    id_column = re.compile(r'(?:^|, )["`]id["`] ')  # no default, and no check names it
    assert not any(id_column.search(body) for body in made)
    first, odd = shown["t0"], shown["odd"]
    for i in range(40):  # the same words under each table's own check names
        assert shown[f"t{i}"].defaults == first.defaults
        assert {n.replace(f"_t{i}_", "_t0_"): v for n, v in shown[f"t{i}"].checks.items()} == first.checks
    assert set(first.checks) == {c.name for c in expected_checks(tables["t0"], dialect)}
    audit_named = {"created_by": None, "updated_by": None, "deleted_at": None, "deleted_by": None}  # by checks
    assert first.defaults == {"status": first.defaults["status"], **audit_named} and first.defaults["status"]
    assert odd.defaults == {"state": first.defaults["status"], **audit_named}
    assert {n.replace("odd_state", "t0_status").replace("odd", "t0"): v for n, v in odd.checks.items()} == {
        n: v.replace("status", "state") for n, v in first.checks.items()
    }
