"""String literals mean the same whatever the server's settings: PostgreSQL with standard_conforming_strings off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import schemac
from conftest import PG_URL, case_project, run_cli
from schemac.dialects import MARIADB, POSTGRESQL, SQLITE
from schemac.dialects.connections import connect, parse_url

GOLDEN = Path(__file__).resolve().parent / "golden"

# With standard_conforming_strings off, a plain '…' reads \' as a quote: the first default then ends
# early, the DROP runs, and the second default closes the comment and swallows the rest of the table.
PAYLOAD = "\\'); DROP TABLE victim; /*"
CLOSER = "*/ CREATE TABLE swallowed (id integer, --"
ENUM = ["a\\b", "it's", "c:\\new\\table"]
SPEC = """description: Notes whose defaults hold backslashes.
tables:
  notes:
    description: A note.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      body: {type: text, default: '\\''); DROP TABLE victim; /*'}
      tail: {type: text, default: '*/ CREATE TABLE swallowed (id integer, --'}
      kind: {type: text, enum: ['a\\b', "it's", 'c:\\new\\table'], default: 'c:\\new\\table'}
"""


def test_a_literal_without_a_backslash_is_the_same_everywhere_and_one_with_it_is_escaped() -> None:
    assert [d.literal("it's") for d in (SQLITE, POSTGRESQL, MARIADB)] == ["'it''s'"] * 3
    assert [d.literal("a\\'b") for d in (SQLITE, POSTGRESQL, MARIADB)] == ["'a\\''b'", "E'a\\\\''b'", "'a\\\\''b'"]


def _insecure_database(database_factory: Callable[[str], str]) -> str:
    """A new PostgreSQL database whose sessions start with standard_conforming_strings off, holding ``victim``."""
    psycopg = pytest.importorskip("psycopg")
    url = database_factory("postgresql")
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{urlsplit(url).path[1:]}" SET standard_conforming_strings = off')
    with psycopg.connect(url, autocommit=True) as plain:
        assert plain.execute("SHOW standard_conforming_strings").fetchone() == ("off",)
        plain.execute("CREATE TABLE victim (id integer)")
    return url


def _assert_defaults_stored_and_nothing_dropped(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as plain:
        tables = plain.execute("SELECT to_regclass('victim'), to_regclass('swallowed')").fetchone()
        assert tables == ("victim", None)
        plain.execute("INSERT INTO notes (id) VALUES (1)")
        assert plain.execute("SELECT body, tail, kind FROM notes").fetchone() == (PAYLOAD, CLOSER, ENUM[2])
        for i, value in enumerate(ENUM, start=2):  # the enum check accepts exactly these values
            plain.execute("INSERT INTO notes (id, kind) VALUES (%s, %s)", (i, value))
        with pytest.raises(psycopg.errors.CheckViolation):
            plain.execute("INSERT INTO notes (id, kind) VALUES (9, %s)", ("a\\\\b",))


def test_postgresql_literals_read_the_same_with_standard_conforming_strings_off(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_notes.yaml").write_text(SPEC, encoding="utf-8")
    (project / "schemac.toml").write_text('dialects = ["postgresql"]\n', encoding="utf-8")
    schemac.build(project)
    sql = (project / "migrations" / "0001_notes.sql").read_text(encoding="utf-8")
    assert "DEFAULT E'\\\\''); DROP TABLE victim; /*'" in sql
    assert f"DEFAULT '{CLOSER}'" in sql  # no backslash: the plain form, as before

    external = _insecure_database(database_factory)
    import psycopg

    with psycopg.connect(external, autocommit=True) as runner:  # the file as-is, as an external runner sends it
        runner.execute(sql.encode())
    _assert_defaults_stored_and_nothing_dropped(external)

    applied = _insecure_database(database_factory)
    outcome = run_cli("apply", "--db", applied, "--project", project)
    assert (outcome.returncode, outcome.stderr) == (0, "")
    _assert_defaults_stored_and_nothing_dropped(applied)


def test_the_applier_session_has_standard_conforming_strings_on(database_factory: Callable[[str], str]) -> None:
    url = _insecure_database(database_factory)
    database = connect(parse_url(url), 30)
    try:
        assert database.query("SHOW standard_conforming_strings") == [("on",)]
    finally:
        database.close()


def test_the_applier_reads_mariadb_literals_as_written_under_no_backslash_escapes(
    tmp_path: Path, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose sql_mode has NO_BACKSLASH_ESCAPES would keep both backslashes the file doubles."""
    import functools

    pymysql = pytest.importorskip("pymysql")
    project = case_project(GOLDEN / "three_dialects", "mariadb", tmp_path)
    schemac.build(project)
    assert "DEFAULT 'It''s a \\\\ backslash'" in (project / "migrations" / "0001_catalog.sql").read_text()
    url = database_factory("mariadb")
    mode = "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')"
    monkeypatch.setattr(pymysql, "connect", functools.partial(pymysql.connect, init_command=mode))
    schemac.apply(project, url)
    database = connect(parse_url(url), 30)
    try:
        database.execute(
            "INSERT INTO products (id, sku, created_at, created_by, updated_at, updated_by) "
            "VALUES ('6f1c1d2e-0000-4000-8000-000000000001', 'SKU-1', '2026-01-01', 'me', '2026-01-01', 'me')"
        )
        assert database.query("SELECT title FROM products") == [("It's a \\ backslash",)]
    finally:
        database.close()
