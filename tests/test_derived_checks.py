"""Checks derived from columns (enum, boolean, json, string length) come from one place, and renames of
tables and columns leave them, on every engine, as a fresh build of the final shape has them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, findings, opened, run_cli
from schemac.dialects.base import Database

# The first issue-14 reproduction (PostgreSQL): a boolean renamed, itself or with its table.
BOOLEAN = """description: Flags.
tables:
  t:
    audit: none
    columns:
      id: {type: text, primary_key: true}
      active: {type: boolean, default: true}
"""
BOOLEAN_RENAMES = {
    "column": BOOLEAN.replace("active: {", "enabled: {renamed_from: active, "),
    "table": BOOLEAN.replace("  t:\n", "  flags:\n    renamed_from: t\n"),
}
# The second (MariaDB): a json column renamed, itself or with its table.
JSON = BOOLEAN.replace("active: {type: boolean, default: true}", "data: {type: json}")
JSON_RENAMES = {
    "column": JSON.replace("data: {", "data_json: {renamed_from: data, "),
    "table": JSON.replace("  t:\n", "  documents:\n    renamed_from: t\n"),
}


def write_project(root: Path, engine: str, specs: list[str]) -> Path:
    (root / "specs").mkdir(parents=True)
    for number, text in enumerate(specs, 1):
        (root / "specs" / f"{number:04d}_v{number}.yaml").write_text(text, encoding="utf-8")
    (root / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    return root


def fresh_build(spec: str, engine: str, root: Path, url: str) -> dict[str, object]:
    """The catalog of a database built in one version from ``spec`` without its renames."""
    lines = [line for line in spec.splitlines(keepends=True) if "renamed_from:" not in line or "{" in line]
    project = write_project(root, engine, ["".join(lines).replace("renamed_from: ", "description: was ")])
    schemac.build(project)
    schemac.apply(project, url)
    with opened(url) as database:
        return dict(database.tables())


def evolve(root: Path, engine: str, specs: list[str], url: str, rows: Callable[[Database, int], None]) -> Path:
    """Build ``specs`` through the CLI (as a user would), then apply them one by one, rows in between."""
    project = write_project(root, engine, specs)
    built = run_cli("build", "--project", project)
    assert (built.returncode, built.stderr) == (0, "")
    for version in range(1, len(specs) + 1):
        schemac.apply(project, url, to=version)
        with opened(url) as database:
            rows(database, version)
    return project


def no_rows(database: Database, version: int) -> None:
    """Nothing to insert."""


@pytest.mark.parametrize("renamed", ["column", "table"])
def test_renaming_a_boolean_builds_applies_and_verifies_on_postgresql(
    renamed: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """PostgreSQL has a boolean type and derives no check from it: the rename is the whole migration,
    after the lock-safe form's timeouts."""
    url = database_factory("postgresql")
    project = evolve(tmp_path / "evolved", "postgresql", [BOOLEAN, BOOLEAN_RENAMES[renamed]], url, no_rows)
    statement = {
        "column": 'ALTER TABLE "t" RENAME COLUMN "active" TO "enabled";',
        "table": 'ALTER TABLE "t" RENAME TO "flags";\n\nALTER TABLE "flags" RENAME CONSTRAINT "pk_t" TO "pk_flags";',
    }[renamed]
    timeouts = "SET lock_timeout = '5s';\nSET statement_timeout = '1min';\n\n"
    assert (project / "migrations" / "0002_v2.sql").read_text().split("-- Flags.\n\n", 1)[
        1
    ] == timeouts + statement + "\n"
    assert schemac.verify(project, url).differences == ()
    with opened(url) as database:
        evolved = database.tables()
    assert evolved == fresh_build(
        BOOLEAN_RENAMES[renamed], "postgresql", tmp_path / "fresh", database_factory("postgresql")
    )


@pytest.mark.parametrize("renamed", ["column", "table"])
def test_renaming_a_json_column_renames_its_check_on_mariadb(
    renamed: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    url = database_factory("mariadb")
    project = evolve(tmp_path / "evolved", "mariadb", [JSON, JSON_RENAMES[renamed]], url, no_rows)
    assert schemac.verify(project, url).differences == ()
    with opened(url) as database:
        evolved = database.tables()
    table, column = {"column": ("t", "data_json"), "table": ("documents", "data")}[renamed]
    assert evolved[table].checks == {f"ck_{table}_{column}_json": f"CHECK (json_valid(`{column}`))"}
    assert evolved == fresh_build(JSON_RENAMES[renamed], "mariadb", tmp_path / "fresh", database_factory("mariadb"))


# Every kind of derived check, an audit policy and a table check, through a table rename and column
# renames, one renamed column also getting a new enum value and one a new type.
BEFORE = """description: Accounts.
tables:
  accounts:
    columns:
      id: {type: integer, primary_key: true}
      status: {type: text, enum: [open, closed]}
      kind: {type: text, enum: [a, b]}
      active: {type: boolean, default: true}
      payload: {type: json}
      code: {type: "string(8)"}
      grade: {type: "string(20)", enum: [x, y], check: "grade <> 'z'"}
      note: {type: text, nullable: true}
    checks:
      - name: code_not_blank
        expression: "length(code) > 0"
"""
AFTER = """description: Members.
tables:
  members:
    renamed_from: accounts
    columns:
      id: {type: integer, primary_key: true}
      state: {type: text, enum: [open, closed], renamed_from: status}
      sort: {type: text, enum: [a, b, c], renamed_from: kind}
      enabled: {type: boolean, default: true, renamed_from: active}
      payload_json: {type: json, renamed_from: payload}
      code: {type: "string(8)"}
      grade: {type: text, enum: [x, y], check: "grade <> 'z'"}
      remark: {type: text, nullable: true, renamed_from: note}
    checks:
      - name: code_not_blank
        expression: "length(code) > 0"
"""
ROW = (
    "INSERT INTO accounts (id, status, kind, active, payload, code, grade, note, created_at, created_by, "
    "updated_at, updated_by) VALUES (1, 'open', 'b', {true}, '{{\"a\": 1}}', 'c1', 'x', NULL, "
    "'2026-01-01 00:00:00', 'me', '2026-01-01 00:00:00', 'me')"
)


@pytest.mark.parametrize("engine", ENGINES)
def test_renames_leave_every_derived_check_as_a_fresh_build_has_it(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(engine)

    def rows(database: Database, version: int) -> None:
        if version == 1:
            database.execute(ROW.format(true="1" if engine == "sqlite" else "TRUE"))

    project = evolve(tmp_path / "evolved", engine, [BEFORE, AFTER], url, rows)
    assert schemac.verify(project, url).differences == ()
    with opened(url) as database:
        evolved = database.tables()
        kept = database.query("SELECT id, state, sort, enabled, code, grade FROM members")
    assert [(*row[:3], bool(row[3]), *row[4:]) for row in kept] == [(1, "open", "b", True, "c1", "x")]
    assert evolved == fresh_build(AFTER, engine, tmp_path / "fresh", database_factory(engine))
    sql = (project / "migrations" / "0002_v2.sql").read_text()
    if engine == "postgresql":  # a check whose body stays is renamed, not made again (no scan of the rows)
        assert 'ALTER TABLE "members" RENAME CONSTRAINT "ck_accounts_status_enum" TO "ck_members_state_enum";' in sql
        assert 'DROP CONSTRAINT IF EXISTS "ck_accounts_kind_enum"' in sql  # its values change: made again


def test_a_derived_check_name_is_reserved_on_every_engine(tmp_path: Path) -> None:
    """The json check is MariaDB's only, yet its name clashes with a table check wherever the spec is built."""
    spec = JSON + '    checks:\n      - name: data_json\n        expression: "length(data) > 2"\n'
    project = write_project(tmp_path / "project", "sqlite", [spec])
    assert findings(lambda: schemac.build(project)) == [
        "specs/0001_v1.yaml:10:21: SC304 constraint name 'ck_t_data_json' of table 't' is used by both the json "
        "check of column 'data' and a check (hint: rename one of them (a check is named ck_<table>_<name>))"
    ]
