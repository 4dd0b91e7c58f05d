"""Hostile text in defaults, enums and expressions is escaped or refused, never executed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from schemac.spec.expressions import control_character, scan_expression

HOSTILE = "x'); DROP TABLE victims; --"
SPEC = """description: Hostile literals.
tables:
  victims:
    columns:
      id: {type: integer, primary_key: true}
  notes:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      body: {type: text, default: "x'); DROP TABLE victims; --"}
      kind: {type: text, enum: ["a'b", "c;d", "e--f", "g/*h", "x'); DROP TABLE victims; --"], default: "c;d"}
      quoted: {type: text, nullable: true, check: "quoted <> 'a;b' AND quoted <> ')--' AND quoted <> '/*'"}
    indexes:
      - columns: [kind]
        where: "body <> 'it''s; -- not a comment )'"
"""


def _database(project: Path) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    for migration in schemac.load_migrations(project / "migrations"):
        con.executescript(migration.sql)
    return con


def test_defaults_and_enum_values_are_escaped_not_executed(make_project: Callable[..., Path]) -> None:
    project = make_project({"0001_hostile.yaml": SPEC})
    schemac.build(project)
    con = _database(project)
    tables = sorted(row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    assert tables == ["notes", "victims"]
    con.execute("INSERT INTO notes (id) VALUES (1)")
    assert con.execute("SELECT body, kind, quoted FROM notes").fetchone() == (HOSTILE, "c;d", None)
    for i, value in enumerate(["a'b", "e--f", "g/*h", HOSTILE], start=2):
        con.execute("INSERT INTO notes (id, kind) VALUES (?, ?)", (i, value))
    with pytest.raises(sqlite3.IntegrityError, match="ck_notes_kind_enum"):
        con.execute("INSERT INTO notes (id, kind) VALUES (9, 'a')")


def test_quotes_semicolons_and_comment_markers_inside_strings_are_kept_as_data(
    make_project: Callable[..., Path],
) -> None:
    project = make_project({"0001_hostile.yaml": SPEC})
    schemac.build(project)
    con = _database(project)
    for value in ("a;b", ")--", "/*"):
        with pytest.raises(sqlite3.IntegrityError, match="ck_notes_quoted"):
            con.execute("INSERT INTO notes (id, quoted) VALUES (10, ?)", (value,))
    con.execute("INSERT INTO notes (id, quoted) VALUES (11, 'fine')")
    index_sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'idx_notes_kind'").fetchone()[0]
    assert index_sql.endswith("WHERE body <> 'it''s; -- not a comment )'")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("a > 0) OR (1 = 1", "has a ')' without its '('"),
        ("(a > 0", "has a '(' without its ')'"),
        ("a > 0; DROP TABLE t", "contains ';': an expression cannot hold a second statement"),
        ("a > 0 -- hidden", "contains an SQL comment marker"),
        ("a /* x */ > 0", "contains an SQL comment marker"),
        ("a > 0 # (\n)", "contains an SQL comment marker"),
        ("a <> $$x$$", "contains '$', which starts a dollar-quoted string in PostgreSQL"),
        ("a <> 'it\\''s'", "contains a backslash, which MariaDB reads as an escape inside strings and SQLite does not"),
        ("a IN (SELECT b FROM t)", "contains a subquery: an expression may use only its own table's columns"),
        ("EXISTS (select 1)", "contains a subquery: an expression may use only its own table's columns"),
        ("a <> 'open", "unterminated ' quote"),
        ('"a', 'unterminated " quote'),
        ("   ", "is empty"),
        ("a <> 'x;y' AND b <> ')' AND c <> '--' AND d <> '/*' AND e <> '#$'", None),
        ("\"odd;name\" > 0 AND `x)` > 0 AND 'it''s' <> ''", None),
        ("selected > 0 AND a_select < 1", None),
    ],
)
def test_scan_expression(expression: str, problem: str | None) -> None:
    assert scan_expression(expression) == problem


@pytest.mark.parametrize(
    ("text", "found"),
    [("plain", None), ("tab\tand\nnewline", None), ("cr\r", "U+000D"), ("nul\x00", "U+0000"), ("c1\x85", "U+0085")],
)
def test_control_character(text: str, found: str | None) -> None:
    assert control_character(text) == found
