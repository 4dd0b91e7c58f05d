"""Per-dialect rendering facts, MariaDB's refusals, and loading one dialect's migrations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from schemac.dialects import MARIADB, POSTGRESQL, SQLITE
from schemac.model import ColumnType

THREE = 'dialects = ["sqlite", "postgresql", "mariadb"]\n'


@pytest.mark.parametrize(
    ("logical", "sqlite", "postgresql", "mariadb"),
    [
        ("text", "TEXT", "text", "TEXT"),
        ("string(40)", "TEXT", "varchar(40)", "VARCHAR(40)"),
        ("decimal(12,3)", "NUMERIC", "numeric(12,3)", "DECIMAL(12,3)"),
        ("timestamp", "TEXT", "timestamptz", "DATETIME(6)"),
        ("json", "TEXT", "jsonb", "LONGTEXT"),
        ("uuid", "TEXT", "uuid", "CHAR(36)"),
        ("boolean", "INTEGER", "boolean", "BOOLEAN"),
        ("double", "REAL", "double precision", "DOUBLE"),
        ("bytes", "BLOB", "bytea", "LONGBLOB"),
    ],
)
def test_type_maps(logical: str, sqlite: str, postgresql: str, mariadb: str) -> None:
    ctype = ColumnType.parse(logical)
    assert [d.sql_type(ctype) for d in (SQLITE, POSTGRESQL, MARIADB)] == [sqlite, postgresql, mariadb]


def test_mariadb_indexes_text_as_varchar_and_escapes_backslashes() -> None:
    assert MARIADB.sql_type(ColumnType("text"), indexed=True) == "VARCHAR(255)"
    assert POSTGRESQL.sql_type(ColumnType("text"), indexed=True) == "text"
    assert MARIADB.literal("a\\'b") == "'a\\\\''b'"
    assert POSTGRESQL.literal("a\\'b") == "E'a\\\\''b'"
    assert (MARIADB.ident("t"), POSTGRESQL.ident("t")) == ("`t`", '"t"')


REFUSED = """description: Things MariaDB cannot hold.
tables:
  parents:
    description: A parent.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
  items:
    description: An item.
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id: {type: integer, nullable: true, references: parents.id, on_delete: set default}
      status:    {type: text, check: "\\"status\\" <> ''"}
    indexes:
      - columns: [status]
        unique: true
        where: "status = 'live'"
"""


def test_mariadb_refuses_partial_unique_indexes_quoted_names_and_set_default(
    make_project: Callable[..., Path], cli: Callable[..., object]
) -> None:
    project = make_project({"0001_items.yaml": REFUSED}, THREE)
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2  # type: ignore[attr-defined]
    assert outcome.stderr.splitlines() == [  # type: ignore[attr-defined]
        "specs/0001_items.yaml:13:62: SC322 foreign key fk_items_parent_id: 'set default' is not supported on mariadb "
        "(hint: use another action)",
        "specs/0001_items.yaml:14:38: SC321 expression of table 'items' uses a double-quoted name, which is a string "
        "on mariadb (hint: write column names without quotes)",
        "specs/0001_items.yaml:16:9: SC320 partial unique index 'uq_items_status' of table 'items' cannot be "
        "created: there is no CREATE INDEX ... WHERE on mariadb (hint: make the index unique over all rows, or "
        "remove mariadb from dialects)",
    ]
    assert not (project / "migrations").exists()
    (project / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n')
    assert cli("build", "--project", project).returncode == 0  # type: ignore[attr-defined]


KEY_THAT_CHANGES_ITS_COLUMN = """description: Items whose parent may go away.
tables:
  parents:
    description: A parent.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
  items:
    description: An item.
    audit: none
    columns:
      id:        {type: integer, primary_key: true}
      parent_id:
        type: integer
        nullable: true
        references: parents.id
        on_delete: set null
        enum: [1, 2]
        check: "parent_id > 0"
      kind:      {type: text, enum: [a, b]}
    checks:
      - name: kind_needs_parent
        expression: "kind = 'a' OR parent_id IS NOT NULL"
"""


def test_mariadb_refuses_checks_on_columns_its_foreign_key_sets(
    make_project: Callable[..., Path], cli: Callable[..., object]
) -> None:
    project = make_project({"0001_items.yaml": KEY_THAT_CHANGES_ITS_COLUMN}, THREE)
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2  # type: ignore[attr-defined]
    message = (
        "names a column of foreign key fk_items_parent_id, whose on delete set null changes that column: the engine "
        "refuses such a check on mariadb (hint: drop the check or the enum, or use another referential action)"
    )
    assert outcome.stderr.splitlines() == [  # type: ignore[attr-defined]
        f"specs/0001_items.yaml:13:7: SC323 check 'ck_items_parent_id_enum' of table 'items' {message}",
        f"specs/0001_items.yaml:19:16: SC323 check 'ck_items_parent_id' of table 'items' {message}",
        f"specs/0001_items.yaml:23:21: SC323 check 'ck_items_kind_needs_parent' of table 'items' {message}",
    ]
    (project / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n')
    assert cli("build", "--project", project).returncode == 0  # type: ignore[attr-defined]


def mariadb_error_without_the_refusal(
    spec: str,
    make_project: Callable[..., Path],
    database_factory: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    **unrefused: object,
) -> str:
    """What a real MariaDB says to ``spec`` built with the dialect's refusal switched off (``unrefused``: the
    Dialect fields that make it), so a test can show the build refuses only what the engine refuses."""
    import dataclasses

    from schemac import dialects

    monkeypatch.setitem(dialects.DIALECTS, "mariadb", dataclasses.replace(dialects.MARIADB, **unrefused))
    project = make_project({"0001_spec.yaml": spec}, 'dialects = ["mariadb"]\n', name="unrefused")
    schemac.build(project, cache=False)
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, database_factory("mariadb"))
    return str(caught.value)


def test_the_checks_refused_by_sc323_are_the_ones_mariadb_refuses(
    make_project: Callable[..., Path],
    database_factory: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Built without the refusal, the file fails on a real MariaDB with error 1901 (and the key alone does not)."""
    error = mariadb_error_without_the_refusal(
        KEY_THAT_CHANGES_ITS_COLUMN, make_project, database_factory, monkeypatch, check_blocking_actions=frozenset()
    )
    assert "(1901, \"Function or expression 'parent_id' cannot be used in the CHECK clause" in error
    without_checks = KEY_THAT_CHANGES_ITS_COLUMN.replace('        enum: [1, 2]\n        check: "parent_id > 0"\n', "")
    without_checks = without_checks.split("    checks:")[0]
    other = make_project({"0001_items.yaml": without_checks}, 'dialects = ["mariadb"]\n', name="other")
    schemac.build(other, cache=False)
    assert [m.version for m in schemac.apply(other, database_factory("mariadb")).applied] == [1]


def test_load_migrations_reads_one_dialect_directory(make_project: Callable[..., Path]) -> None:
    spec = (
        "description: One table.\ntables:\n  notes:\n    description: A note.\n"
        "    columns:\n      id: {type: uuid, primary_key: true}\n"
    )
    project = make_project({"0001_notes.yaml": spec, "0003_more.yaml": spec.replace("notes", "more")}, THREE)
    schemac.build(project)
    migrations = project / "migrations"
    for dialect, marker in (("sqlite", '"id" TEXT'), ("postgresql", '"id" uuid'), ("mariadb", "`id` CHAR(36)")):
        loaded = schemac.load_migrations(migrations, dialect=dialect)
        assert [(m.version, m.name, m.file) for m in loaded] == [
            (1, "notes", "0001_notes.sql"),
            (3, "more", "0003_more.sql"),
        ]
        manifest = json.loads((migrations / dialect / "manifest.json").read_text())
        assert [m.checksum for m in loaded] == [e["sha256"] for e in manifest["files"]]
        assert all(marker in m.sql for m in loaded)

    edited = migrations / "mariadb" / "0001_notes.sql"
    edited.write_bytes(edited.read_bytes() + b"-- touched\n")
    (migrations / "mariadb" / "0002_extra.sql").write_text("SELECT 1;\n")
    (migrations / "mariadb" / "0003_more.sql").unlink()
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.load_migrations(migrations, dialect="mariadb")
    shown = migrations.as_posix() + "/mariadb"
    assert [(d.file, d.code, d.message.split(":")[0]) for d in caught.value.diagnostics] == [
        (f"{shown}/0001_notes.sql", "SC501", "edited"),
        (f"{shown}/0002_extra.sql", "SC503", "added"),
        (f"{shown}/0003_more.sql", "SC502", "removed"),
    ]
    with pytest.raises(schemac.SchemacError) as wrong:
        schemac.load_migrations(migrations / "postgresql", dialect="sqlite")
    assert [d.code for d in wrong.value.diagnostics] == ["SC509"]


JSON_IN_KEYS = """\
description: Documents whose json body is in an index and a key.
tables:
  docs:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      body: {type: json}
      title: {type: text}
    indexes:
      - columns: [title, body]
  pairs:
    audit: none
    primary_key: [id, body]
    columns:
      id: {type: integer}
      body: {type: json}
"""


def test_a_json_column_in_an_index_or_key_is_refused_on_mariadb(
    make_project: Callable[..., Path], cli: Callable[..., object]
) -> None:
    project = make_project({"0001_docs.yaml": JSON_IN_KEYS}, 'dialects = ["sqlite", "mariadb"]\n')
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2  # type: ignore[attr-defined]
    hint = "(hint: mariadb stores it as LONGTEXT, which has no full-length index: leave the column out of keys and "
    hint += "indexes, or remove mariadb from dialects)"
    assert outcome.stderr.splitlines() == [  # type: ignore[attr-defined]
        "specs/0001_docs.yaml:10:9: SC324 index 'idx_docs_title_body' of table 'docs' holds json column 'body', "
        f"which cannot be indexed in full on mariadb {hint}",
        "specs/0001_docs.yaml:16:7: SC324 the primary key of table 'pairs' holds json column 'body', "
        f"which cannot be indexed in full on mariadb {hint}",
    ]
    assert not (project / "migrations").exists()
    (project / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n')
    assert cli("build", "--project", project).returncode == 0  # type: ignore[attr-defined]


def test_the_indexes_refused_by_sc324_are_the_ones_mariadb_refuses(
    make_project: Callable[..., Path],
    database_factory: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Built without the refusal, the index of json and another column fails on a real MariaDB (error 1071)."""
    error = mariadb_error_without_the_refusal(
        JSON_IN_KEYS.split("  pairs:")[0], make_project, database_factory, monkeypatch, unindexable_types=frozenset()
    )
    assert "(1071, 'Specified key was too long" in error
